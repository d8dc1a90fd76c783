/**
 * The reauth tracker: per host, in event time, reconstruct IKE_SA/CHILD_SA lifecycles, detect
 * reauthentications (both orders), attribute them to the routing events that preceded them,
 * classify and measure them, and follow the path analyzer's at-risk verdicts. Its output is
 * findings only; metric points are the projection's job (project.ts) and Kafka offsets the
 * retention barrier's (retain.ts). correlate.ts wires the three.
 *
 * Pure and synchronous: state lives in the instance, time is the host's event-time clock
 * handed in by the caller (`nowUs`); no clock, no I/O. The same ordered input gives the same
 * findings, byte for byte.
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
import type { Finding, ReauthFinding, AtRiskFinding, Trigger, Classification, NetKind } from './types.js';
import { netChange, netKind, prefixContains } from './net.js';
import type { NetOp } from './net.js';
import { classify } from './classify.js';

const ROAM_RE = /old path is not available anymore|reauthenticating IKE_SA due to address change/;
const REAUTH_RE = /^reauthenticating IKE_SA (?!due to address change)/;
const MANUAL_RE = /\bvici\b.*\b(rekey|reauth)/i;
const PEER_DELETE_RE = /received DELETE for IKE_SA/;
const REAUTH_TASK_RE = /^IKE_REAUTH/;
const MAX_EVIDENCE = 12;
/**
 * A storm whose last summary (route.summary, not final) is at most this old when a reauth starts
 * is still in progress: the reauth is attributed to it even beyond the attribution window. While
 * a storm lasts the agent sends a summary every rtnetlink.coalesce.summaryIntervalMs (1 s by
 * default) and before any other event, so 5 s of silence means it is over.
 */
const OPEN_STORM_US = 5_000_000;
/** The log lines that explain a reauth; packet-level chatter is left out of the evidence. */
const EVIDENCE_RE = /path|route|reauth|deleting|DELETE|IKE_SA .*(deleted|established)|initiating|restarting|giving up|disappeared|appeared|established|address/;

export interface ChildRec {
  upUs?: number;
  downUs?: number;
}

export interface SaRec {
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

export interface Intent {
  firstUs: number;
  roamLine: boolean;
  reauthLine: boolean;
  peerDeleteLine: boolean;
  lines: string[];
}

export interface NetRec {
  timeUs: number;
  kind: NetKind;
  op: NetOp;
  id: string;
  event: RoamwatchEvent;
}

export interface Pending {
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
  /** Restored from a checkpoint: its finding was already emitted by the previous owner (checkpoint.ts); finalized silently. */
  reported?: boolean;
}

/** One host's tracking state; opaque outside the tracker (ReauthTracker.host). */
export class HostTrack {
  sas = new Map<string, SaRec>();
  conns = new Map<string, Connection>();
  intents = new Map<string, Intent>();
  manualUs: number[] = [];
  net: NetRec[] = [];
  /** The last summary of a route storm still in progress (its final summary not seen yet). */
  openStorm: NetRec | undefined;
  removedAddrs = new Map<string, number>();
  addrIf = new Map<string, string>();
  linkDown = new Map<string, number>();
  pendings: Pending[] = [];
  verdicts = new Map<string, PathVerdict>();
  verdictByConn = new Map<string, PathVerdict>();
  atRisk = new Map<string, boolean>();
  constructor(readonly host: string) {}
}

export interface ReauthTrackerStats {
  reauths: Record<Classification, number>;
  rekeys: number;
  findings: number;
}

export type EmitFinding = (f: Finding) => void;

export class ReauthTracker {
  private readonly hosts = new Map<string, HostTrack>();
  private readonly awUs: number;
  private readonly pairUs: number;
  private readonly childWaitUs: number;
  private readonly logUs: number;
  readonly stats: ReauthTrackerStats = {
    reauths: { spurious: 0, 'address-moved': 0, legitimate: 0, scheduled: 0, manual: 0, peer: 0, unknown: 0 },
    rekeys: 0,
    findings: 0,
  };

