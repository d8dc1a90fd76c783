import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import { createManualClock, validateEvent } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { createAgentSources } from './sources.js';
import type { SourceAdapter, SourceContext, SourceReport } from './sources.js';

const ROUTE = { family: 4 as const, table: 254, dst: '198.51.100.7/32', type: 'unicast', protocol: 'static', scope: 'universe', oif: 'eth0' };

class FakeSource implements SourceAdapter {
  ctx: SourceContext | undefined;
  seen: RoamwatchEvent[] = [];
  stopped = false;
  constructor(
    readonly name: 'vici' | 'rtnetlink' | 'path',
    private readonly rep: SourceReport = { state: 'connected' },
  ) {}
  start(ctx: SourceContext) {
    this.ctx = ctx;
  }
  observe(ev: RoamwatchEvent) {
    this.seen.push(ev);
  }
  report() {
    return this.rep;
  }
  async stop() {
    this.stopped = true;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('createAgentSources', () => {
  it('when sources emit, then every envelope is valid and numbered from lastSeq + 1 in emission order', async () => {
    const rt = new FakeSource('rtnetlink');
    const vici = new FakeSource('vici', { state: 'connecting', uri: 'unix:///x', lastError: 'ENOENT' });
    const s = createAgentSources({ hostId: 'gw-1', lastSeq: 41, sources: [rt, vici], statusIntervalMs: 0, clock: createManualClock(1_800_000_000_000_000) });
    const all = firstValueFrom(s.events$.pipe(toArray()));
    await tick();
    rt.ctx!.emit('route.added', { route: ROUTE });
    vici.ctx!.emit('vici.connection', { state: 'disconnected', uri: 'unix:///x', reason: 'ENOENT' });
    rt.ctx!.emit('route.removed', { route: ROUTE });
    await s.stop('test');
    const evs = await all;
    expect(evs.map((e) => [e.seq, e.kind])).toEqual([
      [42, 'agent.started'],
      [43, 'route.added'],
      [44, 'vici.connection'],
      [45, 'route.removed'],
      [46, 'agent.stopping'],
    ]);
    for (const e of evs) expect(validateEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(evs.every((e) => e.host === 'gw-1')).toBe(true);
    expect(rt.stopped && vici.stopped).toBe(true);
    expect(s.lastSeq).toBe(46);
  });

  it('when a source hands in a time older than the previous envelope, then it is raised to it: seq order is time order, and the stream says so', async () => {
    const rt = new FakeSource('rtnetlink');
    const vici = new FakeSource('vici');
    const clock = createManualClock(1_800_000_000_000_000);
    const s = createAgentSources({ hostId: 'gw-1', sources: [rt, vici], statusIntervalMs: 0, clock });
    const all = firstValueFrom(s.events$.pipe(toArray()));
    await tick();
    clock.advanceUs(5000);
    vici.ctx!.emit('vici.connection', { state: 'connected', uri: 'unix:///x' });
    rt.ctx!.emit('route.added', { route: ROUTE }, 1_800_000_000_001_000);
    rt.ctx!.emit('route.removed', { route: ROUTE }, 1_800_000_000_009_000);
    await s.stop('test');
    const evs = await all;
    expect(evs.map((e) => [e.seq, e.timeUs])).toEqual([
      [1, 1_800_000_000_000_000],
      [2, 1_800_000_000_005_000],
      [3, 1_800_000_000_005_000],
      [4, 1_800_000_000_009_000],
      [5, 1_800_000_000_009_000],
    ]);
    const started = evs[0]!;
    expect(started.kind === 'agent.started' && started.payload.streamOrder).toBe('time');
    expect(s.status().streamOrder).toBe('time');
  });

  it('when an observer emits while an envelope is delivered, then its event follows in order (no re-entrant interleaving)', async () => {
    const rt = new FakeSource('rtnetlink');
    const path: SourceAdapter = {
      name: 'path',
      start() {},
      observe(ev) {
        if (ev.kind === 'route.added') s.emit('agent.gap', { fromSeq: 1, toSeq: 1, reason: 'buffer-overflow', count: 1 });
      },
      report: () => ({ state: 'connected' }),
      stop: async () => undefined,
    };
    const s = createAgentSources({ hostId: 'gw', sources: [rt, path], statusIntervalMs: 0, lifecycleEvents: false });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await tick();
    rt.ctx!.emit('route.added', { route: ROUTE });
    rt.ctx!.emit('route.removed', { route: ROUTE });
    expect(seen.map((e) => `${e.seq}:${e.kind}`)).toEqual(['1:route.added', '2:agent.gap', '3:route.removed']);
  });

  it('when a source hands over a payload that breaks the contract, then it is dropped, counted, and the stream goes on', async () => {
    const rt = new FakeSource('rtnetlink');
    const s = createAgentSources({ hostId: 'gw', sources: [rt], statusIntervalMs: 0, lifecycleEvents: false });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await tick();
    rt.ctx!.emit('route.added', { route: { ...ROUTE, dst: 'not-a-prefix' } });
    rt.ctx!.emit('route.added', { route: ROUTE });
    expect(seen.map((e) => e.seq)).toEqual([1]);
    expect(s.status().eventsDropped).toBe(1);
  });

  it('when the heartbeat interval passes, then agent.status carries source states, sink figures, cpu and rss', async () => {
    const vici = new FakeSource('vici', { state: 'connecting', uri: 'unix:///var/run/charon.vici', lastError: 'connect ENOENT', reconnects: 0, ikeSas: 0 });
    const s = createAgentSources({
      hostId: 'gw',
      sources: [vici],
      statusIntervalMs: 20,
      sinkStatus: () => ({ sink: { kind: 'kafka', state: 'down', lastError: 'ECONNREFUSED' }, spool: { bytes: 10, events: 3, limitBytes: 100, droppedEvents: 0 }, eventsSent: 5, eventsDropped: 0, lagMs: 1500 }),
    });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await new Promise((r) => setTimeout(r, 70));
    await s.stop();
    const st = seen.find((e) => e.kind === 'agent.status');
    expect(st?.kind).toBe('agent.status');
    if (st?.kind !== 'agent.status') return;
    expect(st.payload.sources.vici).toMatchObject({ state: 'connecting', lastError: 'connect ENOENT' });
    expect(st.payload.sources.rtnetlink.state).toBe('disabled');
    expect(st.payload).toMatchObject({ sink: { kind: 'kafka', state: 'down' }, spool: { events: 3 }, eventsSent: 5, lagMs: 1500 });
    expect(st.payload.rssBytes).toBeGreaterThan(0);
  });

  it('when an adapter emits payloads that break the contract, then they are counted in agent.status and announced as agent.gap (invalid-payload), and the stream goes on', async () => {
    const vici = new FakeSource('vici');
    const s = createAgentSources({ hostId: 'gw-1', sources: [vici], statusIntervalMs: 0, lifecycleEvents: false, clock: createManualClock(1_800_000_000_000_000) });
    const all = firstValueFrom(s.events$.pipe(toArray()));
    await tick();
    for (let i = 0; i < 3; i++) vici.ctx!.emit('vici.connection', { state: 'sideways' } as never);
    vici.ctx!.emit('vici.connection', { state: 'disconnected', uri: 'unix:///x', reason: 'ENOENT' });
    await tick();
    expect(s.status().eventsDropped).toBe(3);
    await s.stop('test');
    const evs = await all;
    expect(evs.map((e) => e.kind)).toEqual(['vici.connection', 'agent.gap']);
    const gap = evs[1]!;
    expect(gap.kind === 'agent.gap' && gap.payload).toEqual({ reason: 'invalid-payload', source: 'vici', count: 3 });
    expect(validateEvent(JSON.parse(JSON.stringify(gap)))).toEqual(gap);
  });
});
