import { describe, expect, it } from 'vitest';
import { Backoff, isRetriable, sleep } from './backoff.js';
import { RoamwatchError } from './errors.js';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('Backoff', () => {
  it('when failures follow each other, then the delay doubles up to the cap', () => {
    const b = new Backoff({ minMs: 100, maxMs: 1000, jitter: 0 });
    expect([b.fail(), b.fail(), b.fail(), b.fail(), b.fail(), b.fail()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.attempts).toBe(6);
  });

  it('when jitter is on, then each delay lies within [d·(1-jitter), d] and still grows', () => {
    const lows = new Backoff({ minMs: 100, maxMs: 10_000, jitter: 0.5, random: () => 0.999999 });
    const highs = new Backoff({ minMs: 100, maxMs: 10_000, jitter: 0.5, random: () => 0 });
    const lo = [lows.fail(), lows.fail(), lows.fail()];
    const hi = [highs.fail(), highs.fail(), highs.fail()];
    expect(hi).toEqual([100, 200, 400]);
    expect(lo).toEqual([50, 100, 200]);
  });

  it('when a connection succeeds and fails at once, then the counter does not reset (no fixed minimum delay)', () => {
    const c = clock();
    const b = new Backoff({ minMs: 100, maxMs: 5000, jitter: 0, resetAfterHealthyMs: 2000, now: c.now });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(b.fail());
      c.advance(delays[delays.length - 1]!);
      b.succeeded(); // accepted…
      c.advance(5); // …and garbage right after
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200]);
  });

  it('when a success lasted resetAfterHealthyMs, then the next failure starts again from minMs', () => {
    const c = clock();
    const b = new Backoff({ minMs: 100, maxMs: 5000, jitter: 0, resetAfterHealthyMs: 2000, now: c.now });
    b.fail();
    b.fail();
    b.fail();
    b.succeeded();
    c.advance(2000);
    expect(b.fail()).toBe(100);
    b.succeeded();
    c.advance(1999);
    expect(b.fail()).toBe(200);
  });

  it('when succeeded() is called again after the healthy period, then attempts reads 0', () => {
    const c = clock();
    const b = new Backoff({ minMs: 10, maxMs: 100, jitter: 0, resetAfterHealthyMs: 50, now: c.now });
    b.fail();
    b.succeeded();
    expect(b.attempts).toBe(1);
    c.advance(50);
    b.succeeded();
    expect(b.attempts).toBe(0);
  });

  it('when the options are inconsistent, then it says which', () => {
    expect(() => new Backoff({ minMs: 10, maxMs: 5 })).toThrow(/minMs <= maxMs/);
    expect(() => new Backoff({ minMs: 1, maxMs: 5, jitter: 2 })).toThrow(/jitter/);
  });
});

describe('sleep', () => {
  it('when the signal aborts, then it resolves before its time', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await expect(p).resolves.toBeUndefined();
  });
  it('when the signal is already aborted, then it resolves at once', async () => {
    await expect(sleep(60_000, AbortSignal.abort())).resolves.toBeUndefined();
  });
});

describe('isRetriable', () => {
  it('reads retriable from roamwatch errors and falls back otherwise', () => {
    expect(isRetriable(new RoamwatchError('x', { code: 'X', retriable: false }))).toBe(false);
    expect(isRetriable(new RoamwatchError('x', { code: 'X', retriable: true }), false)).toBe(true);
    expect(isRetriable(new Error('plain'))).toBe(true);
    expect(isRetriable(new Error('plain'), false)).toBe(false);
  });
});