  constructor(private readonly cfg: CorrelationConfig) {
    this.awUs = cfg.attributionWindowMs * 1000;
    this.pairUs = cfg.pairWindowMs * 1000;
    this.childWaitUs = cfg.childWaitMs * 1000;
    this.logUs = cfg.logRetentionMs * 1000;
  }

  /** SAs currently tracked over all hosts. */
  trackedSas(): number {
    let n = 0;
    for (const h of this.hosts.values()) n += h.sas.size;
    return n;
  }

  /** Installs `track` as the state of its host (a checkpoint restored: checkpoint.ts). */
  adopt(track: HostTrack): HostTrack {
    this.hosts.set(track.host, track);
    return track;
  }

  /** The state of `host` (created on first use): the handle `apply`, `advance` and `pinnedFromUs` take. */
  host(host: string): HostTrack {
    let h = this.hosts.get(host);
    if (!h) {
      h = new HostTrack(host);
      this.hosts.set(host, h);
    }
    return h;
  }

  /**
   * Applies one event of host `h` (its clock already moved to `nowUs`). Returns how long (µs of
   * event time, from the event's time) the tracker may still need the event's record: a
   * restart that re-reads from a later offset would not see it.
   */
  apply(h: HostTrack, e: RoamwatchEvent, late: boolean, nowUs: number, emit: EmitFinding): number {
    const nk = netKind(e.kind);
    if (nk) {
      this.onNet(h, e, nk[0], nk[1], late);
      return this.awUs;
    }
    switch (e.kind) {
      case 'vici.log':
        this.onLog(h, e);
        return this.logUs;
      case 'vici.ike-updown':
        if (e.payload.up) this.onIkeUp(h, e);
        else this.onIkeDown(h, e);
        return this.pairUs;
      case 'vici.child-updown':
        this.onChild(h, e);
        return 0;
      case 'vici.ike-rekey': {
        this.stats.rekeys += 1;
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
        if (e.payload.state === 'disconnected') this.onCharonGone(h, nowUs, emit);
        return 0;
      case 'path.verdict':
        this.onVerdict(h, e, emit);
        return 0;
      case 'agent.started':
      case 'agent.stopping':
        h.openStorm = undefined; // an agent that stops mid-storm sends no final summary
        return 0;
      default:
        return 0;
    }
  }

  /** The host's clock moved to `nowUs`: close the reauths that are complete or due, forget what no longer matters. */
  advance(h: HostTrack, nowUs: number, emit: EmitFinding): void {
    const now = nowUs;
    if (h.pendings.length) this.finalizeDue(h, now, emit);
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
  }

  /**
   * The oldest event time of host `h` an open reauth may still reach back to (its attribution
   * window): records at or after it must stay uncommitted. MAX_SAFE_INTEGER when none is open.
   */
  pinnedFromUs(h: HostTrack): number {
    let pin = Number.MAX_SAFE_INTEGER;
    for (const p of h.pendings) pin = Math.min(pin, p.startUs - this.awUs - 1);
    return pin;
  }

  // ------------------------------------------------------------------ per event

  private onNet(h: HostTrack, e: RoamwatchEvent, kind: NetKind, op: NetOp, late: boolean): void {
    let t = e.timeUs;
    if (e.kind === 'route.summary') {
      // A storm's changes, counted by the agent (route.summary): a trigger at the time of the last
      // change it counts; the final summary of a storm may count none.
      if (e.payload.changes === 0) {
        if (e.payload.final) h.openStorm = undefined;
        return;
      }
      t = e.payload.lastUs;
    }
    if (!late) h.net.push({ timeUs: t, kind, op, id: e.id, event: e });
    if (e.kind === 'route.summary' && !late) h.openStorm = e.payload.final ? undefined : h.net[h.net.length - 1];
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
  }

  private onLog(h: HostTrack, e: EventOf<'vici.log'>): void {
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

  private onIkeUp(h: HostTrack, e: EventOf<'vici.ike-updown'>): void {
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

  private onIkeDown(h: HostTrack, e: EventOf<'vici.ike-updown'>): void {
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
    // Inside a route storm (its last summary not final, and recent): charon, busy with the storm,
    // may act later than the attribution window after the changes; the storm is still the cause.
    const storm = h.openStorm;
    if (storm && !triggers.includes(storm) && storm.event.timeUs <= startUs && startUs - storm.event.timeUs <= OPEN_STORM_US) triggers.unshift(storm);
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

  private onChild(h: HostTrack, e: EventOf<'vici.child-updown'>): void {
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

  private onSnapshot(h: HostTrack, e: EventOf<'vici.sa-snapshot'>): void {
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
  private onCharonGone(h: HostTrack, nowUs: number, emit: EmitFinding): void {
    for (const p of h.pendings) p.deadlineUs = Math.min(p.deadlineUs, nowUs);
    this.finalizeDue(h, nowUs, emit);
    h.sas.clear();
    h.intents.clear();
  }

  private onVerdict(h: HostTrack, e: EventOf<'path.verdict'>, emit: EmitFinding): void {
    const v = e.payload;
    h.verdicts.set(v.uniqueId, v);
    h.verdictByConn.set(v.ikeSaName, v);
    const fix = bestFix(v.fixes);
    const atRisk = v.verdict === 'at-risk';
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
    emit(f);
  }

  // ------------------------------------------------------------------ time

  private finalizeDue(h: HostTrack, now: number, emit: EmitFinding): void {
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

  private finalize(h: HostTrack, p: Pending, emit: EmitFinding): void {
    const old = p.old;
    const intent = h.intents.get(old.uid);
    h.sas.delete(old.uid);
    h.intents.delete(old.uid);
    if (p.reported) return;
    const nw = p.newSa;
    if (!nw && !intent?.roamLine && !intent?.reauthLine && !p.reauthTask && !p.manualLine) return; // an SA went down; no reauth
    const newIntent = nw ? h.intents.get(nw.uid) : undefined;
    // A reauth inside a route storm is attributed to the storm: its summaries (route.summary) come
    // first, then the individual changes, each group in time order.
    const ordered = p.triggers.some((n) => n.event.kind === 'route.summary')
      ? [...p.triggers.filter((n) => n.event.kind === 'route.summary'), ...p.triggers.filter((n) => n.event.kind !== 'route.summary')]
      : p.triggers;
    const triggers: Trigger[] = ordered.slice(0, this.cfg.maxTriggers).map((n) => {
      const c = netChange(n.event);
      return { kind: n.kind, summary: c?.summary ?? n.event.kind, ...(c ? { op: c.op, target: c.target } : {}), time: formatUs(n.timeUs), timeUs: n.timeUs, eventId: n.id };
    });
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
    emit(f);
  }

  /** Evidence that the old path really went away, as a phrase, or undefined. */
  private removal(h: HostTrack, p: Pending): string | undefined {
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
        if (n.event.kind === 'route.summary') {
          // A storm: only its examples name routes (the agent keeps routes towards IKE peers out of summaries).
          const ex = n.event.payload.examples.find((x) => x.op === 'removed' && prefixContains(x.route.dst, remote) && x.route.table !== 255);
          if (ex) return `the route ${ex.route.dst} towards the peer ${remote} was removed`;
        }
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ helpers

  private sa(h: HostTrack, ike: IkeSa): SaRec {
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

  private currentSa(h: HostTrack, conn: string): SaRec | undefined {
    let best: SaRec | undefined;
    for (const s of h.sas.values()) {
      if (s.conn === conn && s.downUs === undefined && (!best || (s.upUs ?? 0) > (best.upUs ?? 0))) best = s;
    }
    return best;
  }
}

/** The lowest-ranked (best) fix of a verdict. */
export function bestFix(fixes: Fix[]): Fix | undefined {
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
