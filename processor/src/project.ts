/**
 * project: the metrics projection. Turns what the correlate stage passes on (applied events,
 * findings, the hosts' event-time clocks) into the points of docs/metrics.md:
 *
 *   vici.ike-updown            → roamwatch_sa
 *   vici.ike-rekey/child-rekey → roamwatch_rekey
 *   path.verdict               → roamwatch_path, one series per IKE_SA (tags conn + peer, see
 *                                PathSeries) (+ roamwatch_remediation on at-risk → valid)
 *   vici.ike-updown down       → roamwatch_path `gone` for the SA that held its series
 *   agent.status               → roamwatch_agent
 *   route/address/link/rule    → roamwatch_net_changes (counts per `netWindowMs` window,
 *                                written when the host's clock passes the window's end)
 *   reauth finding             → roamwatch_reauth (just before the finding itself)
 *   at-risk finding            → roamwatch_path_change (into or out of at risk: "fixed since")
 *
 * Pure and synchronous like the tracker: points carry event time only, so a replay writes the
 * same points. Everything else (findings, dead letters, releases) passes through unchanged and
 * in order, so a release still follows every point of the records it releases.
 */
import type { RoamwatchEvent } from '@roamwatch/core';
import type { CorrelationConfig } from './config.js';
import { correlationConfig } from './config.js';
import type { CorrelatedItem } from './correlate.js';
import type { Stage, Emit } from './stage.js';
import type { PipelineOutput, MetricPoint, ReauthFinding, AtRiskFinding } from './types.js';
import { netKind } from './net.js';
import { nsOf } from './points.js';
import { bestFix } from './reauth-tracker.js';

export interface ProjectionStats {
  /** Points emitted. */
  points: number;
  /** Routing events whose count window had already been written (not amended). */
  lateNetChanges: number;
  /** Path verdicts written to `peer="_overflow"` because their host had `pathPeersPerHost` peers. */
  pathPeersOverflow: number;
}

/** The `peer` tag of IKE_SAs without a remote address, and of those beyond a host's bound. */
export const PEER_UNKNOWN = '_unknown';
export const PEER_OVERFLOW = '_overflow';

/**
 * The `roamwatch_path` series of one host: one per IKE_SA, keyed by connection and remote
 * address (`peer`), because the unique id changes with every reauth while a road warrior's or
 * a site's address stays, and a hub connection holds hundreds of SAs that must not collapse
 * into one series. Bounded: at most `maxPeers` distinct peers per host, the rest share
 * PEER_OVERFLOW. Remembers which unique id last wrote each series, so that the down event of
 * an SA that is gone for good writes `verdict=gone, at_risk=0` (its last verdict would otherwise
 * count as at risk for as long as the dashboards look back), while the down event of the old SA
 * of a make-before-break reauth, whose series the new SA has already taken over, writes nothing.
 */
class PathSeries {
  /** `conn\0peer` → unique id of the IKE_SA whose verdict the series holds now. */
  private readonly owners = new Map<string, string>();
  private readonly peers = new Set<string>();
  constructor(private readonly maxPeers: number) {}

  /** The peer tag for a verdict, and whether it had to go to the overflow series. */
  peerOf(remote: string | undefined): { peer: string; overflow: boolean } {
    const peer = remote ?? PEER_UNKNOWN;
    if (this.peers.has(peer)) return { peer, overflow: false };
    if (this.peers.size >= this.maxPeers) return { peer: PEER_OVERFLOW, overflow: true };
    this.peers.add(peer);
    return { peer, overflow: false };
  }

  own(conn: string, peer: string, uniqueId: string): void {
    this.owners.set(`${conn}\0${peer}`, uniqueId);
  }

  /** On an IKE_SA's down event: the peer of the series it still holds (then released), if any. */
  release(conn: string, remote: string | undefined, uniqueId: string): string | undefined {
    for (const peer of [remote ?? PEER_UNKNOWN, PEER_OVERFLOW]) {
      const key = `${conn}\0${peer}`;
      if (this.owners.get(key) !== uniqueId) continue;
      this.owners.delete(key);
      return peer;
    }
    return undefined;
  }
}

