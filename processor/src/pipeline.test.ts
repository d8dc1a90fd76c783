import { describe, it, expect } from 'vitest';
import { from, lastValueFrom, toArray, map, filter } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { encodeEvent } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { processEvents, orderByEventTime, Pipeline } from './pipeline.js';
import type { PipelineInput, PipelineOutput, ReauthFinding, AtRiskFinding, MetricPoint } from './types.js';
import { HostScript, syntheticFleet } from './synthetic.js';
import type { SaSpec } from './synthetic.js';
import { toLineProtocol } from './points.js';

type Out = PipelineOutput<number>;

async function run(events: (RoamwatchEvent | string)[], opts: Parameters<typeof processEvents>[0] = {}): Promise<Out[]> {
  const inputs: PipelineInput<number>[] = events.map((e, i) => ({ type: 'record', value: typeof e === 'string' ? e : encodeEvent(e), ref: i }));
  return lastValueFrom(from(inputs).pipe(processEvents<number>(opts), toArray()));
}
const findings = (out: Out[]) => out.flatMap((o) => (o.type === 'finding' ? [o.finding] : []));
const reauths = (out: Out[]) => findings(out).filter((f): f is ReauthFinding => f.type === 'reauth');
const points = (out: Out[], m?: string) => out.flatMap((o) => (o.type === 'point' && (!m || o.point.measurement === m) ? [o.point] : []));

const old: SaSpec = { conn: 'dc2', uid: '7', local: '192.0.2.1', remote: '198.51.100.7' };
const next: SaSpec = { ...old, uid: '8' };

function established(host = 'gw-17'): HostScript {
  return new HostScript(host).snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]).after(10).up(old).after(60_000);
}

