/**
 * Synthetic event streams shaped exactly like a real agent's (docs/events.md; the VICI
 * event order of BRIEF.md, verified on charon 5.9.8): for unit tests, the benchmarks and
 * `roamwatch replay` demos. Recorded streams from the lab live in test/fixtures/scenarios.
 */
import { createEventFactory, createManualClock } from '@roamwatch/core';
import type { EventFactory, EventKind, PayloadOf, RoamwatchEvent, IkeSa, ChildSa, Route } from '@roamwatch/core';

export interface SaSpec {
  conn: string;
  uid: string;
  local: string;
  remote: string;
  children?: string[];
  childUid?: number;
  initiator?: boolean;
  state?: string;
  tasksActive?: string[];
  reauthTimeS?: number;
}

export function ikeSa(s: SaSpec, withChildren = true): IkeSa {
  const children: ChildSa[] = withChildren
    ? (s.children ?? [`${s.conn}-net`]).map((name, i) => ({
        name,
        uniqueId: String((s.childUid ?? Number(s.uid) * 10) + i),
        state: 'INSTALLED',
        mode: 'TUNNEL',
        protocol: 'ESP',
        localTs: ['10.1.0.0/16'],
        remoteTs: ['10.2.0.0/16'],
      }))
    : [];
  return {
    name: s.conn,
    uniqueId: s.uid,
    version: 2,
    state: s.state ?? 'ESTABLISHED',
    localHost: s.local,
    localPort: 500,
    remoteHost: s.remote,
    remotePort: 500,
    initiator: s.initiator ?? true,
    ...(s.reauthTimeS !== undefined ? { reauthTimeS: s.reauthTimeS } : {}),
    tasksActive: s.tasksActive ?? [],
    childSas: children,
  };
}

export function route(dst: string, over: Partial<Route> = {}): Route {
  return { family: dst.includes(':') ? 6 : 4, table: 254, dst, type: 'unicast', protocol: 'static', scope: 'universe', oif: 'eth0', oifIndex: 2, ...over };
}