/**
 * How long after its event time a routing event's record must stay uncommitted for the
 * projection: until its count window closes (a restart re-reading from a later offset would
 * write the window without it).
 */
export function netWindowRetentionUs(timeUs: number, netWindowMs: number): number {
  const windowUs = netWindowMs * 1000;
  return Math.floor(timeUs / windowUs) * windowUs + windowUs - timeUs;
}

interface ProjectedHost {
  host: string;
  clockUs: number;
  windows: Map<number, Map<string, number>>;
  /** Created with the host's first path verdict. */
  paths?: PathSeries;
}

export class MetricsProjection<R> implements Stage<CorrelatedItem<R>, PipelineOutput<R>> {
  private readonly windowUs: number;
  private readonly pathPeersPerHost: number;
  /** Per host: the last clock passed on, and the open count windows by start time, counts by `kind|op`. */
  private readonly hosts = new Map<string, ProjectedHost>();
  private last: ProjectedHost | undefined;
  readonly stats: ProjectionStats = { points: 0, lateNetChanges: 0, pathPeersOverflow: 0 };

  constructor(config: Partial<CorrelationConfig> = {}) {
    const c = correlationConfig(config);
    this.windowUs = c.netWindowMs * 1000;
    this.pathPeersPerHost = c.pathPeersPerHost;
  }

  push(item: CorrelatedItem<R>, emit: Emit<PipelineOutput<R>>): void {
    switch (item.type) {
      case 'event': {
        const key = netCountKey(item.event.kind);
        if (key) this.countNet(item.event, key);
        else this.onEvent(item.event, emit);
        return;
      }
      case 'clock':
        this.closeWindows(item.host, item.nowUs, emit);
        return;
      case 'restored': {
        // Which IKE_SA holds each path series, as the verdicts written before the move left it.
        const h = this.host(item.host);
        h.paths = new PathSeries(this.pathPeersPerHost);
        for (const v of item.verdicts) h.paths.own(v.ikeSaName, h.paths.peerOf(v.remoteHost).peer, v.uniqueId);
        return;
      }
      case 'finding':
        if (item.finding.type === 'reauth') this.point(emit, reauthPoint(item.finding));
        else this.point(emit, pathChangePoint(item.finding));
        emit(item);
        return;
      default:
        emit(item);
    }
  }

  flush(): void {}

