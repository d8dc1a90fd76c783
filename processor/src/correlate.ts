/**
 * correlate: per host, in event time, reconstruct IKE_SA/CHILD_SA lifecycles, detect
 * reauthentications (both orders), attribute them to the routing events that preceded
 * them, classify, measure, and emit points, findings and releases.
 *
 * Input: the ordered stream from order.ts. Everything here is synchronous and pure
 * (state lives in the Correlator instance; no clock, no I/O): the same ordered input gives
 * the same output, byte for byte.
 *
 * A reauthentication is an old IKE_SA of a connection going down and a new IKE_SA of the
 * same connection coming up within `pairWindowMs`, in either order:
 *   break-before-make  log lines → ike-updown down (old, IKE_REAUTH active) → child-updown
 *                      down → "initiating IKE_SA name[new]" → ike-updown up (new) →
 *                      child-updown up            (verified on charon 5.9.8, BRIEF.md)
 *   make-before-break  log lines → ike-updown up (new) → child-updown up (new) →
 *                      ike-updown down (old) → child-updown down (old)
 * Rekeys (ike-rekey / child-rekey) keep the SA's identity and are counted, never paired.
 */
import { formatUs } from '@roamwatch/core';
import type { RoamwatchEvent, EventOf, IkeSa, PathVerdict, Fix, Connection } from '@roamwatch/core';
import type { CorrelationConfig } from './config.js';
import type { OrderedItem } from './order.js';
import type { PipelineOutput, ReauthFinding, AtRiskFinding, Trigger, MetricPoint, Classification, NetKind } from './types.js';
import { netChange, netKind, prefixContains } from './net.js';
import type { NetOp } from './net.js';
import { classify } from './classify.js';
import { nsOf } from './points.js';

const ROAM_RE = /old path is not available anymore|reauthenticating IKE_SA due to address change/;
const REAUTH_RE = /^reauthenticating IKE_SA (?!due to address change)/;
const MANUAL_RE = /\bvici\b.*\b(rekey|reauth)/i;
const PEER_DELETE_RE = /received DELETE for IKE_SA/;
const REAUTH_TASK_RE = /^IKE_REAUTH/;
const MAX_EVIDENCE = 12;
/** The log lines that explain a reauth; packet-level chatter is left out of the evidence. */
const EVIDENCE_RE = /path|route|reauth|deleting|DELETE|IKE_SA .*(deleted|established)|initiating|restarting|giving up|disappeared|appeared|established|address/;

interface ChildRec {
  upUs?: number;
  downUs?: number;
}

interface SaRec {
  conn: string;
  uid: string;
  local: string | null;
  remote: string | null;
  initiator: boolean | undefined;
  upUs: number | undefined;
  downUs: number | undefined;
  establishedS: number | undefined;
  children: Map<string, ChildRec>;
  rekeyed: boolean;
  paired: boolean;
}

interface Intent {
  firstUs: number;
  roamLine: boolean;
  reauthLine: boolean;
  peerDeleteLine: boolean;
  lines: string[];
}

interface NetRec {
  timeUs: number;
  kind: NetKind;
  op: NetOp;
  id: string;
  event: RoamwatchEvent;
}

interface Pending {
  conn: string;
  old: SaRec;
  oldChildNames: string[];
  startUs: number;
  downUs: number;
  order: 'break-before-make' | 'make-before-break';
  newSa: SaRec | undefined;
  deadlineUs: number;
  reauthTask: boolean;
  manualLine: boolean;
  triggers: NetRec[];
}

interface Held<R> {
  tUs: number;
  releaseAtUs: number;
  ref: R;
}

class HostState<R> {
  clockUs = 0;
  sas = new Map<string, SaRec>();
  conns = new Map<string, Connection>();
  intents = new Map<string, Intent>();
  manualUs: number[] = [];
  net: NetRec[] = [];
  removedAddrs = new Map<string, number>();
  addrIf = new Map<string, string>();
  linkDown = new Map<string, number>();
  pendings: Pending[] = [];
  windows = new Map<number, Map<string, number>>();
  held: Held<R>[] = [];
  heldHead = 0;
  verdicts = new Map<string, PathVerdict>();
  verdictByConn = new Map<string, PathVerdict>();
  atRisk = new Map<string, boolean>();
  constructor(readonly host: string) {}
}

