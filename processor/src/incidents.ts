/**
 * incidents: spurious reauths on many gateways that share one cause, grouped into one incident.
 *
 *   reauth findings (any order across hosts) ─▶ IncidentGrouper ─▶ incident events (opened, updated, closed)
 *   ticks (processing time, from the edge)   ─┘                 └▶ roamwatch_incident, roamwatch_incident_host points
 *
 * One upstream routing change (a BGP announcement or withdrawal) reaches every gateway within
 * milliseconds, and every gateway whose IKE address is not a route's `src` reauthenticates
 * ≈100 ms later (charon's ROAM_DELAY). Each such reauth is a finding of its own (correlate.ts);
 * here they become one incident:
 *
 * - **Which findings**: reauth findings classified `spurious` (the others have a cause of their
 *   own: a moved address, a schedule, an operator).
 * - **The cause** of one reauth: its first route trigger, else its first trigger, as
 *   `kind op target` (`route added 203.0.113.0/24`); a reauth without triggers has the cause
 *   `none` (a burst across the fleet with no routing event seen).
 * - **Grouping**: a finding joins the open incident with the same cause when it lies within
 *   `quietPeriodMs` of that incident's reauths; otherwise it opens a new one.
 * - **Lifecycle**: `opened` with the first reauth; `updated` when more reauths joined and the
 *   event time moved `updateIntervalMs` past the last report; `closed` once the watermark
 *   passes the last reauth + `quietPeriodMs`. The watermark is the newest time seen (finding
 *   event time, or a tick's processing time) minus `allowedLatenessMs`: findings of other
 *   hosts come from other processor instances through the findings topic and may arrive that
 *   much late. Replays send no ticks: `flush` closes what is open.
 * - **Determinism**: no clock and no randomness inside. The id is a hash of the cause and the
 *   id of the incident's first finding; the closed event's content depends on the set of
 *   findings only (counts, sums, sorted lists; times from events). The same findings in the
 *   same order give the same events and points, byte for byte.
 * - **Duplicates**: a finding id seen before (at-least-once delivery) is ignored; the last
 *   `dedupeIds` ids are remembered.
 *
 * Points carry the incident's anchor time (its first finding's, fixed for its lifetime), so each
 * report overwrites the previous one in InfluxDB (same series, same time): the measurement
 * always holds the latest state.
 */
import { createHash } from 'node:crypto';
import { ConfigError, formatUs } from '@roamwatch/core';
import type { OperatorFunction } from 'rxjs';
import type { Finding, MetricPoint, ReauthFinding, TickInput, Trigger } from './types.js';
import { nsOf } from './points.js';
import type { Stage, Emit } from './stage.js';
import { stageOperator } from './stage.js';

export interface IncidentConfig {
  /** An incident closes when no reauth of its cause came for this long (event time, ms). Default 30000. */
  quietPeriodMs: number;
  /** How late a finding may arrive behind the newest time seen and still join its incident (ms). Default 10000. */
  allowedLatenessMs: number;
  /** Event time between two `updated` reports of one incident while reauths keep joining (ms). Default 5000. */
  updateIntervalMs: number;
  /** Finding ids remembered to drop duplicates. Default 100000. */
  dedupeIds: number;
}

export const DEFAULT_INCIDENTS: Readonly<IncidentConfig> = Object.freeze({
  quietPeriodMs: 30_000,
  allowedLatenessMs: 10_000,
  updateIntervalMs: 5000,
  dedupeIds: 100_000,
});

