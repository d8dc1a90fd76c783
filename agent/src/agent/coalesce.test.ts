import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import { EXAMPLE_PAYLOADS, createEventFactory, createManualClock, validateEvent } from '@roamwatch/core';
import type { Route, RouteSummary } from '@roamwatch/core';
import { PeerRoutes, StormCoalescer, coveringPrefixes } from './coalesce.js';
import { createAgentSources } from './sources.js';
import type { SourceAdapter, SourceContext } from './sources.js';

const T0 = 1_800_000_000_000_000;
const route = (i: number, table = 254, family: 4 | 6 = 4): Route =>
  family === 4
    ? { family, table, dst: `10.${(i >> 8) & 255}.${i & 255}.0/24`, type: 'unicast', protocol: 'bird', scope: 'universe', gateway: '10.0.0.254', oif: 'eth0' }
    : { family, table, dst: `2001:db8:${i.toString(16)}::/48`, type: 'unicast', protocol: 'bird', scope: 'universe', gateway: 'fe80::1', oif: 'eth0' };

describe('StormCoalescer', () => {
  it('when route changes stay at or below the threshold, then none is coalesced', () => {
    const c = new StormCoalescer({ thresholdPerS: 100, summaryIntervalMs: 1000, examples: 3 });
    // 100 changes in each of 5 seconds.
    for (let s = 0; s < 5; s++) for (let i = 0; i < 100; i++) expect(c.offer('route.added', route(i).family, route(i).table, route(i), T0 + s * 1_000_000 + i * 1000)).toBe(false);
    expect(c.active).toBe(false);
    expect(c.stats.coalesced).toBe(0);
  });

  it('when a storm passes the threshold, then the rest is counted exactly per table and family, summarized each interval, and individual changes resume after the final summary', () => {
    const c = new StormCoalescer({ thresholdPerS: 100, summaryIntervalMs: 1000, examples: 3 });
    const summaries: RouteSummary[] = [];
    let individual = 0;
    let t = T0;
    // 2.5 s at 2000 changes/s: adds in main (v4) and table 10 (v6), then removes in main.
    for (let i = 0; i < 5000; i++) {
      t = T0 + i * 500;
      const kind = i < 3000 ? 'route.added' : 'route.removed';
      const r = i % 4 === 0 ? route(i, 10, 6) : route(i);
      if (!c.offer(kind, r.family, r.table, r, t)) individual += 1;
      const s = c.tick(t);
      if (s) summaries.push(s);
    }
    expect(individual).toBe(100);
    expect(c.active).toBe(true);
    // Quiet: the tick that covers the rest of the storm summarizes it, the next one ends it.
    const rest = c.tick(t + 1_000_000);
    expect(rest?.final).toBe(false);
    summaries.push(rest!);
    const last = c.tick(t + 2_000_000);
    expect(last?.final).toBe(true);
    expect(last?.changes).toBe(0);
    summaries.push(last!);
    expect(c.active).toBe(false);
    expect(summaries.map((s) => s.part)).toEqual(summaries.map((_, i) => i + 1));
    expect(summaries.slice(0, -1).every((s) => !s.final)).toBe(true);
    expect(new Set(summaries.map((s) => s.stormStartUs)).size).toBe(1);
    const sum = (f: (s: RouteSummary) => number) => summaries.reduce((a, s) => a + f(s), 0);
    expect(sum((s) => s.changes)).toBe(4900);
    const per = (family: number, table: number, op: 'added' | 'removed') =>
      sum((s) => s.tables.filter((x) => x.family === family && x.table === table).reduce((a, x) => a + x[op], 0));
    // Changes 100..4999 were coalesced: i % 4 === 0 go to table 10 (v6).
    const v6 = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k).filter((i) => i % 4 === 0).length;
    expect(per(6, 10, 'added')).toBe(v6(100, 3000));
    expect(per(4, 254, 'added')).toBe(2900 - v6(100, 3000));
    expect(per(6, 10, 'removed')).toBe(v6(3000, 5000));
    expect(per(4, 254, 'removed')).toBe(2000 - v6(3000, 5000));
    expect(summaries[0]!.examples).toHaveLength(3);
    expect(summaries[0]!.examples[0]).toEqual({ op: 'added', route: route(100, 10, 6) });
    for (const s of summaries) expect(s.firstUs).toBeLessThanOrEqual(s.lastUs);
    // After the storm: one by one again.
    expect(c.offer('route.added', route(1).family, route(1).table, route(1), t + 2_100_000)).toBe(false);
  });

  it('when another event must go out mid-storm, then take() gives what was counted so far and the storm goes on', () => {
    const c = new StormCoalescer({ thresholdPerS: 10, summaryIntervalMs: 1000, examples: 0 });
    for (let i = 0; i < 50; i++) c.offer('route.removed', route(i).family, route(i).table, route(i), T0 + i);
    const s = c.take({ routes: 7, hash: '0000abcd' });
    expect(s).toMatchObject({ part: 1, final: false, changes: 40, firstUs: T0 + 10, lastUs: T0 + 49, examples: [], digest: { routes: 7, hash: '0000abcd' } });
    expect(c.take()).toBeUndefined();
    expect(c.active).toBe(true);
    expect(c.finish(T0 + 100)).toMatchObject({ part: 2, final: true, changes: 0 });
  });
});