export interface CorrelatorStats {
  events: number;
  late: number;
  duplicates: number;
  lateNetChanges: number;
  reauths: Record<Classification, number>;
  rekeys: number;
  findings: number;
  points: number;
  trackedSas: number;
}

type Emit<R> = (o: PipelineOutput<R>) => void;

export class Correlator<R> {
  private readonly hosts = new Map<string, HostState<R>>();
  private readonly awUs: number;
  private readonly pairUs: number;
  private readonly childWaitUs: number;
  private readonly windowUs: number;
  private readonly logUs: number;
  readonly stats: CorrelatorStats = {
    events: 0,
    late: 0,
    duplicates: 0,
    lateNetChanges: 0,
    reauths: { spurious: 0, 'address-moved': 0, legitimate: 0, scheduled: 0, manual: 0, peer: 0, unknown: 0 },
    rekeys: 0,
    findings: 0,
    points: 0,
    trackedSas: 0,
  };

  constructor(private readonly cfg: CorrelationConfig) {
    this.awUs = cfg.attributionWindowMs * 1000;
    this.pairUs = cfg.pairWindowMs * 1000;
    this.childWaitUs = cfg.childWaitMs * 1000;
    this.windowUs = cfg.netWindowMs * 1000;
    this.logUs = cfg.logRetentionMs * 1000;
  }

  get hostCount(): number {
    return this.hosts.size;
  }

  /** SAs currently tracked over all hosts. */
  trackedSas(): number {
    let n = 0;
    for (const h of this.hosts.values()) n += h.sas.size;
    return n;
  }

  process(item: OrderedItem<R>, emit: Emit<R>): void {
    if (item.type === 'watermark') {
      const h = this.hosts.get(item.host);
      if (!h) return;
      if (item.timeUs > h.clockUs) h.clockUs = item.timeUs;
      this.advance(h, emit);
      return;
    }
    const e = item.event;
    let h = this.hosts.get(e.host);
    if (!h) {
      h = new HostState<R>(e.host);
      this.hosts.set(e.host, h);
    }
    if (item.duplicate) {
      this.stats.duplicates += 1;
      this.hold(h, h.clockUs, 0, item.ref);
      this.advance(h, emit);
      return;
    }
    this.stats.events += 1;
    if (item.late) this.stats.late += 1;
    else if (e.timeUs > h.clockUs) h.clockUs = e.timeUs;
    const holdUs = this.apply(h, e, item.late, emit);
    this.hold(h, e.timeUs, holdUs, item.ref);
    this.advance(h, emit);
  }

  // ------------------------------------------------------------------ per event

