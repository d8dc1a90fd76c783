// The pipeline's parts alone: the reauth tracker (findings only), the metrics projection,
// the retention barrier and its low watermark, and the one composition: the stage operators
// piped by hand give exactly what processEvents (production) gives.
import { describe, it, expect } from 'vitest';
import { from, lastValueFrom, toArray } from 'rxjs';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { PartRef } from './release-join.js';
import { processEvents, decodeEvents, orderByEventTime, correlate, project, joinReleases, Pipeline } from './pipeline.js';
import { ReauthTracker } from './reauth-tracker.js';
import { RetentionBarrier } from './retain.js';
import { MetricsProjection, netWindowRetentionUs } from './project.js';
import { CorrelateStage } from './correlate.js';
import type { CorrelatedItem } from './correlate.js';
import { chain, stageOperator } from './stage.js';
import type { Stage } from './stage.js';
import { correlationConfig } from './config.js';
import { HostScript, syntheticFleet } from './synthetic.js';
import type { SaSpec } from './synthetic.js';
import type { Finding, PipelineInput, PipelineOutput } from './types.js';

const old: SaSpec = { conn: 'dc2', uid: '7', local: '192.0.2.1', remote: '198.51.100.7' };
const next: SaSpec = { ...old, uid: '8' };
const established = (host = 'gw-17') => new HostScript(host).snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]).after(10).up(old).after(60_000);

describe('reauth tracker', () => {
  it('when events of a spurious reauth are applied in order, then it emits one finding and no points, and pins the trigger until the reauth closes', () => {
    const events = established().routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, next).events;
    const t = new ReauthTracker(correlationConfig());
    const h = t.host('gw-17');
    const found: Finding[] = [];
    const trigger = events.find((e) => e.kind === 'route.added')!;
    let pinnedWhileOpen = Number.MAX_SAFE_INTEGER;
    for (const e of events) {
      t.apply(h, e, false, e.timeUs, (f) => found.push(f));
      pinnedWhileOpen = Math.min(pinnedWhileOpen, t.pinnedFromUs(h));
      t.advance(h, e.timeUs, (f) => found.push(f));
    }
    expect(found.map((f) => f.type === 'reauth' && f.classification)).toEqual(['spurious']);
    expect(pinnedWhileOpen).toBeLessThan(trigger.timeUs);
    expect(t.pinnedFromUs(h)).toBe(Number.MAX_SAFE_INTEGER);
    expect(t.stats.findings).toBe(1);
  });
});

describe('metrics projection', () => {
  it('when routing events fall in one window, then one count point per kind and op is written when the clock passes the window', () => {
    const p = new MetricsProjection<never>({ netWindowMs: 10_000 });
    const out: PipelineOutput<never>[] = [];
    const emit = (o: PipelineOutput<never>) => out.push(o);
    const [a, b] = new HostScript('gw-1', 1_795_790_000_000_000).routeAdded('203.0.1.0/24').after(10).routeAdded('203.0.2.0/24').events as [RoamwatchEvent, RoamwatchEvent];
    for (const e of [a, b]) {
      p.push({ type: 'event', event: e, ref: undefined, late: false, duplicate: false }, emit);
      p.push({ type: 'clock', host: 'gw-1', nowUs: e.timeUs }, emit);
    }
    expect(out).toEqual([]);
    p.push({ type: 'clock', host: 'gw-1', nowUs: a.timeUs + 10_000_000 }, emit);
    expect(out).toEqual([{ type: 'point', point: expect.objectContaining({ measurement: 'roamwatch_net_changes', ints: { count: 2 }, tags: { host: 'gw-1', kind: 'route', op: 'added' } }) }]);
    expect(netWindowRetentionUs(a.timeUs, 10_000)).toBe(10_000_000 - (a.timeUs % 10_000_000));
  });
});

