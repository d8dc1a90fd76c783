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
});
