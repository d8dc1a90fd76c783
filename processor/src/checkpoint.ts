/**
 * checkpoint: a host's correlation state as plain JSON, so that a processor that is assigned
 * the host's Kafka partition (a rebalance: an instance joined, left or was killed) rebuilds it
 * exactly instead of starting from nothing (docs/processor.md "Scale-out").
 *
 * What a checkpoint holds is the state of the *shadow* tracker (correlate.ts): a second
 * ReauthTracker that is fed only the records the retention barrier has released, in the order
 * it released them. Its state is therefore the state after exactly the released prefix of the
 * host's stream, which is also what the committed offsets stand for: everything the barrier
 * still holds (open reauths, count windows, recent log lines) is re-read from the committed
 * offset by the new owner and rebuilt from the records themselves. The long-lived part, which
 * no retained record carries any more (IKE_SAs that came up hours ago with their CHILD_SA
 * names, the connections of the last `vici.sa-snapshot`, the latest path verdicts, which
 * interface carries which address), comes from the checkpoint.
 *
 * `frontier` is the newest (timeUs, seq) whose effect is in the state: the new owner skips the
 * re-read events at or before it (their outputs were acknowledged before the checkpoint was
 * written, see edges/processor.ts) and applies the rest.
 *
 * Pure: serialize and parse, no I/O.
 */
import type { Connection, PathVerdict, RoamwatchEvent } from '@roamwatch/core';
import { HostTrack } from './reauth-tracker.js';
import type { ChildRec, Intent, NetRec, Pending, SaRec } from './reauth-tracker.js';

export const CHECKPOINT_VERSION = 1;

/**
 * At most this many recent routing events go into a checkpoint (the tracker keeps those of the
 * last attribution + pair window, for the triggers of reauths still to come). A storm beyond it
 * can cost a reauth that straddles a partition move some of its listed triggers, never its
 * pairing or classification by log lines.
 */
export const CHECKPOINT_MAX_NET = 4096;

export interface EventPosition {
  timeUs: number;
  seq: number;
}

export interface HostCheckpoint {
  v: typeof CHECKPOINT_VERSION;
  host: string;
  /** The host's event-time clock when the checkpoint was taken (µs): count windows that ended before it are written. */
  clockUs: number;
  /** The newest event (by time, then seq) whose effect is in `state`; zero when none. */
  frontier: EventPosition;
  /** Kafka partition of the host's records (the edge fills it in). */
  partition?: number;
  state: TrackState;
}

interface SaState {
  conn: string;
  uid: string;
  local: string | null;
  remote: string | null;
  initiator?: boolean;
  upUs?: number;
  downUs?: number;
  establishedS?: number;
  children: [string, ChildRec][];
  rekeyed: boolean;
  paired: boolean;
}

interface NetState {
  timeUs: number;
  kind: NetRec['kind'];
  op: NetRec['op'];
  id: string;
  event: RoamwatchEvent;
}

interface PendingState {
  conn: string;
  old: number;
  newSa: number | null;
  oldChildNames: string[];
  startUs: number;
  downUs: number;
  order: Pending['order'];
  deadlineUs: number;
  reauthTask: boolean;
  manualLine: boolean;
  triggers: NetState[];
}

export interface TrackState {
  /** Every SA record the state refers to (live ones and those of open reauths), once each. */
  sas: SaState[];
  /** Indexes into `sas` of the host's live SAs (by unique id). */
  live: number[];
  conns: Connection[];
  intents: [string, Intent][];
  manualUs: number[];
  net: NetState[];
  removedAddrs: [string, number][];
  addrIf: [string, string][];
  linkDown: [string, number][];
  pendings: PendingState[];
  verdicts: [string, PathVerdict][];
  verdictByConn: [string, PathVerdict][];
  atRisk: [string, boolean][];
}

/** `a` is at or before `b` in a host's event order (time, then the agent's sequence number). */
export function atOrBefore(a: EventPosition, b: EventPosition): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq <= b.seq);
}

const netState = (n: NetRec): NetState => ({ timeUs: n.timeUs, kind: n.kind, op: n.op, id: n.id, event: n.event });
const netRec = (n: NetState): NetRec => ({ timeUs: n.timeUs, kind: n.kind, op: n.op, id: n.id, event: n.event });