  private onEvent(e: RoamwatchEvent, emit: Emit<PipelineOutput<R>>): void {
    switch (e.kind) {
      case 'vici.ike-updown': {
        const sa = e.payload.ikeSa;
        this.point(emit, {
          measurement: 'roamwatch_sa',
          tags: { host: e.host, conn: sa.name, state: e.payload.up ? 'up' : 'down' },
          ints: { count: 1 },
          strings: { unique_id: sa.uniqueId },
          timeNs: nsOf(e.timeUs),
        });
        const peer = e.payload.up ? undefined : this.host(e.host).paths?.release(sa.name, sa.remoteHost, sa.uniqueId);
        if (peer !== undefined) {
          this.point(emit, {
            measurement: 'roamwatch_path',
            tags: { host: e.host, conn: sa.name, peer },
            ints: { at_risk: 0 },
            strings: { verdict: 'gone', reason_code: 'ike-sa-down', unique_id: sa.uniqueId },
            timeNs: nsOf(e.timeUs),
          });
        }
        return;
      }
      case 'vici.ike-rekey':
        this.point(emit, rekeyPoint(e.host, e.payload.old.name, 'ike', e.timeUs));
        return;
      case 'vici.child-rekey':
        this.point(emit, rekeyPoint(e.host, e.payload.ikeSa.name, 'child', e.timeUs));
        return;
      case 'path.verdict': {
        const v = e.payload;
        const fix = bestFix(v.fixes);
        const h = this.host(e.host);
        h.paths ??= new PathSeries(this.pathPeersPerHost);
        const { peer, overflow } = h.paths.peerOf(v.remoteHost);
        if (overflow) this.stats.pathPeersOverflow += 1;
        h.paths.own(v.ikeSaName, peer, v.uniqueId);
        this.point(emit, {
          measurement: 'roamwatch_path',
          tags: { host: e.host, conn: v.ikeSaName, peer },
          ints: { at_risk: v.verdict === 'at-risk' ? 1 : 0 },
          strings: { verdict: v.verdict, reason_code: v.reasonCode, unique_id: v.uniqueId, ...(fix ? { fix: fix.command } : {}) },
          timeNs: nsOf(e.timeUs),
        });
        // remediation progress per gateway (docs/metrics.md): one point per at-risk → valid transition
        if (v.remediation) {
          this.point(emit, {
            measurement: 'roamwatch_remediation',
            tags: { host: e.host, conn: v.ikeSaName, applied_by: v.remediation.appliedBy },
            ints: { count: 1 },
            strings: { fix: v.remediation.fix, unique_id: v.uniqueId, ...(v.remediation.journalId ? { journal_id: v.remediation.journalId } : {}) },
            timeNs: nsOf(e.timeUs),
          });
        }
        return;
      }
      case 'agent.status': {
        const p = e.payload;
        this.point(emit, {
          measurement: 'roamwatch_agent',
          tags: { host: e.host },
          ints: {
            vici_connected: p.sources.vici.state === 'connected' ? 1 : 0,
            rtnetlink_connected: p.sources.rtnetlink.state === 'connected' ? 1 : 0,
            spool_bytes: p.spool.bytes,
            spool_events: p.spool.events,
            events_sent: p.eventsSent,
            events_dropped: p.eventsDropped,
            ...(p.ikeSas !== undefined ? { ike_sas: p.ikeSas } : {}),
          },
          floats: { lag_ms: p.lagMs, uptime_s: p.uptimeS },
          timeNs: nsOf(e.timeUs),
        });
        return;
      }
      default:
        return;
    }
  }

  private host(host: string): ProjectedHost {
    // An event and the clock item after it name the same host: one lookup for both.
    if (this.last?.host === host) return this.last;
    let h = this.hosts.get(host);
    if (!h) {
      h = { host, clockUs: 0, windows: new Map() };
      this.hosts.set(host, h);
    }
    this.last = h;
    return h;
  }

  private countNet(e: RoamwatchEvent, key: string): void {
    const h = this.host(e.host);
    const ws = Math.floor(e.timeUs / this.windowUs) * this.windowUs;
    // The host's clock as last passed on (before this event; correlate passes it on whenever it
    // crosses a window boundary, so it is in the same window slot as the true clock): an
    // in-order event moves the clock to its own time, inside its window, so "closed" means
    // closed before the event arrived.
    if (ws + this.windowUs <= h.clockUs) {
      // its window already closed (the clock only moves with in-order events): not amended
      this.stats.lateNetChanges += 1;
      return;
    }
    let w = h.windows.get(ws);
    if (!w) {
      w = new Map();
      h.windows.set(ws, w);
    }
    if (e.kind === 'route.summary') {
      // A route storm coalesced by the agent: its exact counts, in the window of the summary's time.
      for (const t of e.payload.tables) {
        if (t.added) w.set('route|added', (w.get('route|added') ?? 0) + t.added);
        if (t.removed) w.set('route|removed', (w.get('route|removed') ?? 0) + t.removed);
        if (t.replaced) w.set('route|replaced', (w.get('route|replaced') ?? 0) + t.replaced);
      }
      return;
    }
    w.set(key, (w.get(key) ?? 0) + 1);
  }