describe('processor pipeline', () => {
  it('when an unrelated route is added and charon reauthenticates 100 ms later with the same addresses (break-before-make), then one spurious finding names the route, latency ≈100 ms and the downtime', async () => {
    const h = established().routeAdded('203.0.113.0/24', { protocol: 'bgp', gateway: '10.0.0.254' }).after(100).reauthBreakBeforeMake(old, next);
    const out = await run(h.events);
    const [f, ...rest] = reauths(out);
    expect(rest).toHaveLength(0);
    expect(f).toMatchObject({
      type: 'reauth',
      host: 'gw-17',
      conn: 'dc2',
      classification: 'spurious',
      order: 'break-before-make',
      oldUniqueId: '7',
      newUniqueId: '8',
      localBefore: '192.0.2.1',
      localAfter: '192.0.2.1',
      remoteBefore: '198.51.100.7',
      remoteAfter: '198.51.100.7',
    });
    expect(f!.latencyMs).toBeGreaterThanOrEqual(100);
    expect(f!.latencyMs).toBeLessThan(102);
    expect(f!.downtimeMs).toBeGreaterThan(10);
    expect(f!.downtimeMs).toBeLessThan(12);
    expect(f!.triggers).toHaveLength(1);
    expect(f!.triggers[0]).toMatchObject({ kind: 'route' });
    expect(f!.triggers[0]!.summary).toContain('203.0.113.0/24 via 10.0.0.254 dev eth0 table main proto bgp');
    expect(f!.evidence).toContain('reauthenticating IKE_SA due to address change');
    const [p] = points(out, 'roamwatch_reauth');
    expect(p!.tags).toEqual({ host: 'gw-17', conn: 'dc2', class: 'spurious', trigger_kind: 'route' });
    expect(p!.ints).toEqual({ count: 1 });
    expect(p!.floats!.latency_ms).toBe(f!.latencyMs);
  });

  it('when make-before-break brings the new SA up before the old goes down, then it is still one spurious reauth with zero downtime', async () => {
    const h = established().routeRemoved('203.0.113.0/24').after(101).reauthMakeBeforeBreak(old, next);
    const [f, ...rest] = reauths(await run(h.events));
    expect(rest).toHaveLength(0);
    expect(f).toMatchObject({ classification: 'spurious', order: 'make-before-break', oldUniqueId: '7', newUniqueId: '8', downtimeMs: 0 });
  });

  it('when routes change but no SA goes down (the fix: a route with src), then there is no finding and the changes are counted per 10 s window', async () => {
    const h = established();
    for (let i = 0; i < 4; i++) h.after(1000).routeAdded(`203.0.11${i}.0/24`);
    h.after(500).routeRemoved('203.0.110.0/24');
    const out = await run(h.events);
    expect(findings(out)).toHaveLength(0);
    const counts = points(out, 'roamwatch_net_changes');
    const total = (op: string) => counts.filter((p) => p.tags.op === op).reduce((a, p) => a + p.ints!.count!, 0);
    expect(total('added')).toBe(4);
    expect(total('removed')).toBe(1);
    for (const p of counts) expect(BigInt(p.timeNs) % 10_000_000_000n).toBe(0n);
  });

  it('when the new SA leaves the loopback address for an interface address, then it is address-moved', async () => {
    const h = established().routeAdded('0.0.0.0/0', { gateway: '10.0.0.1' }).after(100).reauthBreakBeforeMake(old, { ...next, local: '10.0.0.2' });
    expect(reauths(await run(h.events))[0]).toMatchObject({ classification: 'address-moved', localBefore: '192.0.2.1', localAfter: '10.0.0.2' });
  });

  it('when the local address is really removed before the reauth, then it is legitimate', async () => {
    const h = established().addressRemoved('192.0.2.1', 'lo').after(100).reauthBreakBeforeMake(old, { ...next, local: '10.0.0.2' });
    const [f] = reauths(await run(h.events));
    expect(f).toMatchObject({ classification: 'legitimate' });
    expect(f!.reason).toContain('192.0.2.1 was removed');
    expect(f!.triggers[0]!.kind).toBe('address');
  });

  it('when an IPv6 link-local address appears and charon reauthenticates, then the trigger is the address and the class spurious', async () => {
    const h = established().addressAdded('fe80::5054:ff:fe12:3456', 'eth0', 64, 'link').after(104).reauthBreakBeforeMake(old, next);
    const [f] = reauths(await run(h.events));
    expect(f).toMatchObject({ classification: 'spurious' });
    expect(f!.triggers.map((t) => t.summary)).toEqual(['address fe80::5054:ff:fe12:3456/64 dev eth0 scope link added']);
  });

  it("when charon's reauth_time expires (no roam line, no trigger), then it is scheduled", async () => {
    const h = established().reauthBreakBeforeMake(old, next, { roamLines: false, reauthLine: true });
    const [f] = reauths(await run(h.events));
    expect(f).toMatchObject({ classification: 'scheduled', latencyMs: null, triggers: [] });
    expect(points(await run(h.events), 'roamwatch_reauth')[0]!.tags.trigger_kind).toBe('none');
  });

  it('when a VICI command asked for the reauth, then it is manual', async () => {
    const h = established().log("vici rekey IKE_SA 'dc2' (reauth)").after(2).reauthBreakBeforeMake(old, next, { roamLines: false, reauthLine: true });
    expect(reauths(await run(h.events))[0]).toMatchObject({ classification: 'manual' });
  });

  it('when the peer deletes the old SA and initiates the new one, then it is peer', async () => {
    const h = established()
      .log('received DELETE for IKE_SA dc2[7]', { conn: 'dc2', uid: '7' })
      .after(1)
      .emit('vici.ike-updown', { up: false, ikeSa: { name: 'dc2', uniqueId: '7', state: 'DELETING', localHost: old.local, remoteHost: old.remote, initiator: true, childSas: [{ name: 'dc2-net', uniqueId: '70', state: 'INSTALLED' }] } })
      .after(1)
      .emit('vici.child-updown', { up: false, ikeSa: { name: 'dc2', uniqueId: '7', state: 'DELETING', childSas: [{ name: 'dc2-net', uniqueId: '70', state: 'INSTALLED' }] } })
      .after(500)
      .emit('vici.ike-updown', { up: true, ikeSa: { name: 'dc2', uniqueId: '8', state: 'ESTABLISHED', localHost: old.local, remoteHost: old.remote, initiator: false, childSas: [] } })
      .emit('vici.child-updown', { up: true, ikeSa: { name: 'dc2', uniqueId: '8', state: 'ESTABLISHED', initiator: false, childSas: [{ name: 'dc2-net', uniqueId: '80', state: 'INSTALLED' }] } });
    const [f] = reauths(await run(h.events));
    expect(f).toMatchObject({ classification: 'peer', newUniqueId: '8' });
    expect(f!.downtimeMs).toBeCloseTo(500, 1);
  });

  it('when IKE and CHILD SAs are rekeyed, then rekeys are counted and no reauth is reported', async () => {
    const h = established().after(1000).ikeRekey(old, next).after(5).emit('vici.ike-updown', { up: false, ikeSa: { name: 'dc2', uniqueId: '7', state: 'REKEYED', childSas: [] } }).after(1000).childRekey(next);
    const out = await run(h.events);
    expect(reauths(out)).toHaveLength(0);
    expect(points(out, 'roamwatch_rekey').map((p) => p.tags.sa)).toEqual(['ike', 'child']);
    // and a later route-triggered reauth of the rekeyed SA is paired with the new unique id
    const h2 = established().ikeRekey(old, next).after(1000).routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(next, { ...next, uid: '9' });
    expect(reauths(await run(h2.events))[0]).toMatchObject({ classification: 'spurious', oldUniqueId: '8', newUniqueId: '9' });
  });

  it('when an SA simply goes down (terminate) with no reauth evidence and nothing comes back, then there is no finding', async () => {
    const h = established().emit('vici.ike-updown', { up: false, ikeSa: { name: 'dc2', uniqueId: '7', state: 'DELETING', childSas: [] } }).after(60_000).routeAdded('203.0.113.0/24');
    expect(reauths(await run(h.events))).toHaveLength(0);
  });

  it('when charon restarts (vici disconnected, unique ids start over), then the new SAs are not mistaken for reauths', async () => {
    const h = established()
      .emit('vici.connection', { state: 'disconnected', uri: 'unix:///var/run/charon.vici', reason: 'EOF' })
      .after(2000)
      .emit('vici.connection', { state: 'connected', uri: 'unix:///var/run/charon.vici', attempts: 2 })
      .snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }], 'reconnect')
      .after(50)
      .up({ ...old, uid: '1' })
      .after(10_000)
      .routeAdded('203.0.113.0/24')
      .after(100)
      .reauthBreakBeforeMake({ ...old, uid: '1' }, { ...old, uid: '2' });
    const rs = reauths(await run(h.events));
    expect(rs.map((f) => [f.oldUniqueId, f.newUniqueId, f.classification])).toEqual([['1', '2', 'spurious']]);
  });

  it('when the path analyzer says at-risk, then one at-risk finding carries the fix, and a later reauth carries it too', async () => {
    const fix = { rank: 1, kind: 'route' as const, command: 'ip route add 198.51.100.7/32 dev eth0 src 192.0.2.1', why: 'a route with src leads to the local address' };
    const verdict = { ikeSaName: 'dc2', uniqueId: '7', localHost: old.local, remoteHost: old.remote, reasonCode: 'no-route-leads-to-source', reason: 'no route has src 192.0.2.1', consequence: 'reauth' as const, fixes: [fix] };
    const h = established()
      .emit('path.verdict', { ...verdict, verdict: 'at-risk' })
      .after(10)
      .emit('path.verdict', { ...verdict, verdict: 'at-risk', previous: 'at-risk' })
      .after(1000)
      .routeAdded('203.0.113.0/24')
      .after(100)
      .reauthBreakBeforeMake(old, next);
    const out = await run(h.events);
    const risk = findings(out).filter((f): f is AtRiskFinding => f.type === 'at-risk');
    expect(risk).toHaveLength(1);
    expect(risk[0]).toMatchObject({ conn: 'dc2', uniqueId: '7', atRisk: true, fix });
    expect(reauths(out)[0]!.fix).toEqual(fix);
    // two verdicts, then `gone` when the at-risk SA went down in the reauth (the agent reports the new SA's own verdict)
    expect(points(out, 'roamwatch_path').map((p) => p.strings!['verdict'])).toEqual(['at-risk', 'at-risk', 'gone']);
    expect(points(out, 'roamwatch_reauth')[0]!.strings!.fix).toBe(fix.command);
  });

  it('when events of a host arrive out of order within the allowed lateness, then the findings and points equal those of the ordered stream', async () => {
    const h = established().routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next);
    const shuffled = [...h.events];
    // swap neighbours pairwise: every event moves by one position, well within 2 s
    for (let i = 0; i + 1 < shuffled.length; i += 2) [shuffled[i], shuffled[i + 1]] = [shuffled[i + 1]!, shuffled[i]!];
    const a = await run(h.events);
    const b = await run(shuffled);
    expect(findings(b)).toEqual(findings(a));
    expect(points(b).map(toLineProtocol).sort()).toEqual(points(a).map(toLineProtocol).sort());
  });

  it('when an event arrives later than the allowed lateness, then it is processed but counted late and its closed window is not amended', async () => {
    // early (t) arrives last: after t+15 s was already released by the t+40 s event.
    const h = established().routeAdded('203.0.113.0/24');
    const early = h.events[h.events.length - 1]!;
    h.after(15_000).routeAdded('203.0.114.0/24').after(25_000).routeAdded('203.0.115.0/24');
    const events = [...h.events.filter((e) => e !== early), early];
    const inputs: PipelineInput<number>[] = events.map((e, i) => ({ type: 'record', value: e, ref: i }));
    const p = new Pipeline<number>();
    const out: Out[] = [];
    for (const x of inputs) p.push(x, (o) => out.push(o));
    p.flush((o) => out.push(o));
    expect(p.stats().late).toBe(1);
    expect(p.stats().lateNetChanges).toBe(1);
    const released = out.flatMap((o) => (o.type === 'release' ? o.refs : []));
    expect(released.sort((x, y) => x - y)).toEqual(inputs.map((_, i) => i));
  });

  it('when an agent re-sends events (same ids), then duplicates are dropped but still released', async () => {
    const h = established().routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next);
    const out = await run([...h.events, ...h.events.slice(-6)]);
    expect(reauths(out)).toHaveLength(1);
    const released = out.flatMap((o) => (o.type === 'release' ? o.refs : []));
    expect(released).toHaveLength(h.events.length + 6);
  });

  it('when a poison message arrives, then it becomes a dead letter naming the field and the pipeline goes on', async () => {
    const h = established().routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next);
    const bad = JSON.stringify({ ...h.events[0], payload: { reason: 'nope' } });
    const events: (RoamwatchEvent | string)[] = [...h.events];
    events.splice(3, 0, 'not json at all', bad);
    const out = await run(events);
    const dls = out.filter((o) => o.type === 'dead-letter');
    expect(dls).toHaveLength(2);
    expect(dls[0]).toMatchObject({ code: 'not-json', ref: 3 });
    expect(dls[1]).toMatchObject({ code: 'invalid-event', ref: 4 });
    expect(dls[1]!.type === 'dead-letter' && dls[1]!.reason).toMatch(/payload\.reason/);
    expect(reauths(out)).toHaveLength(1);
  });

  it('when the same events are replayed twice, then findings and points are identical, and every record is released exactly once after its outputs', async () => {
    const events = syntheticFleet({ hosts: 20, eventsPerHost: 120, validate: true });
    const a = await run(events);
    const b = await run(events);
    expect(b.filter((o) => o.type !== 'release')).toEqual(a.filter((o) => o.type !== 'release'));
    const released = a.flatMap((o) => (o.type === 'release' ? o.refs : []));
    expect(new Set(released).size).toBe(events.length);
    expect(released.length).toBe(events.length);
    expect(reauths(a).length).toBeGreaterThan(20);
    expect(reauths(a).every((f) => f.classification === 'spurious')).toBe(true);
  });

  it('when a record is part of an open reauth, then it is not released before the reauth point is emitted', async () => {
    const h = established().routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next).after(60_000).routeAdded('203.0.9.0/24').after(60_000).routeAdded('203.0.10.0/24');
    const out = await run(h.events, { flushOnComplete: false });
    const reauthAt = out.findIndex((o) => o.type === 'point' && o.point.measurement === 'roamwatch_reauth');
    expect(reauthAt).toBeGreaterThan(-1);
    const triggerIdx = h.events.findIndex((e) => e.kind === 'route.added');
    const releasedAt = out.findIndex((o) => o.type === 'release' && o.refs.includes(triggerIdx));
    expect(releasedAt).toBeGreaterThan(reauthAt);
  });
});