describe('PeerRoutes', () => {
  it('when an IKE_SA is up, then exactly the routes whose destination covers its peer are recognized, until it goes down', () => {
    expect(coveringPrefixes('198.51.100.7')).toHaveLength(33);
    expect(coveringPrefixes('198.51.100.7').slice(0, 2)).toEqual(['0.0.0.0/0', '128.0.0.0/1']);
    expect(coveringPrefixes('2001:db8::7').at(-1)).toBe('2001:db8::7/128');
    const p = new PeerRoutes();
    const f = createEventFactory({ host: 'gw' });
    const sa = { ...EXAMPLE_PAYLOADS['vici.ike-updown'].ikeSa, uniqueId: '3', remoteHost: '198.51.100.7' };
    expect(p.has('198.51.100.0/24')).toBe(false);
    p.observe(f.make('vici.ike-updown', { up: true, ikeSa: sa }));
    expect(p.has('198.51.100.0/24')).toBe(true);
    expect(p.has('0.0.0.0/0')).toBe(true);
    expect(p.has('198.51.100.7/32')).toBe(true);
    expect(p.has('198.51.101.0/24')).toBe(false);
    p.observe(f.make('vici.ike-updown', { up: false, ikeSa: { ...sa, state: 'DELETING' } }));
    expect(p.has('198.51.100.0/24')).toBe(false);
  });
});

class FakeRtnetlink implements SourceAdapter {
  readonly name = 'rtnetlink' as const;
  ctx: SourceContext | undefined;
  start(ctx: SourceContext) {
    this.ctx = ctx;
  }
  report() {
    return { state: 'connected' as const };
  }
  routeDigest() {
    return { routes: 42, hash: '12345678' };
  }
  async stop() {}
}

class FakeVici implements SourceAdapter {
  readonly name = 'vici' as const;
  ctx: SourceContext | undefined;
  start(ctx: SourceContext) {
    this.ctx = ctx;
  }
  report() {
    return { state: 'connected' as const };
  }
  async stop() {}
}

describe('createAgentSources with coalescing', () => {
  it('when a reauth log line comes in the middle of a storm, then the storm so far is summarized just before it, in time and seq order, with the mirror digest', async () => {
    const rt = new FakeRtnetlink();
    const vici = new FakeVici();
    const clock = createManualClock(T0);
    const s = createAgentSources({ hostId: 'gw-1', sources: [rt, vici], statusIntervalMs: 0, clock, coalesce: { thresholdPerS: 5, summaryIntervalMs: 1000, examples: 2 } });
    const all = firstValueFrom(s.events$.pipe(toArray()));
    await new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < 20; i++) {
      clock.advanceUs(100);
      rt.ctx!.emit('route.added', { route: route(i) });
    }
    vici.ctx!.emit('vici.log', { group: 'IKE', level: 1, thread: 7, msg: 'old path is not available anymore, try to find another' });
    for (let i = 0; i < 3; i++) rt.ctx!.emit('route.removed', { route: route(i) });
    await s.stop('test');
    const evs = await all;
    expect(evs.map((e) => e.kind)).toEqual([
      'agent.started',
      ...Array<string>(5).fill('route.added'),
      'route.summary',
      'vici.log',
      'route.summary',
      'agent.stopping',
    ]);
    const first = evs[6]!;
    expect(first.kind === 'route.summary' && first.payload).toMatchObject({ part: 1, final: false, changes: 15, tables: [{ family: 4, table: 254, added: 15, removed: 0, replaced: 0 }], digest: { routes: 42, hash: '12345678' } });
    const last = evs[8]!;
    expect(last.kind === 'route.summary' && last.payload).toMatchObject({ part: 2, final: true, changes: 3 });
    for (let i = 1; i < evs.length; i++) expect(evs[i]!.timeUs).toBeGreaterThanOrEqual(evs[i - 1]!.timeUs);
    for (const e of evs) expect(validateEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(s.status().sources.rtnetlink).toMatchObject({ storms: 1, coalescedChanges: 18 });
  });
});