  private closeWindows(host: string, now: number, emit: Emit<PipelineOutput<R>>): void {
    const h = this.host(host);
    // Never backwards: a host restored from a checkpoint starts at the clock its windows were written with.
    if (now > h.clockUs) h.clockUs = now;
    const hw = h.windows;
    if (!hw.size) return;
    for (const [ws, counts] of hw) {
      if (ws + this.windowUs > now) continue;
      for (const [key, count] of counts) {
        const bar = key.indexOf('|');
        this.point(emit, {
          measurement: 'roamwatch_net_changes',
          tags: { host, kind: key.slice(0, bar), op: key.slice(bar + 1) },
          ints: { count },
          timeNs: nsOf(ws),
        });
      }
      hw.delete(ws);
    }
  }

  private point(emit: Emit<PipelineOutput<R>>, point: MetricPoint): void {
    this.stats.points += 1;
    emit({ type: 'point', point });
  }
}

const NET_COUNT_KEYS = new Map<string, string>();
/** `kind|op` of a routing event (the count's key), built once per kind ('' remembered for other kinds); undefined for other events. */
function netCountKey(kind: string): string | undefined {
  let key = NET_COUNT_KEYS.get(kind);
  if (key === undefined) {
    const nk = netKind(kind);
    key = nk ? `${nk[0]}|${nk[1]}` : '';
    NET_COUNT_KEYS.set(kind, key);
  }
  return key || undefined;
}

function rekeyPoint(host: string, conn: string, sa: 'ike' | 'child', timeUs: number): MetricPoint {
  return { measurement: 'roamwatch_rekey', tags: { host, conn, sa }, ints: { count: 1 }, timeNs: nsOf(timeUs) };
}

/** roamwatch_reauth: everything it says is in the finding. */
export function reauthPoint(f: ReauthFinding): MetricPoint {
  const first = f.triggers[0];
  const total = f.triggers.length + f.moreTriggers;
  const strings: Record<string, string> = { old_unique_id: f.oldUniqueId, finding_id: f.id };
  if (f.newUniqueId !== null) strings.new_unique_id = f.newUniqueId;
  if (f.localBefore) strings.local_before = f.localBefore;
  if (f.localAfter) strings.local_after = f.localAfter;
  if (f.remoteBefore) strings.remote_before = f.remoteBefore;
  if (f.remoteAfter) strings.remote_after = f.remoteAfter;
  if (first) strings.trigger = first.summary + (total > 1 ? ` (+${total - 1} more)` : '');
  if (f.fix) strings.fix = f.fix.command;
  const floats: Record<string, number> = {};
  if (f.latencyMs !== null) floats.latency_ms = f.latencyMs;
  if (f.downtimeMs !== null) floats.downtime_ms = f.downtimeMs;
  return {
    measurement: 'roamwatch_reauth',
    tags: { host: f.host, conn: f.conn, class: f.classification, trigger_kind: first?.kind ?? 'none' },
    ints: { count: 1 },
    floats,
    strings,
    timeNs: nsOf(f.timeUs),
  };
}

/**
 * roamwatch_path_change: an IKE_SA moved into (`fixed` 0) or out of (`fixed` 1) at risk. The
 * latest point per host and connection says whether it is fixed now and since when (its time):
 * the "fixed since" column of the fleet's at-risk inventory (docs/grafana.md).
 */
export function pathChangePoint(f: AtRiskFinding): MetricPoint {
  const strings: Record<string, string> = { verdict: f.verdict, reason_code: f.reasonCode, unique_id: f.uniqueId, finding_id: f.id };
  if (f.previous) strings.previous = f.previous;
  if (f.fix) strings.fix = f.fix.command;
  return {
    measurement: 'roamwatch_path_change',
    tags: { host: f.host, conn: f.conn },
    ints: { at_risk: f.atRisk ? 1 : 0, fixed: f.atRisk ? 0 : 1 },
    strings,
    timeNs: nsOf(f.timeUs),
  };
}