describe('correlate stage', () => {
  it('when the host clock moves inside a count window, then no clock item is passed on; when it crosses a window boundary, then one is', () => {
    const c = new CorrelateStage<never>({ netWindowMs: 10_000 });
    const out: CorrelatedItem<never>[] = [];
    const start = 1_795_790_000_000_000; // a multiple of 10 s
    const h = new HostScript('gw-1', start + 1_000_000).routeAdded('203.0.1.0/24').after(1000).routeAdded('203.0.2.0/24').after(10_000).routeAdded('203.0.3.0/24');
    for (const e of h.events) c.push({ type: 'event', event: e, ref: undefined, late: false, duplicate: false }, (o) => out.push(o));
    expect(out.map((o) => o.type)).toEqual(['event', 'clock', 'event', 'event', 'clock']);
    expect(out.filter((o) => o.type === 'clock')).toEqual([
      { type: 'clock', host: 'gw-1', nowUs: h.events[0]!.timeUs },
      { type: 'clock', host: 'gw-1', nowUs: h.events[2]!.timeUs },
    ]);
  });
});

describe('retention barrier', () => {
  it('when records are held, then they are released in arrival order once their retention passed and they are older than the pin, and the low watermark follows', () => {
    const b = new RetentionBarrier<number>();
    const h = b.host('gw-1');
    b.hold(h, 1000, 0, 1);
    b.hold(h, 2000, 5000, 2);
    b.hold(h, 3000, 0, 3);
    expect(b.lowWatermarkUs()).toBe(1000);
    expect(b.release(h, 3000, 1500)).toEqual([1]);
    expect(b.lowWatermarkUs('gw-1')).toBe(2000);
    expect(b.release(h, 6999, Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect(b.release(h, 7000, Number.MAX_SAFE_INTEGER)).toEqual([2, 3]);
    expect(b.lowWatermarkUs()).toBeUndefined();
    expect(b.heldCount()).toBe(0);
  });
});

describe('one composition', () => {
  const inputs = (events: (RoamwatchEvent | string)[]): PipelineInput<number>[] => events.map((e, i) => ({ type: 'record', value: typeof e === 'string' ? e : JSON.stringify(e), ref: i }));

  it('when the stage operators are piped by hand, then they give exactly what processEvents and the synchronous Pipeline give', async () => {
    const events = syntheticFleet({ hosts: 12, eventsPerHost: 120 });
    const xs = inputs([...events.slice(0, 40), 'not json', ...events.slice(40)]);
    const piped = await lastValueFrom(from(xs).pipe(decodeEvents<number>(), orderByEventTime<PartRef<number>>(), correlate<PartRef<number>>(), project<PartRef<number>>(), joinReleases<number>(), toArray()));
    const operator = await lastValueFrom(from(xs).pipe(processEvents<number>(), toArray()));
    const p = new Pipeline<number>();
    const sync: PipelineOutput<number>[] = [];
    for (const x of xs) p.push(x, (o) => sync.push(o));
    p.flush((o) => sync.push(o));
    expect(operator).toEqual(sync);
    expect(piped).toEqual(sync);
    expect(sync.filter((o) => o.type === 'dead-letter')).toHaveLength(1);
    expect(p.stats()).toMatchObject({ retained: 0, lowWatermarkUs: undefined, deadLetters: 1 });
  });

  it('when a live pipeline holds records of an open reauth, then its stats show them retained from the trigger on', () => {
    const events = established().routeAdded('203.0.113.0/24').after(100).log('reauthenticating IKE_SA due to address change', old).events;
    const p = new Pipeline<number>({ allowedLatenessMs: 0 });
    events.forEach((e, i) => p.push({ type: 'record', value: e, ref: i }, () => {}));
    p.push({ type: 'record', value: established().after(100).events.at(-1)!, ref: 99 }, () => {});
    const trigger = events.find((e) => e.kind === 'route.added')!;
    expect(p.stats().retained).toBeGreaterThan(0);
    expect(p.stats().lowWatermarkUs).toBeLessThanOrEqual(trigger.timeUs);
  });

  it('when a stage throws, then the operator errors instead of swallowing it', async () => {
    const boom: Stage<number, number> = {
      push: (x, emit) => {
        if (x === 2) throw new Error('boom');
        emit(x);
      },
      flush: () => {},
    };
    const id: Stage<number, number> = { push: (x, emit) => emit(x), flush: () => {} };
    await expect(lastValueFrom(from([1, 2, 3]).pipe(stageOperator(() => chain(id, boom)), toArray()))).rejects.toThrow('boom');
  });
});