/** Writes one host's events with a manual clock: `at(ms)` moves time, the rest emit. */
export class HostScript {
  readonly events: RoamwatchEvent[] = [];
  private readonly clock;
  private readonly f: EventFactory;
  constructor(
    readonly host: string,
    startUs = 1_795_790_000_000_000,
    validate = true,
  ) {
    this.clock = createManualClock(startUs);
    this.f = createEventFactory({ host, clock: this.clock, validate });
  }
  get nowUs(): number {
    return this.clock.nowUs();
  }
  /** Advance time by `ms` (fractions allowed). */
  after(ms: number): this {
    this.clock.advanceUs(Math.round(ms * 1000));
    return this;
  }
  emit<K extends EventKind>(kind: K, payload: PayloadOf<K>): this {
    this.events.push(this.f.make(kind, payload) as unknown as RoamwatchEvent);
    // Every fact gets its own µs, as the agent's realtime clock guarantees.
    this.clock.advanceUs(1);
    return this;
  }
  log(msg: string, sa?: { conn: string; uid: string }): this {
    return this.emit('vici.log', { group: 'IKE', level: 1, thread: 12, msg, ...(sa ? { ikeSaName: sa.conn, ikeSaUniqueId: sa.uid } : {}) });
  }
  routeAdded(dst: string, over: Partial<Route> = {}): this {
    return this.emit('route.added', { route: route(dst, over) });
  }
  routeRemoved(dst: string, over: Partial<Route> = {}): this {
    return this.emit('route.removed', { route: route(dst, over) });
  }
  addressAdded(address: string, ifName = 'eth0', prefixLen = 32, scope = 'global'): this {
    return this.emit('address.added', { address: { family: address.includes(':') ? 6 : 4, ifIndex: ifName === 'lo' ? 1 : 2, ifName, address, prefixLen, scope, flags: ['permanent'] } });
  }
  addressRemoved(address: string, ifName = 'eth0', prefixLen = 32): this {
    return this.emit('address.removed', { address: { family: address.includes(':') ? 6 : 4, ifIndex: ifName === 'lo' ? 1 : 2, ifName, address, prefixLen, scope: 'global', flags: ['permanent'] } });
  }
  snapshot(sas: SaSpec[], conns: { name: string; localAddrs: string[]; reauthTimeS?: number }[] = [], reason: 'connect' | 'reconnect' | 'periodic' = 'connect'): this {
    return this.emit('vici.sa-snapshot', {
      reason,
      ikeSas: sas.map((s) => ikeSa(s)),
      connections: conns.map((c) => ({ name: c.name, localAddrs: c.localAddrs, remoteAddrs: ['peer.example.net'], ...(c.reauthTimeS !== undefined ? { reauthTimeS: c.reauthTimeS } : {}) })),
    });
  }
  /** IKE_SA and its CHILD_SAs come up (initial establishment). */
  up(s: SaSpec): this {
    this.log(`initiating IKE_SA ${s.conn}[${s.uid}] to ${s.remote}`, { conn: s.conn, uid: s.uid });
    this.after(5).emit('vici.ike-updown', { up: true, ikeSa: ikeSa(s, false) });
    return this.after(1).emit('vici.child-updown', { up: true, ikeSa: ikeSa(s) });
  }
  /**
   * Break-before-make reauthentication as charon 5.9.8 does it after a roam event:
   * (≈100 ms ROAM_DELAY already elapsed) roam log lines → ike-updown down (DELETING,
   * IKE_REAUTH) → child-updown down → "initiating IKE_SA" → ike-updown up → child-updown up.
   */
  reauthBreakBeforeMake(old: SaSpec, next: SaSpec, { roamLines = true, reauthLine = false, newUpAfterMs = 10 } = {}): this {
    if (roamLines) {
      this.log('old path is not available anymore, try to find another', { conn: old.conn, uid: old.uid });
      this.after(0.2).log('reauthenticating IKE_SA due to address change', { conn: old.conn, uid: old.uid });
    }
    if (reauthLine) this.log(`reauthenticating IKE_SA ${old.conn}[${old.uid}]`, { conn: old.conn, uid: old.uid });
    this.after(1).emit('vici.ike-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING', tasksActive: ['IKE_REAUTH'] }) });
    this.after(0.3).emit('vici.child-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING' }) });
    this.after(0.5).log(`initiating IKE_SA ${next.conn}[${next.uid}] to ${next.remote}`, { conn: next.conn, uid: next.uid });
    this.after(newUpAfterMs).emit('vici.ike-updown', { up: true, ikeSa: ikeSa(next, false) });
    return this.after(0.4).emit('vici.child-updown', { up: true, ikeSa: ikeSa(next) });
  }
  /** make_before_break = yes: the new SA and its children up first, then the old goes down. */
  reauthMakeBeforeBreak(old: SaSpec, next: SaSpec, { roamLines = true } = {}): this {
    if (roamLines) {
      this.log('old path is not available anymore, try to find another', { conn: old.conn, uid: old.uid });
      this.after(0.2).log('reauthenticating IKE_SA due to address change', { conn: old.conn, uid: old.uid });
    }
    this.after(0.5).log(`initiating IKE_SA ${next.conn}[${next.uid}] to ${next.remote}`, { conn: next.conn, uid: next.uid });
    this.after(8).emit('vici.ike-updown', { up: true, ikeSa: ikeSa(next, false) });
    this.after(0.4).emit('vici.child-updown', { up: true, ikeSa: ikeSa(next) });
    this.after(2).emit('vici.ike-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING', tasksActive: ['IKE_REAUTH_COMPLETE'] }) });
    return this.after(0.3).emit('vici.child-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING' }) });
  }
  ikeRekey(old: SaSpec, next: SaSpec): this {
    return this.emit('vici.ike-rekey', { old: ikeSa({ ...old, state: 'REKEYED' }), new: ikeSa(next) });
  }
  childRekey(s: SaSpec): this {
    return this.emit('vici.child-rekey', { ikeSa: ikeSa(s) });
  }
}

/**
 * A synthetic fleet: `hosts` gateways, each with `sasPerHost` tunnels, route churn and now
 * and then a spurious reauth, interleaved host by host in event time (as a Kafka topic
 * keyed by host would deliver them to one consumer). About `eventsPerHost` events each.
 */
