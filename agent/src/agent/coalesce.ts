/**
 * Storm coalescing at the source: bounded volume per gateway in a routing storm.
 *
 * A gateway carrying a full BGP table that loses its session changes ≈1M routes in seconds; one
 * event per change would cost the agent CPU and the Kafka partition it shares with other
 * gateways ≈2M records. Correlation needs to know *that* routes changed, when, how many, and in
 * which tables, not every prefix. So, past `thresholdPerS` route changes within one second:
 *
 *   - route.added / route.removed / route.replaced are no longer emitted one by one; they are
 *     counted (exactly, per table and family) into a `route.summary`;
 *   - a summary is emitted every `summaryIntervalMs` while the storm lasts, and just before any
 *     other event (a VICI log line, an address change): the stream stays in time order and a
 *     reauth inside the storm has the storm before it, in its attribution window;
 *   - when a summary interval passes with fewer than `thresholdPerS` changes a second, the storm
 *     is over: a last summary with `final: true`, and individual events resume.
 *
 * Routes towards an IKE peer are never coalesced (PeerRoutes below): whether the route to the
 * peer went away decides between a legitimate and a spurious reauth, so those changes stay
 * individual events even in a storm.
 *
 * Below the threshold nothing changes: the first `thresholdPerS` changes of any second are
 * always emitted one by one, so a burst that is not a storm is never summarized. Addresses,
 * links and rules are never coalesced (they are few, and the classification reads them).
 *
 * Pure logic: times come in as arguments (µs), no timers, no I/O; the composition
 * (sources.ts) calls `offer` for each route change, `take` before other events and `tick`
 * every `summaryIntervalMs`.
 */
import type { RoamwatchEvent, Route, RouteSummary } from '@roamwatch/core';
import { formatIp, parseIp } from '../path/ip.js';

export interface CoalesceOptions {
  /** Route changes per second beyond which they are coalesced. */
  thresholdPerS: number;
  /** While a storm lasts, one summary per this interval (ms); also the storm's end test. */
  summaryIntervalMs: number;
  /** Changes listed in each summary as examples. */
  examples: number;
}

export type RouteChangeKind = 'route.added' | 'route.removed' | 'route.replaced';

const OPS = { 'route.added': 'added', 'route.removed': 'removed', 'route.replaced': 'replaced' } as const;

/** Distinct (family, table) pairs one summary counts at most; beyond, the caller takes it early. */
export const MAX_SUMMARY_TABLES = 1024;

interface TableCount {
  family: 4 | 6;
  table: number;
  added: number;
  removed: number;
  replaced: number;
}

export interface CoalesceStats {
  storms: number;
  summaries: number;
  /** Route changes counted into summaries instead of being emitted. */
  coalesced: number;
}

export class StormCoalescer {
  private readonly thresholdPerS: number;
  private readonly intervalUs: number;
  private readonly maxExamples: number;
  /** Rate window (below the threshold): start and changes since. */
  private windowStartUs = 0;
  private windowCount = 0;
  /** The storm in progress, if any. */
  private storm: { startUs: number; part: number } | undefined;
  private lastTickUs = 0;
  private sinceTick = 0;
  /** The summary being filled. */
  /** By (family, table): the table id for IPv4, −1 − table for IPv6. */
  private pending = new Map<number, TableCount>();
  private pendingChanges = 0;
  private firstUs = 0;
  private lastUs = 0;
  private examples: RouteSummary['examples'] = [];
  readonly stats: CoalesceStats = { storms: 0, summaries: 0, coalesced: 0 };

  constructor({ thresholdPerS, summaryIntervalMs, examples }: CoalesceOptions) {
    this.thresholdPerS = thresholdPerS;
    this.intervalUs = summaryIntervalMs * 1000;
    this.maxExamples = examples;
  }

  /** A storm is being coalesced. */
  get active(): boolean {
    return this.storm !== undefined;
  }

  /** The pending summary counts MAX_SUMMARY_TABLES tables: take it now. */
  get full(): boolean {
    return this.pending.size >= MAX_SUMMARY_TABLES;
  }

  /**
   * A route change at `nowUs` (its family, table and destination; `route` gives the route itself,
   * called only when the summary lists it as an example). Returns true when it was counted into
   * the storm's summary (the caller does not emit it), false when it is to be emitted as usual.
   */
  offer(kind: RouteChangeKind, family: 4 | 6, table: number, route: Route | (() => Route), nowUs: number): boolean {
    if (!this.storm) {
      if (nowUs - this.windowStartUs >= 1_000_000) {
        this.windowStartUs = nowUs;
        this.windowCount = 0;
      }
      this.windowCount += 1;
      if (this.windowCount <= this.thresholdPerS) return false;
      this.storm = { startUs: nowUs, part: 0 };
      this.stats.storms += 1;
      this.lastTickUs = nowUs;
      this.sinceTick = 0;
    }
    this.sinceTick += 1;
    this.count(OPS[kind], family, table, route, nowUs);
    return true;
  }

  /**
   * The summary of what was counted since the last one, if anything was (the storm goes on).
   * Called before any other event is emitted, and when `full`.
   */
  take(digest?: RouteSummary['digest']): RouteSummary | undefined {
    if (!this.storm || this.pendingChanges === 0) return undefined;
    return this.summary(false, this.lastUs, digest);
  }

