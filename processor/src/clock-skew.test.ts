// One event stamped far in the future (a host clock that jumped) must not poison its host:
// with the record's timestamp known (Kafka), it is dead-lettered as `clock-skew`, whole, and
// the host's next spurious reauth is still found and attributed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { RoamwatchEvent } from '@roamwatch/core';
import { Pipeline } from './pipeline.js';
import type { PipelineOutput, ReauthFinding } from './types.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/scenarios', import.meta.url));
const load = (name: string): RoamwatchEvent[] =>
  readFileSync(join(DIR, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RoamwatchEvent);

const YEAR_US = 365 * 24 * 3600 * 1_000_000;

/** The scenario with one copy of its first event moved a year ahead, put first; record time = send time ≈ event time. */
function poisoned(): { records: { value: string; recordTimeMs: number }[]; poison: string } {
  const events = load('bug-unrelated-route');
  const first = events[0]!;
  const bad = { ...first, id: '019ac6f2-8d1e-7a3c-9b21-4f0e6d2c1a7b', timeUs: first.timeUs + YEAR_US };
  const poison = JSON.stringify(bad);
  const records = [{ value: poison, recordTimeMs: Math.round(first.timeUs / 1000) }, ...events.map((e) => ({ value: JSON.stringify(e), recordTimeMs: Math.round(e.timeUs / 1000) + 5 }))];
  return { records, poison };
}

/**
 * Feeds the records; after the first one, processing time runs on by 3 s (a live consumer's
 * ticks), enough for the orderer to release whatever the first record was.
 */
function run(records: { value: string; recordTimeMs?: number }[]) {
  const p = new Pipeline<never>();
  const out: PipelineOutput<never>[] = [];
  const emit = (o: PipelineOutput<never>) => out.push(o);
  const now = 2_000_000_000_000_000;
  records.forEach((r, i) => {
    p.push({ type: 'record', ...r }, emit);
    if (i === 0) {
      p.push({ type: 'tick', nowUs: now }, emit);
      p.push({ type: 'tick', nowUs: now + 3_000_000 }, emit);
    }
  });
  p.flush(emit);
  const reauths = out.flatMap((o) => (o.type === 'finding' && o.finding.type === 'reauth' ? [o.finding as ReauthFinding] : []));
  const dead = out.flatMap((o) => (o.type === 'dead-letter' ? [o] : []));
  return { reauths, dead, stats: p.stats() };
}

describe('clock skew', () => {
  it('when one event is a year ahead of its record timestamp, then it is dead-lettered whole as clock-skew and the host still gets its spurious reauth', () => {
    const { records, poison } = poisoned();
    const { reauths, dead, stats } = run(records);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ code: 'clock-skew', raw: poison });
    expect(dead[0]!.reason).toMatch(/ahead of its record's timestamp/);
    expect(stats.clockSkewDeadLetters).toBe(1);
    expect(stats.late).toBe(0);
    expect(reauths.map((r) => r.classification)).toEqual(['spurious']);
    expect(reauths[0]!.triggers.length).toBeGreaterThan(0);
  });

  it('when no record timestamp is known, then nothing is bounded: the poison is processed and the reauth of its host comes out unknown (the fault this bound prevents)', () => {
    const { records } = poisoned();
    const { dead, reauths, stats } = run(records.map(({ value }) => ({ value })));
    expect(dead).toHaveLength(0);
    expect(stats.late).toBeGreaterThan(0);
    expect(reauths.map((r) => [r.classification, r.triggers.length])).toEqual([['unknown', 0]]);
  });

  it('when the event is only a little ahead (within maxFutureSkewMs), then it is processed', () => {
    const events = load('bug-unrelated-route');
    const { dead, reauths } = run(events.map((e) => ({ value: JSON.stringify(e), recordTimeMs: Math.round(e.timeUs / 1000) - 30_000 })));
    expect(dead).toHaveLength(0);
    expect(reauths).toHaveLength(1);
  });
});
