/**
 * Correlation settings. Every field is documented with its unit and default; unknown keys
 * and bad values are rejected up front (ConfigError names the key and the value).
 */
import { ConfigError } from '@roamwatch/core';

export interface CorrelationConfig {
  /**
   * How far out of event-time order a host's events may arrive and still be put back in
   * order (ms). A host's events are held until its newest event time is this much later.
   * Default 2000.
   */
  allowedLatenessMs: number;
  /**
   * Route/address/link/rule events up to this long before a reauth's start are its triggers
   * (ms). charon coalesces roam events for 100 ms (ROAM_DELAY) and reauthenticates a few ms
   * after the roam job runs, so the event that armed the job is ≈100–110 ms before.
   * Default 250.
   */
  attributionWindowMs: number;
  /** How long after the old SA goes down (or before, make-before-break) a new SA of the same connection counts as its replacement (ms). Default 30000. */
  pairWindowMs: number;
  /** After the new IKE_SA is up, how long to wait for its CHILD_SAs before closing the finding (ms). Default 10000. */
  childWaitMs: number;
  /** Width of the `roamwatch_net_changes` count windows (ms). Default 10000. */
  netWindowMs: number;
  /** How long a host's recent log lines are kept as evidence (ms). Default 5000. */
  logRetentionMs: number;
  /** Triggers listed per finding; the rest are counted in `moreTriggers`. Default 10. */
  maxTriggers: number;
  /** Event ids remembered per host to drop re-sent duplicates (≈ 100 bytes each). Default 1024. */
  dedupeIds: number;
  /**
   * How far an event's time may be ahead of its Kafka record's timestamp (ms). An event further
   * in the future (a clock that jumped) is dead-lettered with code `clock-skew` instead of
   * moving its host's event time ahead, which would make every later event of that host late.
   * Records without a timestamp (files, `watch`) are not checked. Default 60000.
   */
  maxFutureSkewMs: number;
  /**
   * Events one host may have waiting for its watermark. A flood (thousands of events a second
   * for `allowedLatenessMs`) would otherwise hold them all in memory; beyond this bound the
   * oldest are released early, in order (counted as `forcedReleases`), so a later event older
   * than them comes out late. Default 20000.
   */
  maxBufferedPerHost: number;
  /**
   * Distinct `peer` tag values of `roamwatch_path` per host (docs/metrics.md). Path verdicts are
   * kept per IKE_SA, keyed by connection and remote address; a host's SAs beyond this bound
   * share the `peer="_overflow"` series (counted in the projection's `pathPeersOverflow`), so
   * that one hub gateway cannot grow InfluxDB's series without limit. Default 1000.
   */
  pathPeersPerHost: number;
}

export const DEFAULT_CORRELATION: Readonly<CorrelationConfig> = Object.freeze({
  allowedLatenessMs: 2000,
  attributionWindowMs: 250,
  pairWindowMs: 30_000,
  childWaitMs: 10_000,
  netWindowMs: 10_000,
  logRetentionMs: 5000,
  maxTriggers: 10,
  dedupeIds: 1024,
  maxFutureSkewMs: 60_000,
  maxBufferedPerHost: 20_000,
  pathPeersPerHost: 1000,
});

/** Fills defaults and validates; throws ConfigError naming the bad key. */
export function correlationConfig(input: Partial<Record<keyof CorrelationConfig, unknown>> = {}): CorrelationConfig {
  const out: CorrelationConfig = { ...DEFAULT_CORRELATION };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_CORRELATION)) throw new ConfigError(key, `unknown key (known: ${Object.keys(DEFAULT_CORRELATION).join(', ')})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ConfigError(key, `expected a non-negative number, got ${JSON.stringify(value)}`);
    }
    if ((key === 'netWindowMs' || key === 'maxTriggers' || key === 'dedupeIds' || key === 'maxBufferedPerHost' || key === 'pathPeersPerHost') && value < 1) {
      throw new ConfigError(key, `must be at least 1, got ${value}`);
    }
    (out as unknown as Record<string, number>)[key] = value;
  }
  return out;
}
