import { describe, expect, it } from 'vitest';
import { createEventFactory } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { EventTimeOrderer } from './order.js';
import type { OrderedItem } from './order.js';

function flood(n: number, t0 = 1_800_000_000_000_000): RoamwatchEvent[] {
  const f = createEventFactory({ host: 'gw' });
  // n events within one second: all inside the 2 s lateness window.
  return Array.from({ length: n }, (_, i) => f.make('vici.log', { group: 'IKE', level: 1, thread: 7, msg: `flood ${i}` }, { timeUs: t0 + i }));
}

describe('EventTimeOrderer', () => {
  it('when a host floods within its lateness window, then at most maxBufferedPerHost wait and the rest leave early, in order', () => {
    const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16, maxBufferedPerHost: 100 });
    const out: OrderedItem<never>[] = [];
    let peak = 0;
    for (const e of flood(1000)) {
      o.push(e, undefined, (i) => out.push(i));
      peak = Math.max(peak, o.stats.buffered);
    }
    expect(peak).toBeLessThanOrEqual(100);
    expect(o.stats.forcedReleases).toBe(900);
    o.flush((i) => out.push(i));
    const seqs = out.flatMap((i) => (i.type === 'event' ? [i.event.seq] : []));
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(o.stats.late).toBe(0);
  });

  it('when no bound is given, then everything within the window waits (the old behaviour)', () => {
    const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
    for (const e of flood(1000)) o.push(e, undefined, () => undefined);
    expect(o.stats.buffered).toBe(1000);
  });

  describe('order at the source (streamOrder: time)', () => {
    const T0 = 1_800_000_000_000_000;
    const started = (f: ReturnType<typeof createEventFactory>, t: number, streamOrder?: 'time') =>
      f.make('agent.started', { agentVersion: '0.1.0', ...(streamOrder ? { streamOrder } : {}) }, { timeUs: t });
    const log = (f: ReturnType<typeof createEventFactory>, t: number, msg = 'x') => f.make('vici.log', { group: 'IKE', level: 1, thread: 7, msg }, { timeUs: t });
    const released = (out: OrderedItem<never>[]) => out.flatMap((i) => (i.type === 'event' && !i.late ? [i.event.seq] : []));

    it('when the agent declares its stream ordered, then each event is released as it arrives, without a tick', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      o.push(started(f, T0, 'time'), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([1]);
      o.push(log(f, T0 + 10), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 20), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([1, 2, 3]);
      expect(o.stats.buffered).toBe(0);
      expect(o.stats.orderedHosts).toBe(1);
    });

    it('when an agent restarted on its spool re-sends more events than the id ring holds, then every re-sent one is a duplicate; a fresh spool (agent.started from seq 1) starts counting anew', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      const first = [started(f, T0, 'time'), ...Array.from({ length: 100 }, (_, i) => log(f, T0 + 10 + i))];
      for (const e of first) o.push(e, undefined, (i) => out.push(i));
      // the crash: the last 60 were in Kafka but not acknowledged, so the restarted agent sends them again
      for (const e of first.slice(-60)) o.push(e, undefined, (i) => out.push(i));
      expect(o.stats.duplicates).toBe(60);
      expect(out.filter((i) => i.type === 'event' && !i.duplicate)).toHaveLength(101);
      const g = createEventFactory({ host: 'gw' }); // a fresh spool: numbering from 1 again
      o.push(started(g, T0 + 1000, 'time'), undefined, (i) => out.push(i));
      o.push(log(g, T0 + 1010), undefined, (i) => out.push(i));
      expect(o.stats.duplicates).toBe(60);
      expect(released(out).slice(-2)).toEqual([1, 2]);
    });

    it('when the agent does not declare it (an older agent), then its events wait for the allowed lateness as before', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      o.push(started(f, T0), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 1_000_000), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([]);
      o.push(log(f, T0 + 2_500_000), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([1]);
    });

    it('when a host declares the order mid-stream (agent.status), then what it had waiting is released with it', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      o.push(log(f, T0), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 100), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([]);
      const status = f.make('agent.status', {
        agentVersion: '0.1.0', uptimeS: 1, sources: { rtnetlink: { state: 'connected' }, vici: { state: 'connected' } }, sink: { kind: 'kafka', state: 'ok' },
        spool: { bytes: 0, events: 0, limitBytes: 1, droppedEvents: 0 }, eventsEmitted: 2, eventsSent: 2, eventsDropped: 0, lagMs: 0, streamOrder: 'time',
      }, { timeUs: T0 + 200 });
      o.push(status, undefined, (i) => out.push(i));
      expect(released(out)).toEqual([1, 2, 3]);
    });

    it('when an ordered host sends an event older than what was released (a clock stepped back), then it is passed on at once, marked late', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      o.push(started(f, T0, 'time'), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 5_000), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 1_000), undefined, (i) => out.push(i));
      const last = out.at(-1)!;
      expect(last.type === 'event' && last.late && last.event.seq === 3).toBe(true);
      expect(o.stats.late).toBe(1);
    });

    it('when an agent.started without the declaration follows (a downgrade), then the host is back on the fixed lateness', () => {
      const o = new EventTimeOrderer<never>({ allowedLatenessMs: 2000, dedupeIds: 16 });
      const f = createEventFactory({ host: 'gw' });
      const out: OrderedItem<never>[] = [];
      o.push(started(f, T0, 'time'), undefined, (i) => out.push(i));
      o.push(started(f, T0 + 1000), undefined, (i) => out.push(i));
      o.push(log(f, T0 + 2000), undefined, (i) => out.push(i));
      expect(released(out)).toEqual([1]);
      expect(o.stats.orderedHosts).toBe(0);
    });
  });
});