describe('operators (marble tests)', () => {
  const mk = () => new HostScript('gw-1');

  it('orderByEventTime: when two events of a host arrive swapped, then they leave in event-time order once the watermark passes', () => {
    const h = mk().routeAdded('203.0.1.0/24').after(10).routeAdded('203.0.2.0/24').after(5000).routeAdded('203.0.3.0/24');
    const [e1, e2, e3] = h.events as [RoamwatchEvent, RoamwatchEvent, RoamwatchEvent];
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const src = cold('-b-a-c------|', { a: { type: 'event' as const, event: e1 }, b: { type: 'event' as const, event: e2 }, c: { type: 'event' as const, event: e3 } });
      const ev = (e: RoamwatchEvent) => ({ type: 'event', event: e, ref: undefined, late: false, duplicate: false });
      expectObservable(src.pipe(orderByEventTime({ allowedLatenessMs: 2000 }))).toBe('-----(xy)---(zw|)', {
        x: ev(e1),
        y: ev(e2),
        z: ev(e3),
        w: { type: 'watermark', host: 'gw-1', timeUs: Number.MAX_SAFE_INTEGER },
      });
    });
  });

  it('orderByEventTime: when processing time passes with ticks, then a silent host releases its events', () => {
    const h = mk().routeAdded('203.0.1.0/24');
    const e1 = h.events[0]!;
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const src = cold('t-a-u-v-w', {
        t: { type: 'tick' as const, nowUs: 1_000_000 },
        a: { type: 'event' as const, event: e1 },
        u: { type: 'tick' as const, nowUs: 2_000_000 },
        v: { type: 'tick' as const, nowUs: 3_500_000 },
        w: { type: 'tick' as const, nowUs: 5_000_000 },
      });
      expectObservable(src.pipe(orderByEventTime({ allowedLatenessMs: 2000 }))).toBe('------y-(xz)', {
        y: { type: 'watermark', host: 'gw-1', timeUs: e1.timeUs - 500_000 },
        x: { type: 'event', event: e1, ref: undefined, late: false, duplicate: false },
        z: { type: 'watermark', host: 'gw-1', timeUs: e1.timeUs + 1_000_000 },
      });
    });
  });

  it('processEvents: when a reauth completes, then its point and finding follow the new CHILD_SA up event in the same frame', () => {
    const h = established('gw-2').routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next);
    const n = h.events.length;
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const values: Record<string, PipelineInput<never>> = {};
      let marbles = '';
      h.events.forEach((e, i) => {
        const k = String.fromCharCode(65 + i);
        values[k] = { type: 'record', value: e };
        marbles += k;
      });
      const kinds = (o: PipelineOutput<never>) => (o.type === 'point' ? `point:${o.point.measurement}` : o.type === 'finding' ? `finding:${o.finding.type}` : o.type);
      const out = cold(marbles + '---|', values).pipe(
        processEvents({ allowedLatenessMs: 0 }),
        map(kinds),
        filter((k) => k === 'point:roamwatch_reauth' || k === 'finding:reauth'),
      );
      expectObservable(out).toBe(`${'-'.repeat(n - 1)}(pf)|`, { p: 'point:roamwatch_reauth', f: 'finding:reauth' });
    });
  });
});