  /** Applies one event to the host's state; returns how long (µs of event time) its record must be kept uncommitted. */
  private apply(h: HostState<R>, e: RoamwatchEvent, late: boolean, emit: Emit<R>): number {
    const nk = netKind(e.kind);
    if (nk) return this.onNet(h, e, nk[0], nk[1], late);
    switch (e.kind) {
      case 'vici.log':
        this.onLog(h, e);
        return this.logUs;
      case 'vici.ike-updown':
        this.point(emit, {
          measurement: 'roamwatch_sa',
          tags: { host: h.host, conn: e.payload.ikeSa.name, state: e.payload.up ? 'up' : 'down' },
          ints: { count: 1 },
          strings: { unique_id: e.payload.ikeSa.uniqueId },
          timeNs: nsOf(e.timeUs),
        });
        if (e.payload.up) this.onIkeUp(h, e);
        else this.onIkeDown(h, e);
        return this.pairUs;
      case 'vici.child-updown':
        this.onChild(h, e);
        return 0;
      case 'vici.ike-rekey': {
        this.stats.rekeys += 1;
        this.point(emit, rekeyPoint(h.host, e.payload.old.name, 'ike', e.timeUs));
        const old = this.sa(h, e.payload.old);
        old.rekeyed = true;
        const n = this.sa(h, e.payload.new);
        n.upUs = old.upUs ?? e.timeUs;
        n.paired = true;
        for (const [name, c] of old.children) if (!n.children.has(name)) n.children.set(name, { ...c });
        h.sas.delete(old.uid);
        const v = h.verdicts.get(old.uid);
        if (v) h.verdicts.set(n.uid, v);
        return 0;
      }
      case 'vici.child-rekey':
        this.stats.rekeys += 1;
        this.point(emit, rekeyPoint(h.host, e.payload.ikeSa.name, 'child', e.timeUs));
        return 0;
      case 'vici.ike-update': {
        const s = this.sa(h, e.payload.ikeSa);
        if (e.payload.newLocalHost) s.local = e.payload.newLocalHost;
        if (e.payload.newRemoteHost) s.remote = e.payload.newRemoteHost;
        return 0;
      }
      case 'vici.sa-snapshot':
        this.onSnapshot(h, e);
        return 0;
      case 'vici.connection':
        if (e.payload.state === 'disconnected') this.onCharonGone(h, emit);
        return 0;
      case 'path.verdict':
        this.onVerdict(h, e, emit);
        return 0;
      case 'agent.status': {
        const p = e.payload;
        this.point(emit, {
          measurement: 'roamwatch_agent',
          tags: { host: h.host },
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
        return 0;
      }
      default:
        return 0;
    }
  }

  private onNet(h: HostState<R>, e: RoamwatchEvent, kind: NetKind, op: NetOp, late: boolean): number {
    const t = e.timeUs;
    const ws = Math.floor(t / this.windowUs) * this.windowUs;
    if (ws + this.windowUs <= h.clockUs) {
      // its window already closed (the clock only moves with in-order events): not amended
      this.stats.lateNetChanges += 1;
    } else {
      let w = h.windows.get(ws);
      if (!w) {
        w = new Map();
        h.windows.set(ws, w);
      }
      const key = `${kind}|${op}`;
      w.set(key, (w.get(key) ?? 0) + 1);
    }
    if (!late) h.net.push({ timeUs: t, kind, op, id: e.id, event: e });
    switch (e.kind) {
      case 'address.added':
        h.addrIf.set(e.payload.address.address, e.payload.address.ifName ?? String(e.payload.address.ifIndex));
        h.removedAddrs.delete(e.payload.address.address);
        break;
      case 'address.removed':
        h.removedAddrs.set(e.payload.address.address, t);
        h.addrIf.delete(e.payload.address.address);
        break;
      case 'link.changed':
        if (e.payload.link.operstate === 'DOWN' || !e.payload.link.flags.includes('UP')) h.linkDown.set(e.payload.link.ifName, t);
        else h.linkDown.delete(e.payload.link.ifName);
        break;
      case 'link.removed':
        h.linkDown.set(e.payload.link.ifName, t);
        break;
      default:
        break;
    }
    return Math.max(ws + this.windowUs - t, this.awUs);
  }

  private onLog(h: HostState<R>, e: EventOf<'vici.log'>): void {
    const msg = e.payload.msg;
    if (MANUAL_RE.test(msg)) h.manualUs.push(e.timeUs);
    let uid = e.payload.ikeSaUniqueId;
    if (!uid && e.payload.ikeSaName) uid = this.currentSa(h, e.payload.ikeSaName)?.uid;
    if (!uid) return;
    let it = h.intents.get(uid);
    if (!it) {
      it = { firstUs: Number.MAX_SAFE_INTEGER, roamLine: false, reauthLine: false, peerDeleteLine: false, lines: [] };
      h.intents.set(uid, it);
    }
    const roam = ROAM_RE.test(msg);
    const reauth = REAUTH_RE.test(msg);
    if (roam) it.roamLine = true;
    if (reauth) it.reauthLine = true;
    if (PEER_DELETE_RE.test(msg)) it.peerDeleteLine = true;
    if ((roam || reauth) && e.timeUs < it.firstUs) it.firstUs = e.timeUs;
    if (it.lines.length < MAX_EVIDENCE && EVIDENCE_RE.test(msg)) it.lines.push(msg);
  }

  private onIkeUp(h: HostState<R>, e: EventOf<'vici.ike-updown'>): void {
    const s = this.sa(h, e.payload.ikeSa);
    s.upUs = e.timeUs;
    s.downUs = undefined;
    for (const p of h.pendings) {
      if (!p.newSa && p.conn === s.conn && p.old.uid !== s.uid) {
        p.newSa = s;
        s.paired = true;
        p.deadlineUs = e.timeUs + this.childWaitUs;
        break;
      }
    }
  }

  private onIkeDown(h: HostState<R>, e: EventOf<'vici.ike-updown'>): void {
    const ike = e.payload.ikeSa;
    const s = this.sa(h, ike);
    s.downUs = e.timeUs;
    const tasks = [...(ike.tasksActive ?? []), ...(ike.tasksQueued ?? []), ...(ike.tasksPassive ?? [])];
    const rekeyTeardown = s.rekeyed || ike.state === 'REKEYED' || (tasks.includes('IKE_REKEY') && !tasks.some((t) => REAUTH_TASK_RE.test(t)));
    if (rekeyTeardown) {
      h.sas.delete(s.uid);
      return;
    }
    const reauthTask = tasks.some((t) => REAUTH_TASK_RE.test(t));
    const intent = h.intents.get(s.uid);
    // make-before-break: a new SA of this connection came up recently and is nobody's replacement.
    let mbb: SaRec | undefined;
    for (const c of h.sas.values()) {
      if (c.conn !== s.conn || c.uid === s.uid || c.paired || c.downUs !== undefined || c.upUs === undefined) continue;
      if (c.upUs < e.timeUs - this.pairUs || (s.upUs !== undefined && c.upUs < s.upUs)) continue;
      if (!mbb || c.upUs > (mbb.upUs ?? 0)) mbb = c;
    }
    const startUs = Math.min(intent?.firstUs ?? Number.MAX_SAFE_INTEGER, mbb?.upUs ?? e.timeUs, e.timeUs);
    const names = ike.childSas.map((c) => c.name);
    const oldChildNames = names.length ? [...new Set(names)] : [...s.children.keys()];
    const manualLine = h.manualUs.some((t) => t >= startUs - 2_000_000 && t <= e.timeUs);
    const triggers = h.net.filter((n) => n.timeUs >= startUs - this.awUs && n.timeUs <= startUs);
    const p: Pending = {
      conn: s.conn,
      old: s,
      oldChildNames,
      startUs,
      downUs: e.timeUs,
      order: mbb ? 'make-before-break' : 'break-before-make',
      newSa: mbb,
      deadlineUs: e.timeUs + (mbb ? this.childWaitUs : this.pairUs),
      reauthTask,
      manualLine,
      triggers,
    };
    if (mbb) mbb.paired = true;
    h.pendings.push(p);
  }

  private onChild(h: HostState<R>, e: EventOf<'vici.child-updown'>): void {
    const s = this.sa(h, e.payload.ikeSa);
    for (const c of e.payload.ikeSa.childSas) {
      let rec = s.children.get(c.name);
      if (!rec) {
        rec = {};
        s.children.set(c.name, rec);
      }
      if (e.payload.up) {
        rec.upUs = e.timeUs;
        rec.downUs = undefined;
      } else if (rec.downUs === undefined) {
        rec.downUs = e.timeUs;
      }
    }
  }

  private onSnapshot(h: HostState<R>, e: EventOf<'vici.sa-snapshot'>): void {
    h.conns.clear();
    for (const c of e.payload.connections) h.conns.set(c.name, c);
    const seen = new Set<string>();
    for (const ike of e.payload.ikeSas) {
      seen.add(ike.uniqueId);
      const existed = h.sas.has(ike.uniqueId);
      const s = this.sa(h, ike);
      if (!existed) {
        // Known from the snapshot only: not a fresh SA that could replace another.
        s.paired = true;
        if (ike.state === 'ESTABLISHED') s.upUs = e.timeUs - (ike.establishedS ?? 0) * 1_000_000;
        for (const c of ike.childSas) if (!s.children.has(c.name)) s.children.set(c.name, { upUs: s.upUs });
      }
    }
    if (e.payload.reason === 'connect' || e.payload.reason === 'reconnect') {
      for (const uid of [...h.sas.keys()]) if (!seen.has(uid)) h.sas.delete(uid);
    }
  }

  /** charon went away (restart, crash): its unique ids start over; open pairings are void. */
  private onCharonGone(h: HostState<R>, emit: Emit<R>): void {
    for (const p of h.pendings) p.deadlineUs = Math.min(p.deadlineUs, h.clockUs);
    this.finalizeDue(h, emit);
    h.sas.clear();
    h.intents.clear();
  }

  private onVerdict(h: HostState<R>, e: EventOf<'path.verdict'>, emit: Emit<R>): void {
    const v = e.payload;
    h.verdicts.set(v.uniqueId, v);
    h.verdictByConn.set(v.ikeSaName, v);
    const fix = bestFix(v.fixes);
    const atRisk = v.verdict === 'at-risk';
    this.point(emit, {
      measurement: 'roamwatch_path',
      tags: { host: h.host, conn: v.ikeSaName },
      ints: { at_risk: atRisk ? 1 : 0 },
      strings: { verdict: v.verdict, reason_code: v.reasonCode, unique_id: v.uniqueId, ...(fix ? { fix: fix.command } : {}) },
      timeNs: nsOf(e.timeUs),
    });
    // remediation progress per gateway (docs/metrics.md): one point per at-risk → valid transition
    if (v.remediation) {
      this.point(emit, {
        measurement: 'roamwatch_remediation',
        tags: { host: h.host, conn: v.ikeSaName, applied_by: v.remediation.appliedBy },
        ints: { count: 1 },
        strings: { fix: v.remediation.fix, unique_id: v.uniqueId, ...(v.remediation.journalId ? { journal_id: v.remediation.journalId } : {}) },
        timeNs: nsOf(e.timeUs),
      });
    }
    const key = `${v.ikeSaName}\u0000${v.uniqueId}`;
    const before = h.atRisk.get(key) ?? v.previous === 'at-risk';
    h.atRisk.set(key, atRisk);
    if (before === atRisk) return;
    const f: AtRiskFinding = {
      type: 'at-risk',
      id: `${h.host}/${v.ikeSaName}/${v.uniqueId}/path/${e.timeUs}`,
      host: h.host,
      conn: v.ikeSaName,
      uniqueId: v.uniqueId,
      time: formatUs(e.timeUs),
      timeUs: e.timeUs,
      atRisk,
      verdict: v.verdict,
      previous: v.previous ?? null,
      reasonCode: v.reasonCode,
      reason: v.reason,
      localHost: v.localHost ?? null,
      remoteHost: v.remoteHost ?? null,
      ...(v.consequence ? { consequence: v.consequence } : {}),
      ...(fix ? { fix, fixes: v.fixes } : {}),
    };
    this.stats.findings += 1;
    emit({ type: 'finding', finding: f });
  }

  // ------------------------------------------------------------------ time

  private hold(h: HostState<R>, tUs: number, holdUs: number, ref: R | undefined): void {
    if (ref === undefined) return;
    h.held.push({ tUs, releaseAtUs: tUs + holdUs, ref });
  }

  private advance(h: HostState<R>, emit: Emit<R>): void {
    const now = h.clockUs;
    // 1. close net-change windows
    if (h.windows.size) {
      for (const [ws, counts] of h.windows) {
        if (ws + this.windowUs > now) continue;
        for (const [key, count] of counts) {
          const bar = key.indexOf('|');
          this.point(emit, {
            measurement: 'roamwatch_net_changes',
            tags: { host: h.host, kind: key.slice(0, bar), op: key.slice(bar + 1) },
            ints: { count },
            timeNs: nsOf(ws),
          });
        }
        h.windows.delete(ws);
      }
    }
    // 2. pending reauths that are complete or due
    if (h.pendings.length) this.finalizeDue(h, emit);
    // 3. forget what no longer matters
    if (h.net.length && h.net[0]!.timeUs < now - this.awUs - this.pairUs) {
      const cut = now - this.awUs - this.pairUs;
      let i = 0;
      while (i < h.net.length && h.net[i]!.timeUs < cut) i++;
      h.net.splice(0, i);
    }
    if (h.manualUs.length && h.manualUs[0]! < now - this.pairUs) h.manualUs = h.manualUs.filter((t) => t >= now - this.pairUs);
    if (h.intents.size > 64) {
      for (const [uid, it] of h.intents) if (!h.sas.has(uid) && it.firstUs < now - this.pairUs) h.intents.delete(uid);
    }
    // 4. release records nothing depends on any more
    if (h.held.length > h.heldHead) {
      let barrier = Number.MAX_SAFE_INTEGER;
      for (const p of h.pendings) barrier = Math.min(barrier, p.startUs - this.awUs - 1);
      const refs: R[] = [];
      while (h.heldHead < h.held.length) {
        const x = h.held[h.heldHead]!;
        if (x.releaseAtUs > now || x.tUs >= barrier) break;
        refs.push(x.ref);
        h.heldHead += 1;
      }
      if (h.heldHead === h.held.length) {
        h.held = [];
        h.heldHead = 0;
      } else if (h.heldHead > 1024 && h.heldHead * 2 > h.held.length) {
        h.held = h.held.slice(h.heldHead);
        h.heldHead = 0;
      }
      if (refs.length) emit({ type: 'release', refs });
    }
  }

  private finalizeDue(h: HostState<R>, emit: Emit<R>): void {
    const now = h.clockUs;
    const keep: Pending[] = [];
    for (const p of h.pendings) {
      if (p.deadlineUs <= now || this.complete(p)) this.finalize(h, p, emit);
      else keep.push(p);
    }
    h.pendings = keep;
  }

  private complete(p: Pending): boolean {
    if (!p.newSa) return false;
    for (const name of p.oldChildNames) {
      if (p.newSa.children.get(name)?.upUs === undefined) return false;
      if (p.old.children.get(name)?.downUs === undefined) return false;
    }
    return true;
  }

  private finalize(h: HostState<R>, p: Pending, emit: Emit<R>): void {
    const old = p.old;
    const intent = h.intents.get(old.uid);
    h.sas.delete(old.uid);
    h.intents.delete(old.uid);
    const nw = p.newSa;
    if (!nw && !intent?.roamLine && !intent?.reauthLine && !p.reauthTask && !p.manualLine) return; // an SA went down; no reauth
    const newIntent = nw ? h.intents.get(nw.uid) : undefined;
    const triggers: Trigger[] = p.triggers.slice(0, this.cfg.maxTriggers).map((n) => ({ kind: n.kind, summary: netChange(n.event)?.summary ?? n.event.kind, time: formatUs(n.timeUs), timeUs: n.timeUs, eventId: n.id }));
    const removal = this.removal(h, p);
    const conn = h.conns.get(p.conn);
    const ageS = old.upUs !== undefined ? Math.round((p.startUs - old.upUs) / 1e6) : old.establishedS;
    const { classification, reason } = classify({
      roamLine: !!intent?.roamLine,
      reauthLine: !!intent?.reauthLine,
      manualLine: p.manualLine,
      peerDeleteLine: !!intent?.peerDeleteLine,
      reauthTask: p.reauthTask,
      anyLogLines: !!intent,
      triggerCount: p.triggers.length,
      removal,
      oldInitiator: old.initiator,
      newInitiator: nw?.initiator,
      ageS,
      reauthTimeS: conn?.reauthTimeS,
      localBefore: old.local,
      localAfter: nw?.local ?? null,
      remoteBefore: old.remote,
      remoteAfter: nw?.remote ?? null,
      hasNew: !!nw,
    });
    const first = p.triggers[0];
    const latencyMs = first ? round3((p.startUs - first.timeUs) / 1000) : null;
    const downtimeMs = nw ? downtime(p, nw) : null;
    const v = h.verdicts.get(old.uid) ?? h.verdictByConn.get(p.conn);
    const fix = v ? bestFix(v.fixes) : undefined;
    const evidence = [...(intent?.lines ?? []), ...(newIntent?.lines ?? [])].slice(0, MAX_EVIDENCE);
    const id = `${h.host}/${p.conn}/${old.uid}/${p.startUs}`;
    const f: ReauthFinding = {
      type: 'reauth',
      id,
      host: h.host,
      conn: p.conn,
      classification,
      reason,
      order: p.order,
      time: formatUs(p.startUs),
      timeUs: p.startUs,
      oldUniqueId: old.uid,
      newUniqueId: nw?.uid ?? null,
      localBefore: old.local,
      localAfter: nw?.local ?? null,
      remoteBefore: old.remote,
      remoteAfter: nw?.remote ?? null,
      latencyMs,
      downtimeMs,
      triggers,
      moreTriggers: Math.max(0, p.triggers.length - triggers.length),
      evidence,
      ...(fix && v ? { fix, fixes: [...v.fixes].sort((a, b) => a.rank - b.rank) } : {}),
    };
    this.stats.reauths[classification] += 1;
    this.stats.findings += 1;
    const strings: Record<string, string> = { old_unique_id: old.uid, finding_id: id };
    if (nw) strings.new_unique_id = nw.uid;
    if (old.local) strings.local_before = old.local;
    if (nw?.local) strings.local_after = nw.local;
    if (old.remote) strings.remote_before = old.remote;
    if (nw?.remote) strings.remote_after = nw.remote;
    if (first) strings.trigger = triggers[0]!.summary + (p.triggers.length > 1 ? ` (+${p.triggers.length - 1} more)` : '');
    if (fix) strings.fix = fix.command;
    const floats: Record<string, number> = {};
    if (latencyMs !== null) floats.latency_ms = latencyMs;
    if (downtimeMs !== null) floats.downtime_ms = downtimeMs;
    this.point(emit, {
      measurement: 'roamwatch_reauth',
      tags: { host: h.host, conn: p.conn, class: classification, trigger_kind: first?.kind ?? 'none' },
      ints: { count: 1 },
      floats,
      strings,
      timeNs: nsOf(p.startUs),
    });
    emit({ type: 'finding', finding: f });
  }

  /** Evidence that the old path really went away, as a phrase, or undefined. */
  private removal(h: HostState<R>, p: Pending): string | undefined {
    const from = p.startUs - this.awUs - this.pairUs;
    const local = p.old.local;
    if (local) {
      const removedAt = h.removedAddrs.get(local);
      if (removedAt !== undefined && removedAt >= from && removedAt <= p.downUs) return `its local address ${local} was removed`;
      const ifName = h.addrIf.get(local);
      const downAt = ifName ? h.linkDown.get(ifName) : undefined;
      if (ifName && downAt !== undefined && downAt >= from && downAt <= p.downUs) return `the link ${ifName} carrying ${local} went down`;
    }
    const remote = p.old.remote;
    if (remote) {
      for (const n of p.triggers) {
        if (n.event.kind === 'route.removed' && prefixContains(n.event.payload.route.dst, remote) && n.event.payload.route.table !== 255) {
          return `the route ${n.event.payload.route.dst} towards the peer ${remote} was removed`;
        }
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ helpers

  private sa(h: HostState<R>, ike: IkeSa): SaRec {
    let s = h.sas.get(ike.uniqueId);
    if (!s || s.conn !== ike.name) {
      s = {
        conn: ike.name,
        uid: ike.uniqueId,
        local: ike.localHost ?? null,
        remote: ike.remoteHost ?? null,
        initiator: ike.initiator,
        upUs: undefined,
        downUs: undefined,
        establishedS: ike.establishedS,
        children: new Map(),
        rekeyed: false,
        paired: false,
      };
      h.sas.set(ike.uniqueId, s);
    } else {
      if (ike.localHost) s.local = ike.localHost;
      if (ike.remoteHost) s.remote = ike.remoteHost;
      if (ike.initiator !== undefined) s.initiator = ike.initiator;
      if (ike.establishedS !== undefined) s.establishedS = ike.establishedS;
    }
    return s;
  }

  private currentSa(h: HostState<R>, conn: string): SaRec | undefined {
    let best: SaRec | undefined;
    for (const s of h.sas.values()) {
      if (s.conn === conn && s.downUs === undefined && (!best || (s.upUs ?? 0) > (best.upUs ?? 0))) best = s;
    }
    return best;
  }

  private point(emit: Emit<R>, point: MetricPoint): void {
    this.stats.points += 1;
    emit({ type: 'point', point });
  }
}

function rekeyPoint(host: string, conn: string, sa: 'ike' | 'child', timeUs: number): MetricPoint {
  return { measurement: 'roamwatch_rekey', tags: { host, conn, sa }, ints: { count: 1 }, timeNs: nsOf(timeUs) };
}

function bestFix(fixes: Fix[]): Fix | undefined {
  let best: Fix | undefined;
  for (const f of fixes) if (!best || f.rank < best.rank) best = f;
  return best;
}

function downtime(p: Pending, nw: SaRec): number | null {
  let worst: number | null = null;
  for (const name of p.oldChildNames) {
    const up = nw.children.get(name)?.upUs;
    const down = p.old.children.get(name)?.downUs ?? p.downUs;
    if (up === undefined) return null;
    const d = Math.max(0, up - down) / 1000;
    worst = worst === null ? d : Math.max(worst, d);
  }
  return worst === null ? null : round3(worst);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