  /**
   * Every `summaryIntervalMs`: while the rate stays at or above the threshold, the summary of
   * the interval (if it counted anything); once it falls below, the storm's final summary.
   */
  tick(nowUs: number, digest?: RouteSummary['digest']): RouteSummary | undefined {
    if (!this.storm) return undefined;
    const elapsedUs = nowUs - this.lastTickUs;
    if (elapsedUs < this.intervalUs) return undefined;
    const ratePerS = (this.sinceTick * 1e6) / elapsedUs;
    this.lastTickUs = nowUs;
    this.sinceTick = 0;
    if (ratePerS >= this.thresholdPerS) return this.pendingChanges > 0 ? this.summary(false, this.lastUs, digest) : undefined;
    const last = this.summary(true, nowUs, digest);
    this.storm = undefined;
    this.windowStartUs = nowUs;
    this.windowCount = 0;
    return last;
  }

  /** The agent stops: the storm's final summary, if a storm is in progress. */
  finish(nowUs: number, digest?: RouteSummary['digest']): RouteSummary | undefined {
    if (!this.storm) return undefined;
    const last = this.summary(true, nowUs, digest);
    this.storm = undefined;
    return last;
  }

  private count(op: 'added' | 'removed' | 'replaced', family: 4 | 6, table: number, route: Route | (() => Route), nowUs: number): void {
    const key = family === 4 ? table : -1 - table;
    let c = this.pending.get(key);
    if (!c) {
      c = { family, table, added: 0, removed: 0, replaced: 0 };
      this.pending.set(key, c);
    }
    c[op] += 1;
    if (this.pendingChanges === 0) this.firstUs = nowUs;
    this.lastUs = nowUs;
    this.pendingChanges += 1;
    this.stats.coalesced += 1;
    if (this.examples.length < this.maxExamples) this.examples.push({ op, route: typeof route === 'function' ? route() : route });
  }

  private summary(final: boolean, emptyUs: number, digest: RouteSummary['digest'] | undefined): RouteSummary {
    const storm = this.storm!;
    storm.part += 1;
    const counted = this.pendingChanges > 0;
    const out: RouteSummary = {
      stormStartUs: storm.startUs,
      part: storm.part,
      firstUs: counted ? this.firstUs : emptyUs,
      lastUs: counted ? this.lastUs : emptyUs,
      final,
      changes: this.pendingChanges,
      tables: [...this.pending.values()].sort((a, b) => a.family - b.family || a.table - b.table),
      examples: this.examples,
      ...(digest ? { digest } : {}),
    };
    this.pending = new Map<number, TableCount>();
    this.pendingChanges = 0;
    this.examples = [];
    this.stats.summaries += 1;
    return out;
  }
}

/**
 * The route prefixes that cover the remote address of a current IKE_SA (every prefix length,
 * /0 included, in the canonical `addr/len` text the route events use), kept from the stamped
 * VICI events: a route change whose `dst` is one of them is never coalesced. One Set lookup per
 * route change; the Set is rebuilt only after the SAs changed.
 */
export class PeerRoutes {
  private readonly remotes = new Map<string, string>();
  private prefixes: Set<string> | undefined = new Set();

  observe(ev: RoamwatchEvent): void {
    switch (ev.kind) {
      case 'vici.sa-snapshot':
        this.remotes.clear();
        for (const sa of ev.payload.ikeSas) if (sa.remoteHost) this.remotes.set(sa.uniqueId, sa.remoteHost);
        break;
      case 'vici.ike-updown':
        if (ev.payload.up && ev.payload.ikeSa.remoteHost) this.remotes.set(ev.payload.ikeSa.uniqueId, ev.payload.ikeSa.remoteHost);
        else if (!ev.payload.up) this.remotes.delete(ev.payload.ikeSa.uniqueId);
        break;
      case 'vici.ike-rekey':
        this.remotes.delete(ev.payload.old.uniqueId);
        if (ev.payload.new.remoteHost) this.remotes.set(ev.payload.new.uniqueId, ev.payload.new.remoteHost);
        break;
      case 'vici.ike-update':
        if (ev.payload.newRemoteHost) this.remotes.set(ev.payload.ikeSa.uniqueId, ev.payload.newRemoteHost);
        break;
      default:
        return;
    }
    this.prefixes = undefined;
  }

  /** A route with this destination (`addr/len`) leads towards a current IKE peer. */
  has(dst: string): boolean {
    if (this.remotes.size === 0) return false;
    if (!this.prefixes) {
      this.prefixes = new Set();
      for (const remote of new Set(this.remotes.values())) for (const p of coveringPrefixes(remote)) this.prefixes.add(p);
    }
    return this.prefixes.has(dst);
  }
}

/** Every prefix that contains `addr`, from /0 to the host prefix, as canonical `addr/len` text. */
export function coveringPrefixes(addr: string): string[] {
  const a = parseIp(addr);
  if (!a) return [];
  const bits = a.bytes.length * 8;
  const out: string[] = [];
  for (let len = 0; len <= bits; len++) {
    const b = new Uint8Array(a.bytes.length);
    for (let i = 0; i < b.length; i++) {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      b[i] = (a.bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
    }
    out.push(`${formatIp({ family: a.family, bytes: b })}/${len}`);
  }
  return out;
}