export function syntheticFleet({ hosts, sasPerHost = 2, eventsPerHost = 100, validate = false, startUs = 1_795_790_000_000_000 }: { hosts: number; sasPerHost?: number; eventsPerHost?: number; validate?: boolean; startUs?: number }): RoamwatchEvent[] {
  const scripts: HostScript[] = [];
  for (let i = 0; i < hosts; i++) {
    const hs = new HostScript(`gw-${i}`, startUs + (i % 1000), validate);
    const local = `192.0.2.${(i % 250) + 1}`;
    let uid = 1;
    const sas: SaSpec[] = [];
    for (let k = 0; k < sasPerHost; k++) {
      const s = { conn: `dc${k}`, uid: String(uid++), local, remote: `198.51.100.${k + 1}` };
      sas.push(s);
      hs.up(s).after(1);
    }
    let n = 0;
    while (hs.events.length < eventsPerHost) {
      n += 1;
      hs.after(50).routeAdded(`203.0.${n % 256}.0/24`, { protocol: 'bgp', gateway: '10.0.0.254' });
      if (n % 10 === 0) {
        const k = n % sasPerHost;
        const old = sas[k]!;
        const next = { ...old, uid: String(uid++) };
        hs.after(100).reauthBreakBeforeMake(old, next);
        sas[k] = next;
      } else if (n % 7 === 0) {
        hs.after(30).childRekey(sas[n % sasPerHost]!);
      }
    }
    scripts.push(hs);
  }
  return mergeByTime(scripts);
}