/** The tracker state of one host as JSON-safe data (shared SA records become indexes). */
export function trackState(h: HostTrack): TrackState {
  const index = new Map<SaRec, number>();
  const sas: SaState[] = [];
  const ref = (s: SaRec): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = sas.length;
      index.set(s, i);
      sas.push({
        conn: s.conn,
        uid: s.uid,
        local: s.local,
        remote: s.remote,
        ...(s.initiator !== undefined ? { initiator: s.initiator } : {}),
        ...(s.upUs !== undefined ? { upUs: s.upUs } : {}),
        ...(s.downUs !== undefined ? { downUs: s.downUs } : {}),
        ...(s.establishedS !== undefined ? { establishedS: s.establishedS } : {}),
        children: [...s.children].map(([name, c]) => [name, { ...c }]),
        rekeyed: s.rekeyed,
        paired: s.paired,
      });
    }
    return i;
  };
  const live = [...h.sas.values()].map(ref);
  const pendings = h.pendings.map(
    (p): PendingState => ({
      conn: p.conn,
      old: ref(p.old),
      newSa: p.newSa ? ref(p.newSa) : null,
      oldChildNames: [...p.oldChildNames],
      startUs: p.startUs,
      downUs: p.downUs,
      order: p.order,
      deadlineUs: p.deadlineUs,
      reauthTask: p.reauthTask,
      manualLine: p.manualLine,
      triggers: p.triggers.map(netState),
    }),
  );
  return {
    sas,
    live,
    conns: [...h.conns.values()],
    intents: [...h.intents].map(([uid, it]) => [uid, { ...it, lines: [...it.lines] }]),
    manualUs: [...h.manualUs],
    net: h.net.slice(-CHECKPOINT_MAX_NET).map(netState),
    removedAddrs: [...h.removedAddrs],
    addrIf: [...h.addrIf],
    linkDown: [...h.linkDown],
    pendings,
    verdicts: [...h.verdicts],
    verdictByConn: [...h.verdictByConn],
    atRisk: [...h.atRisk],
  };
}

/** A HostTrack from its JSON state (a fresh object graph: restoring twice gives two independent states). */
export function restoreTrack(host: string, st: TrackState): HostTrack {
  const h = new HostTrack(host);
  const sas = st.sas.map(
    (s): SaRec => ({
      conn: s.conn,
      uid: s.uid,
      local: s.local,
      remote: s.remote,
      initiator: s.initiator,
      upUs: s.upUs,
      downUs: s.downUs,
      establishedS: s.establishedS,
      children: new Map(s.children.map(([name, c]) => [name, { ...c }])),
      rekeyed: s.rekeyed,
      paired: s.paired,
    }),
  );
  const at = (i: number): SaRec => {
    const s = sas[i];
    if (!s) throw new Error(`checkpoint of ${host}: SA index ${i} out of range`);
    return s;
  };
  for (const i of st.live) h.sas.set(at(i).uid, at(i));
  for (const c of st.conns) h.conns.set(c.name, c);
  for (const [uid, it] of st.intents) h.intents.set(uid, { ...it, lines: [...it.lines] });
  h.manualUs = [...st.manualUs];
  h.net = st.net.map(netRec);
  h.removedAddrs = new Map(st.removedAddrs);
  h.addrIf = new Map(st.addrIf);
  h.linkDown = new Map(st.linkDown);
  h.pendings = st.pendings.map(
    (p): Pending => ({
      conn: p.conn,
      old: at(p.old),
      newSa: p.newSa === null ? undefined : at(p.newSa),
      oldChildNames: [...p.oldChildNames],
      startUs: p.startUs,
      downUs: p.downUs,
      order: p.order,
      deadlineUs: p.deadlineUs,
      reauthTask: p.reauthTask,
      manualLine: p.manualLine,
      triggers: p.triggers.map(netRec),
      // The shadow only sees a reauth's records once the barrier released them, and the barrier
      // holds them while the reauth is open: the previous owner already reported it.
      reported: true,
    }),
  );
  h.verdicts = new Map(st.verdicts);
  h.verdictByConn = new Map(st.verdictByConn);
  h.atRisk = new Map(st.atRisk);
  return h;
}

/** Parses a checkpoint record's value; a clear error naming what is wrong (the edge logs it and rebuilds that host from its records alone). */
export function parseCheckpoint(value: string | Buffer): HostCheckpoint {
  const cp = JSON.parse(typeof value === 'string' ? value : value.toString('utf8')) as Partial<HostCheckpoint>;
  if (cp.v !== CHECKPOINT_VERSION) throw new Error(`unsupported checkpoint version ${String(cp.v)} (this processor reads ${CHECKPOINT_VERSION})`);
  if (typeof cp.host !== 'string' || !cp.host) throw new Error('checkpoint without a host');
  if (typeof cp.clockUs !== 'number' || !cp.frontier || typeof cp.frontier.timeUs !== 'number' || typeof cp.frontier.seq !== 'number') throw new Error(`checkpoint of ${cp.host}: clockUs/frontier missing`);
  if (!cp.state || !Array.isArray(cp.state.sas) || !Array.isArray(cp.state.live) || !Array.isArray(cp.state.pendings)) throw new Error(`checkpoint of ${cp.host}: state incomplete`);
  return cp as HostCheckpoint;
}
