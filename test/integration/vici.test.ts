/**
 * The VICI client against real charon 5.9.8 in the lab (test/lab/, docs/lab.md): commands,
 * streamed lists, the event sequence of a route-triggered reauth, terminate, and charon killed
 * and restarted while subscribed.
 */
import type { Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ViciClient } from '../../agent/src/vici/index.js';
import type { TypedViciEvent, ViciConnectionEvent } from '../../agent/src/vici/index.js';
import { createLab } from '../lab/index.js';
import type { Lab } from '../lab/index.js';

let lab: Lab;
let client: ViciClient;
const states: ViciConnectionEvent[] = [];

beforeAll(async () => {
  lab = await createLab({ name: 'vici' });
  // terminate below controls charon on purpose: this test's session may send any command.
  client = new ViciClient({ uri: lab.gw.viciUri, allowedCommands: 'any', commandTimeoutMs: 15_000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  client.connectionEvents$.subscribe((e) => states.push(e));
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await lab?.teardown();
});

/** Collects typed events until `done` says the sequence is complete (or times out). */
function collect(events$: Observable<TypedViciEvent>, done: (seen: TypedViciEvent[]) => boolean, timeoutMs = 20_000): { ready: Promise<void>; result: Promise<TypedViciEvent[]> } {
  const seen: TypedViciEvent[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const result = new Promise<TypedViciEvent[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`timed out; saw: ${seen.map(describeEvent).join(' | ')}`));
    }, timeoutMs);
    const sub = events$.subscribe({
      next: (e) => {
        seen.push(e);
        if (done(seen)) {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(seen);
        }
      },
      error: (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    // Registration is confirmed once a request queued after it completes.
    void client.version().then(() => onReady());
  });
  return { ready, result };
}

function describeEvent(e: TypedViciEvent): string {
  switch (e.type) {
    case 'log':
      return `log(${e.payload.level}) ${e.payload.msg}`;
    case 'ike-updown':
      return `ike-updown ${e.payload.up ? 'up' : 'down'} ${e.payload.ikeSa.name}[${e.payload.ikeSa.uniqueId}] ${e.payload.ikeSa.state}`;
    case 'child-updown':
      return `child-updown ${e.payload.up ? 'up' : 'down'} ${e.payload.child?.name ?? '?'}`;
    default:
      return e.type;
  }
}

const isIkeUp = (e: TypedViciEvent) => e.type === 'ike-updown' && e.payload.up;
const isChildUp = (e: TypedViciEvent) => e.type === 'child-updown' && e.payload.up;

describe('vici client against real charon 5.9.8', () => {
  it('when asked for the version, then charon 5.9.8 answers', async () => {
    const v = await client.version();
    expect(v.daemon).toBe('charon');
    expect(v.version).toBe('5.9.8');
    const stats = await client.stats();
    expect(stats.plugins).toContain('vici');
    expect(stats.ikeSasTotal).toBeGreaterThanOrEqual(1);
  });

  it('when listing SAs and connections, then the lab SA and its config come back typed', async () => {
    const sas = await client.listSas();
    expect(sas).toHaveLength(1);
    const sa = sas[0]!;
    expect(sa).toMatchObject({ name: 'rw', state: 'ESTABLISHED', localHost: lab.connection().localAddress, remoteHost: lab.connection().remoteAddress, initiator: true });
    expect(sa.childSas.map((c) => [c.name, c.state])).toEqual([['net', 'INSTALLED']]);
    expect(await client.listSas({ ike: 'nope' })).toEqual([]);
    const conns = await client.listConns();
    expect(conns.map((c) => c.name)).toEqual(['rw']);
    // local_addrs comes back as configured (a hostname), not as the address it resolved to.
    expect(conns[0]!.localAddrs).toEqual([lab.connection().localAddrs]);
    expect(lab.connection().localAddrs).not.toBe(lab.connection().localAddress);
  });

  it('when an unrelated route changes, then the events show the reauth: down (IKE_REAUTH), child down, new IKE_SA up, child up; then terminate', async () => {
    const before = (await client.listSas())[0]!;
    const { ready, result } = collect(client.events(['ike-updown', 'child-updown', 'ike-rekey', 'log']), (seen) => seen.some(isChildUp) && seen.some(isIkeUp));
    await ready;
    await lab.gw.ip(['route', 'add', '10.231.91.0/24', 'dev', lab.gw.ifname]);
    const seen = await result;
    const i = (pred: (e: TypedViciEvent) => boolean) => seen.findIndex(pred);
    const iReauthLog = i((e) => e.type === 'log' && e.payload.msg === 'reauthenticating IKE_SA due to address change');
    const iDown = i((e) => e.type === 'ike-updown' && !e.payload.up);
    const iChildDown = i((e) => e.type === 'child-updown' && !e.payload.up);
    const iInit = i((e) => e.type === 'log' && e.payload.msg.startsWith('initiating IKE_SA rw['));
    const iUp = i(isIkeUp);
    const iChildUp = i(isChildUp);
    // charon raises log events from a job queue, so a log line may trail an SA event by a few
    // positions; the SA events themselves are raised in order by the IKE_SA's thread.
    const order = [iDown, iChildDown, iUp, iChildUp];
    expect([iReauthLog, iInit, ...order].every((x) => x >= 0), seen.map(describeEvent).join('\n')).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(iReauthLog).toBeLessThan(iUp);
    expect(iInit).toBeGreaterThan(iChildDown);
    const down = seen[iDown]!;
    const up = seen[iUp]!;
    if (down.type !== 'ike-updown' || up.type !== 'ike-updown') throw new Error('unreachable');
    expect(down.payload.ikeSa.uniqueId).toBe(before.uniqueId);
    expect(down.payload.ikeSa.state).toBe('DELETING');
    expect(down.payload.ikeSa.tasksActive).toContain('IKE_REAUTH');
    expect(up.payload.ikeSa.uniqueId).toBe(before.uniqueId + 1);
    expect(up.payload.ikeSa.localHost).toBe(before.localHost);
    expect(up.payload.ikeSa.remoteHost).toBe(before.remoteHost);
    expect(seen.some((e) => e.type === 'ike-rekey')).toBe(false);
    const reauthLog = seen[iReauthLog]!;
    expect(reauthLog.type === 'log' && reauthLog.payload).toMatchObject({ level: 1, group: 'IKE', ikeSaName: 'rw', ikeSaUniqueId: before.uniqueId });
    // Only levels 0 and 1 ever arrive over vici.
    expect(seen.filter((e) => e.type === 'log').every((e) => e.type === 'log' && e.payload.level <= 1)).toBe(true);

    // terminate: ike-updown down and child-updown down, then no SA is left.
    const term = collect(client.events(['ike-updown', 'child-updown']), (s) => s.some((e) => e.type === 'ike-updown' && !e.payload.up) && s.some((e) => e.type === 'child-updown' && !e.payload.up));
    await term.ready;
    const res = await client.terminate({ ike: 'rw', timeoutMs: 10_000 });
    expect(res.matches).toBe(1);
    await term.result;
    expect(await client.listSas()).toEqual([]);

    // initiate brings it back (for the next test).
    await client.initiate({ child: 'net', timeoutMs: 10_000 });
    expect((await client.listSas())[0]?.state).toBe('ESTABLISHED');
  });

  it('when charon is killed and restarted while subscribed, then the client reconnects, re-registers and sees the next events', async () => {
    const events: TypedViciEvent[] = [];
    const sub = client.events(['ike-updown', 'child-updown']).subscribe((e) => events.push(e));
    await client.version();
    const pid = lab.gw.pid();
    expect(pid).toBeDefined();
    const marker = states.length;
    process.kill(pid!, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (lab.gw.running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await lab.startCharon('gw', { initiate: false });
    const deadline1 = Date.now() + 20_000;
    while (!states.slice(marker).some((e) => e.type === 'reconnected') && Date.now() < deadline1) await new Promise((r) => setTimeout(r, 20));
    const changes = states.slice(marker);
    expect(changes[0]).toMatchObject({ type: 'disconnected', reason: 'socket-closed' });
    const reconnected = changes.find((e) => e.type === 'reconnected');
    expect(reconnected?.type === 'reconnected' && [...reconnected.reregistered].sort()).toEqual(['child-updown', 'ike-updown']);
    // The new charon has no SA; initiating one must produce events on the subscription made
    // before the kill.
    expect(events).toEqual([]);
    await client.initiate({ child: 'net', timeoutMs: 10_000 });
    const deadline2 = Date.now() + 10_000;
    while (!(events.some(isIkeUp) && events.some(isChildUp)) && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 20));
    expect(events.map(describeEvent)).toEqual([expect.stringMatching(/^ike-updown up rw\[\d+\] ESTABLISHED$/), 'child-updown up net']);
    expect((await client.version()).version).toBe('5.9.8');
    expect(client.counters.reconnects).toBeGreaterThanOrEqual(1);
    sub.unsubscribe();
  });
});