/** Fills defaults and validates; throws ConfigError naming the bad key. */
export function incidentConfig(input: Partial<Record<keyof IncidentConfig, unknown>> = {}): IncidentConfig {
  const out: IncidentConfig = { ...DEFAULT_INCIDENTS };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_INCIDENTS)) throw new ConfigError(key, `unknown key (known: ${Object.keys(DEFAULT_INCIDENTS).join(', ')})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(key, `expected a non-negative number, got ${JSON.stringify(value)}`);
    if ((key === 'quietPeriodMs' || key === 'dedupeIds') && value < 1) throw new ConfigError(key, `must be at least 1, got ${value}`);
    (out as unknown as Record<string, number>)[key] = value;
  }
  return out;
}

/** The common trigger of an incident. */
export interface IncidentCause {
  /** `route added 203.0.113.0/24`, or `none`: the grouping key. */
  key: string;
  kind: Trigger['kind'] | 'none';
  op: string | null;
  /** The prefix (routes), address, link or rule that changed. */
  target: string | null;
  /** The first reauth's trigger in `ip` words (one gateway's view of the change). */
  summary: string | null;
}

/** One affected gateway. */
export interface IncidentGateway {
  host: string;
  /** Connections that reauthenticated, sorted. */
  conns: string[];
  reauths: number;
  /** Sum of the reauths' tunnel downtime (ms); reauths with unknown downtime add nothing. */
  downtimeMs: number;
  /** The fix that would have prevented it (the path verdict's best fix), when the agent reported one. */
  fix: string | null;
  firstReauth: string;
  lastReauth: string;
}

export interface Incident {
  type: 'incident';
  /** `inc-` + 16 hex digits: hash of the cause and the first finding's id. */
  id: string;
  state: 'opened' | 'updated' | 'closed';
  /** Reports of this incident so far, 1 for `opened`. */
  revision: number;
  cause: IncidentCause;
  /**
   * Time of the incident's points (µs): the time of the finding that opened it, fixed for the
   * incident's lifetime (a finding from another host that arrives later may be earlier than
   * that, and moves `start`, not the points), so every report overwrites the same point.
   */
  anchorUs: number;
  /** First and last reauth (ISO, µs). */
  start: string;
  startUs: number;
  lastReauth: string;
  lastReauthUs: number;
  /** Closed events: last reauth + quiet period (event time). */
  closedAt: string | null;
  closedAtUs: number | null;
  hosts: number;
  connections: number;
  reauths: number;
  downtimeMs: number;
  /** Reauths whose downtime was not observed. */
  downtimeUnknown: number;
  /** Every affected gateway, sorted by host. */
  gateways: IncidentGateway[];
}

export type IncidentInput = { type: 'finding'; finding: Finding } | TickInput;
export type IncidentOutput = { type: 'incident'; incident: Incident } | { type: 'point'; point: MetricPoint };

interface GatewayState {
  conns: Set<string>;
  reauths: number;
  downtimeMs: number;
  fix: string | null;
  firstUs: number;
  lastUs: number;
}

interface OpenIncident {
  id: string;
  anchorUs: number;
  /** The common cause; its summary (one gateway's wording of it) is that of the earliest finding, see `causeFrom`. */
  cause: IncidentCause;
  /** The finding whose trigger summary the cause shows: the earliest by (event time, host, id), whatever the arrival order. */
  causeFrom: { timeUs: number; host: string; id: string };
  firstUs: number;
  lastUs: number;
  revision: number;
  reportedAtUs: number;
  reauths: number;
  downtimeMs: number;
  downtimeUnknown: number;
  gateways: Map<string, GatewayState>;
  /** Hosts changed since the last report (their roamwatch_incident_host points are written again). */
  dirty: Set<string>;
  changed: boolean;
}

export interface IncidentStats {
  findings: number;
  duplicates: number;
  /** Findings that are not spurious reauths (passed over). */
  ignored: number;
  opened: number;
  closed: number;
  open: number;
}

/** The cause of one reauth: its first route trigger, else its first trigger. */
export function reauthCause(f: ReauthFinding): IncidentCause {
  const t = f.triggers.find((x) => x.kind === 'route') ?? f.triggers[0];
  if (!t) return { key: 'none', kind: 'none', op: null, target: null, summary: null };
  const target = t.target ?? null;
  const op = t.op ?? null;
  // Findings written before triggers carried op/target group on their summary.
  const key = target !== null && op !== null ? `${t.kind} ${op} ${target}` : t.summary;
  return { key, kind: t.kind, op, target, summary: t.summary };
}

export function incidentId(causeKey: string, firstFindingId: string): string {
  return `inc-${createHash('sha256').update(`${causeKey}\n${firstFindingId}`).digest('hex').slice(0, 16)}`;
}

export class IncidentGrouper implements Stage<IncidentInput, IncidentOutput> {
  readonly config: IncidentConfig;
  readonly stats: IncidentStats = { findings: 0, duplicates: 0, ignored: 0, opened: 0, closed: 0, open: 0 };
  private readonly open = new Map<string, OpenIncident[]>();
  private readonly seen = new Set<string>();
  private maxUs = 0;

  constructor(config: Partial<IncidentConfig> = {}) {
    this.config = incidentConfig(config);
  }

  push(input: IncidentInput, emit: Emit<IncidentOutput>): void {
    if (input.type === 'tick') {
      this.advance(input.nowUs, emit);
      return;
    }
    const f = input.finding;
    this.stats.findings += 1;
    if (f.type !== 'reauth' || f.classification !== 'spurious') {
      this.stats.ignored += 1;
      return;
    }
    if (this.seen.has(f.id)) {
      this.stats.duplicates += 1;
      return;
    }
    this.remember(f.id);
    const cause = reauthCause(f);
    const quietUs = this.config.quietPeriodMs * 1000;
    const list = this.open.get(cause.key) ?? [];
    let inc = list.find((i) => f.timeUs <= i.lastUs + quietUs && f.timeUs >= i.firstUs - quietUs);
    if (!inc) {
      inc = {
        id: incidentId(cause.key, f.id),
        anchorUs: f.timeUs,
        cause,
        causeFrom: { timeUs: f.timeUs, host: f.host, id: f.id },
        firstUs: f.timeUs,
        lastUs: f.timeUs,
        revision: 0,
        reportedAtUs: f.timeUs,
        reauths: 0,
        downtimeMs: 0,
        downtimeUnknown: 0,
        gateways: new Map(),
        dirty: new Set(),
        changed: true,
      };
      list.push(inc);
      this.open.set(cause.key, list);
      this.stats.opened += 1;
      this.stats.open += 1;
    }
    // The summary names one gateway's route (its next hop, its device): take the earliest
    // finding's, so that a replay (findings in event-time order) shows the same as the live run.
    const c = inc.causeFrom;
    if (f.timeUs < c.timeUs || (f.timeUs === c.timeUs && (f.host < c.host || (f.host === c.host && f.id < c.id)))) {
      inc.cause = cause;
      inc.causeFrom = { timeUs: f.timeUs, host: f.host, id: f.id };
    }
    this.add(inc, f);
    if (inc.revision === 0) this.report(inc, 'opened', emit);
    else if (f.timeUs - inc.reportedAtUs >= this.config.updateIntervalMs * 1000) this.report(inc, 'updated', emit);
    this.advance(f.timeUs, emit);
  }

  /** End of input (replays): close everything still open, in start order. */
  flush(emit: Emit<IncidentOutput>): void {
    for (const inc of this.all()) this.close(inc, emit);
    this.open.clear();
  }

  /** Event time of the first finding of every open incident (the edge keeps their records uncommitted). */
  openSince(): number | undefined {
    let min: number | undefined;
    for (const inc of this.all()) if (min === undefined || inc.firstUs < min) min = inc.firstUs;
    return min;
  }

  private all(): OpenIncident[] {
    return [...this.open.values()].flat().sort((a, b) => a.firstUs - b.firstUs || (a.id < b.id ? -1 : 1));
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > this.config.dedupeIds) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private add(inc: OpenIncident, f: ReauthFinding): void {
    let g = inc.gateways.get(f.host);
    if (!g) {
      g = { conns: new Set(), reauths: 0, downtimeMs: 0, fix: null, firstUs: f.timeUs, lastUs: f.timeUs };
      inc.gateways.set(f.host, g);
    }
    g.conns.add(f.conn);
    g.reauths += 1;
    if (f.downtimeMs !== null) {
      g.downtimeMs += f.downtimeMs;
      inc.downtimeMs += f.downtimeMs;
    } else inc.downtimeUnknown += 1;
    // the fix of the latest reauth in event time wins (the newest verdict the agent sent)
    if (f.fix && f.timeUs >= g.lastUs) g.fix = f.fix.command;
    else if (f.fix && g.fix === null) g.fix = f.fix.command;
    g.firstUs = Math.min(g.firstUs, f.timeUs);
    g.lastUs = Math.max(g.lastUs, f.timeUs);
    inc.firstUs = Math.min(inc.firstUs, f.timeUs);
    inc.lastUs = Math.max(inc.lastUs, f.timeUs);
    inc.reauths += 1;
    inc.dirty.add(f.host);
    inc.changed = true;
  }

  private advance(nowUs: number, emit: Emit<IncidentOutput>): void {
    if (nowUs > this.maxUs) this.maxUs = nowUs;
    const watermark = this.maxUs - this.config.allowedLatenessMs * 1000;
    const quietUs = this.config.quietPeriodMs * 1000;
    const due = this.all().filter((i) => i.lastUs + quietUs <= watermark);
    for (const inc of due) {
      this.close(inc, emit);
      const list = this.open.get(inc.cause.key)!;
      list.splice(list.indexOf(inc), 1);
      if (!list.length) this.open.delete(inc.cause.key);
    }
  }

  private close(inc: OpenIncident, emit: Emit<IncidentOutput>): void {
    inc.changed = true;
    this.report(inc, 'closed', emit);
    this.stats.closed += 1;
    this.stats.open -= 1;
  }

  private report(inc: OpenIncident, state: Incident['state'], emit: Emit<IncidentOutput>): void {
    if (!inc.changed) return;
    inc.changed = false;
    inc.revision += 1;
    inc.reportedAtUs = inc.lastUs;
    const incident = snapshot(inc, state, this.config.quietPeriodMs);
    const dirty = inc.dirty;
    inc.dirty = new Set();
    for (const g of incident.gateways) if (dirty.has(g.host)) emit({ type: 'point', point: gatewayPoint(incident, g) });
    emit({ type: 'point', point: incidentPoint(incident) });
    emit({ type: 'incident', incident });
  }
}

function snapshot(inc: OpenIncident, state: Incident['state'], quietPeriodMs: number): Incident {
  const gateways: IncidentGateway[] = [...inc.gateways.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([host, g]) => ({
      host,
      conns: [...g.conns].sort(),
      reauths: g.reauths,
      downtimeMs: round3(g.downtimeMs),
      fix: g.fix,
      firstReauth: formatUs(g.firstUs),
      lastReauth: formatUs(g.lastUs),
    }));
  const closedAtUs = state === 'closed' ? inc.lastUs + quietPeriodMs * 1000 : null;
  return {
    type: 'incident',
    id: inc.id,
    state,
    revision: inc.revision,
    cause: inc.cause,
    anchorUs: inc.anchorUs,
    start: formatUs(inc.firstUs),
    startUs: inc.firstUs,
    lastReauth: formatUs(inc.lastUs),
    lastReauthUs: inc.lastUs,
    closedAt: closedAtUs === null ? null : formatUs(closedAtUs),
    closedAtUs,
    hosts: gateways.length,
    connections: gateways.reduce((n, g) => n + g.conns.length, 0),
    reauths: inc.reauths,
    downtimeMs: round3(inc.downtimeMs),
    downtimeUnknown: inc.downtimeUnknown,
    gateways,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** roamwatch_incident: the incident's latest state, at its anchor time (each report overwrites the last). */
export function incidentPoint(i: Incident): MetricPoint {
  const strings: Record<string, string> = { state: i.state, cause: i.cause.key, start: i.start, last_reauth: i.lastReauth };
  if (i.cause.target !== null) strings.trigger_target = i.cause.target;
  if (i.cause.op !== null) strings.trigger_op = i.cause.op;
  if (i.cause.summary !== null) strings.trigger = i.cause.summary;
  if (i.closedAt !== null) strings.closed_at = i.closedAt;
  return {
    measurement: 'roamwatch_incident',
    tags: { incident_id: i.id, trigger_kind: i.cause.kind },
    ints: { hosts: i.hosts, connections: i.connections, reauths: i.reauths, downtime_unknown: i.downtimeUnknown, open: i.state === 'closed' ? 0 : 1, revision: i.revision },
    floats: { downtime_ms: i.downtimeMs, duration_ms: round3(((i.closedAtUs ?? i.lastReauthUs) - i.startUs) / 1000) },
    strings,
    timeNs: nsOf(i.anchorUs),
  };
}

/** roamwatch_incident_host: one affected gateway of an incident, at the incident's anchor time. */
export function gatewayPoint(i: Incident, g: IncidentGateway): MetricPoint {
  return {
    measurement: 'roamwatch_incident_host',
    tags: { incident_id: i.id, host: g.host },
    ints: { reauths: g.reauths, connections: g.conns.length },
    floats: { downtime_ms: g.downtimeMs },
    strings: { conns: g.conns.join(','), fix: g.fix ?? '', cause: i.cause.key, first_reauth: g.firstReauth, last_reauth: g.lastReauth },
    timeNs: nsOf(i.anchorUs),
  };
}

/** The grouper as an RxJS operator (one instance per subscription); flushes on completion by default. */
export function groupIncidents(config: Partial<IncidentConfig> & { flushOnComplete?: boolean } = {}): OperatorFunction<IncidentInput, IncidentOutput> {
  const { flushOnComplete = true, ...cfg } = config;
  const c = incidentConfig(cfg);
  return stageOperator(() => new IncidentGrouper(c), { flushOnComplete });
}

/** An incident in a few lines, for terminals (`roamwatch incidents show`, `processor --print-findings`). */
export function formatIncident(i: Incident, { gateways = true }: { gateways?: boolean } = {}): string {
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
  const lines = [
    `${i.id} ${i.state.toUpperCase()} ${i.start}: ${i.hosts} gateway${i.hosts === 1 ? '' : 's'}, ${i.connections} connection${i.connections === 1 ? '' : 's'}, ${i.reauths} reauth${i.reauths === 1 ? '' : 's'}, tunnel downtime ${ms(i.downtimeMs)}${i.downtimeUnknown ? ` (+${i.downtimeUnknown} unknown)` : ''}`,
    `    cause: ${i.cause.key === 'none' ? 'no routing event seen (a burst of spurious reauths)' : i.cause.key}${i.cause.summary ? ` (${i.cause.summary})` : ''}`,
    `    last reauth ${i.lastReauth}${i.closedAt ? `, closed ${i.closedAt}` : ''}`,
  ];
  if (gateways) {
    for (const g of i.gateways) {
      lines.push(`    ${g.host}: ${g.reauths} reauth${g.reauths === 1 ? '' : 's'} (${g.conns.join(', ')}), downtime ${ms(g.downtimeMs)}${g.fix ? `; fix: ${g.fix}` : ''}`);
    }
  }
  return lines.join('\n');
}