describe('line protocol', () => {
  it('when tags and strings need escaping, then the line is valid and stable', () => {
    const p: MetricPoint = { measurement: 'roamwatch_reauth', tags: { host: 'gw 1', conn: 'a,b=c' }, ints: { count: 1 }, floats: { latency_ms: 101.5 }, strings: { trigger: 'route "x" \\ y' }, timeNs: '1795790000000000000' };
    expect(toLineProtocol(p)).toBe('roamwatch_reauth,conn=a\\,b\\=c,host=gw\\ 1 count=1i,latency_ms=101.5,trigger="route \\"x\\" \\\\ y" 1795790000000000000');
  });

  it('when a tag value holds a newline or a number is not finite, then the line is still one valid line', () => {
    const p: MetricPoint = { measurement: 'roamwatch_reauth', tags: { host: 'gw\n1', conn: 'c' }, ints: { count: Number.NaN }, floats: { latency_ms: Number.POSITIVE_INFINITY }, timeNs: '1795790000000000000' };
    expect(toLineProtocol(p)).toBe('roamwatch_reauth,conn=c,host=gw\\ 1 count=0i,latency_ms=0 1795790000000000000');
  });

  it('when fields of every kind are present, then they are sorted by key across kinds', () => {
    const p: MetricPoint = { measurement: 'm', tags: { b: '2', a: '1', e: '' }, ints: { z: 1 }, floats: { a: 0.5 }, strings: { m: 'x' }, timeNs: '1' };
    expect(toLineProtocol(p)).toBe('m,a=1,b=2 a=0.5,m="x",z=1i 1');
  });
});