/** The scripts' events merged by event time (ties by script order): what a consumer of a host-keyed topic sees. */
export function mergeByTime(scripts: HostScript[]): RoamwatchEvent[] {
  const out: RoamwatchEvent[] = [];
  const idx = new Array<number>(scripts.length).fill(0);
  const heap: number[] = [];
  const t = (s: number) => scripts[s]!.events[idx[s]!]!.timeUs;
  const less = (a: number, b: number) => t(a) < t(b) || (t(a) === t(b) && a < b);
  const push = (s: number) => {
    heap.push(s);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  for (let s = 0; s < scripts.length; s++) if (scripts[s]!.events.length) push(s);
  while (heap.length) {
    const s = pop();
    out.push(scripts[s]!.events[idx[s]!]!);
    idx[s]! += 1;
    if (idx[s]! < scripts[s]!.events.length) push(s);
  }
  return out;
}

/**
 * A fleet whose state outlives the records that built it, for the scale-out tests: each host
 * connects (`vici.sa-snapshot` with its connections), brings `sasPerHost` tunnels up, gets an
 * at-risk `path.verdict` with its fix per connection, then carries route churn (one route every
 * `routeEveryMs`) for `durationS` seconds with an `agent.status` every 30 s. Every host
 * reauthenticates break-before-make (charon 5.9.8's shape: the `ike-updown` down lists no
 * CHILD_SAs) at the same moments, every `reauthEveryS` seconds, so a consumer cut at one of
 * those moments has reauths whose down it saw and whose up it did not. A finding then needs
 * the tunnel's CHILD_SA names (from its up minutes before) and the connection's verdict: the
 * state a processor that takes over the partition must rebuild.
 */
export function longLivedFleet({
  hosts,
  sasPerHost = 2,
  durationS = 300,
  routeEveryMs = 2000,
  reauthEveryS = 60,
  reauthGapMs = 10,
  finalStatusAfterS = 0,
  startUs = 1_795_790_000_000_000,
}: {
  hosts: number;
  sasPerHost?: number;
  durationS?: number;
  routeEveryMs?: number;
  reauthEveryS?: number;
  /** From the old IKE_SA's down to the new one's up (a slow peer: the reauth then spans other events). Default 10. */
  reauthGapMs?: number;
  /** > 0: one more `agent.status` this long after the end (a live consumer's clock then passes every retention). */
  finalStatusAfterS?: number;
  startUs?: number;
}): { events: RoamwatchEvent[]; reauthTimesUs: number[] } {
  const scripts: HostScript[] = [];
  const reauthTimesUs: number[] = [];
  for (let i = 0; i < hosts; i++) {
    const t0 = startUs + i * 1000;
    const hs = new HostScript(`gw-${i}`, t0);
    const local = `192.0.2.${(i % 250) + 1}`;
    let uid = 1;
    const sas: SaSpec[] = [];
    for (let k = 0; k < sasPerHost; k++) sas.push({ conn: `dc${k}`, uid: String(uid++), local, remote: `198.51.100.${k + 1}` });
    hs.snapshot([], sas.map((s) => ({ name: s.conn, localAddrs: ['gw.example.net'] })));
    for (const s of sas) hs.after(1).up(s);
    for (const s of sas) {
      const fix = { rank: 1, kind: 'route' as const, command: `ip route add ${s.remote}/32 dev eth0 src ${local}`, why: 'a route with src leads to the local address' };
      hs.after(1).emit('path.verdict', { ikeSaName: s.conn, uniqueId: s.uid, verdict: 'at-risk', localHost: local, remoteHost: s.remote, reasonCode: 'no-route-leads-to-source', reason: `no route has src ${local}`, consequence: 'reauth', fixes: [fix] });
    }
    const endUs = t0 + durationS * 1_000_000;
    let nextRoute = t0 + routeEveryMs * 1000;
    let nextReauth = t0 + reauthEveryS * 1_000_000;
    let nextStatus = t0 + 30_000_000;
    let n = 0;
    let wave = 0;
    const status = () =>
      hs.emit('agent.status', {
        agentVersion: '0.1.0',
        uptimeS: Math.round((hs.nowUs - t0) / 1e6),
        sources: { rtnetlink: { state: 'connected' }, vici: { state: 'connected' } },
        sink: { kind: 'kafka', state: 'ok' },
        spool: { bytes: 0, events: 0, limitBytes: 1 << 30, droppedEvents: 0 },
        eventsEmitted: hs.events.length,
        eventsSent: hs.events.length,
        eventsDropped: 0,
        lagMs: 0,
        ikeSas: sasPerHost,
      });
    // new IKE_SAs still to come up: [time, spec]
    const ups: [number, SaSpec][] = [];
    const up = (nw: SaSpec) => {
      hs.log(`initiating IKE_SA ${nw.conn}[${nw.uid}] to ${nw.remote}`, { conn: nw.conn, uid: nw.uid });
      hs.after(10).emit('vici.ike-updown', { up: true, ikeSa: ikeSa(nw, false) });
      hs.after(0.4).emit('vici.child-updown', { up: true, ikeSa: ikeSa(nw) });
    };
    for (;;) {
      const next = Math.min(nextRoute, nextReauth, nextStatus, ups[0]?.[0] ?? Number.MAX_SAFE_INTEGER);
      if (next >= endUs) break;
      // a route due at the moment of a reauth comes just after it (time never runs backwards)
      hs.after(Math.max(0, next - hs.nowUs) / 1000);
      if (ups.length && next === ups[0]![0]) {
        up(ups.shift()![1]);
      } else if (next === nextReauth) {
        const k = wave % sasPerHost;
        const old = sas[k]!;
        const nw = { ...old, uid: String(uid++) };
        hs.routeAdded(`198.18.${wave % 256}.0/24`, { protocol: 'bgp', gateway: '10.0.0.254' }).after(100);
        if (i === 0) reauthTimesUs.push(hs.nowUs - t0);
        hs.log('old path is not available anymore, try to find another', { conn: old.conn, uid: old.uid });
        hs.after(0.2).log('reauthenticating IKE_SA due to address change', { conn: old.conn, uid: old.uid });
        hs.after(1).emit('vici.ike-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING', tasksActive: ['IKE_REAUTH'] }, false) });
        hs.after(0.3).emit('vici.child-updown', { up: false, ikeSa: ikeSa({ ...old, state: 'DELETING' }) });
        if (reauthGapMs <= 10) {
          hs.after(0.5);
          up(nw);
        } else {
          ups.push([hs.nowUs + Math.round((reauthGapMs - 10) * 1000), nw]);
        }
        sas[k] = nw;
        wave += 1;
        nextReauth += reauthEveryS * 1_000_000;
      } else if (next === nextStatus) {
        status();
        nextStatus += 30_000_000;
      } else {
        n += 1;
        hs.routeAdded(`203.0.${n % 256}.0/24`, { protocol: 'bgp', gateway: '10.0.0.254' });
        nextRoute += routeEveryMs * 1000;
      }
    }
    for (const [at, nw] of ups) {
      hs.after(Math.max(0, at - hs.nowUs) / 1000);
      up(nw);
    }
    if (finalStatusAfterS > 0) {
      hs.after((endUs + finalStatusAfterS * 1_000_000 - hs.nowUs) / 1000);
      status();
    }
    scripts.push(hs);
  }
  return { events: mergeByTime(scripts), reauthTimesUs };
}
