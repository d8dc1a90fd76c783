import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import { Spool } from './spool.js';
import type { SpoolGap, SpoolOptions } from './spool.js';

const dirs: string[] = [];
function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-spool-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function line(seq: number, pad = 0): string {
  return JSON.stringify({ v: 1, id: `id-${seq}`, host: 'gw', seq, timeUs: 1_700_000_000_000_000 + seq, pad: 'x'.repeat(pad) });
}

function open(dir: string, o: Partial<SpoolOptions> = {}, gaps: SpoolGap[] = []): Spool {
  return Spool.open({
    dir,
    maxBytes: 1 << 30,
    segmentBytes: 1 << 20,
    fsyncIntervalMs: 0,
    onFull: 'drop-oldest',
    memoryMaxBytes: 1 << 20,
    onGap: (g) => gaps.push(g),
    logger: silentLogger(),
    ...o,
  });
}

function appendRange(s: Spool, from: number, to: number, pad = 0): void {
  for (let i = from; i <= to; i++) s.append(i, line(i, pad), 1_700_000_000_000_000 + i);
}

const seqs = (recs: { seq: number }[]) => recs.map((r) => r.seq);
const flushMicrotasks = () => new Promise((r) => setTimeout(r, 0));

describe('spool', () => {
  it('when records are appended, then only written ones are readable, in order, until acknowledged', () => {
    const s = open(tmpdir());
    appendRange(s, 1, 5);
    expect(s.read(0, 100, Infinity)).toEqual([]); // not yet written: nothing leaves before it is on disk
    s.writePending();
    expect(seqs(s.read(0, 100, Infinity))).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(s.read(2, 2, Infinity))).toEqual([3, 4]);
    s.ack(3);
    expect(seqs(s.read(0, 100, Infinity))).toEqual([4, 5]);
    expect(s.stats()).toMatchObject({ pendingEvents: 2, lastSeq: 5, ackedSeq: 3 });
    s.close();
  });

  it('when an append skips a number, then it is refused (sequence numbers are dense)', () => {
    const s = open(tmpdir());
    s.append(1, line(1), 1);
    expect(() => s.append(3, line(3), 3)).toThrow(/out of order/);
    s.close();
  });

  it('when the agent restarts, then unacknowledged records are resent byte for byte and numbering continues', () => {
    const dir = tmpdir();
    const a = open(dir);
    appendRange(a, 1, 10);
    a.writePending();
    a.ack(4);
    a.close();
    const b = open(dir);
    expect(b.lastSeq).toBe(10);
    const recs = b.read(0, 100, Infinity);
    expect(seqs(recs)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(recs[0]!.line).toBe(line(5)); // same event id: consumers dedupe duplicates
    b.append(11, line(11), 11);
    b.writePending();
    expect(seqs(b.read(10, 100, Infinity))).toEqual([11]);
    b.close();
  });

  it('when the process dies without closing (SIGKILL), then written records and the last number survive', () => {
    const dir = tmpdir();
    const a = open(dir, { fsyncIntervalMs: 1000 });
    appendRange(a, 1, 100);
    a.writePending();
    a.ack(50);
    // no close(): the lock file and an older state.json remain, as after kill -9
    fs.rmSync(path.join(dir, 'lock')); // our own pid would be alive; a dead agent's pid is ignored
    const b = open(dir);
    expect(b.lastSeq).toBe(100);
    const first = b.read(0, 1, Infinity)[0]!.seq;
    expect(first).toBeLessThanOrEqual(51); // acked position is persisted at most once a second: resends, never skips
    expect(seqs(b.read(0, 1000, Infinity)).at(-1)).toBe(100);
    b.close();
  });

  it('when the last line is torn (power loss), then it is cut off and its number is reported as a gap, never reused', async () => {
    const dir = tmpdir();
    const a = open(dir);
    appendRange(a, 1, 3);
    a.close();
    const seg = fs.readdirSync(dir).find((n) => n.startsWith('seg-'))!;
    fs.appendFileSync(path.join(dir, seg), line(4).slice(0, 20));
    const gaps: SpoolGap[] = [];
    const b = open(dir, {}, gaps);
    await flushMicrotasks();
    expect(gaps).toEqual([{ fromSeq: 4, toSeq: 4, reason: 'spool-corrupt', count: 1 }]);
    expect(b.lastSeq).toBe(4);
    expect(seqs(b.read(0, 100, Infinity))).toEqual([1, 2, 3]);
    b.append(5, line(5), 5);
    b.writePending();
    expect(seqs(b.read(3, 100, Infinity))).toEqual([5]);
    b.close();
  });

  it('when segments are fully acknowledged, then their files are deleted', () => {
    const dir = tmpdir();
    const s = open(dir, { segmentBytes: 4096, maxBytes: 1 << 20 });
    for (let i = 1; i <= 200; i++) {
      s.append(i, line(i, 50), i);
      s.writePending();
    }
    const before = fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).length;
    expect(before).toBeGreaterThan(3);
    s.ack(200);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBe(1);
    s.close();
  });

  it('when unsent records exceed the memory budget, then they are read back from the files, in order', () => {
    const s = open(tmpdir(), { segmentBytes: 8192, maxBytes: 1 << 20, memoryMaxBytes: 2000 });
    for (let i = 1; i <= 300; i++) {
      s.append(i, line(i, 40), i);
      if (i % 7 === 0) s.writePending();
    }
    s.writePending();
    const all: number[] = [];
    let after = 0;
    for (;;) {
      const batch = s.read(after, 13, Infinity);
      if (batch.length === 0) break;
      all.push(...seqs(batch));
      after = batch.at(-1)!.seq;
      s.ack(after);
    }
    expect(all).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    s.close();
  });

  it('when the bound is hit with drop-oldest, then the oldest segment goes and an agent.gap range names it', async () => {
    const gaps: SpoolGap[] = [];
    const s = open(tmpdir(), { segmentBytes: 4096, maxBytes: 16384, memoryMaxBytes: 1 << 20 }, gaps);
    for (let i = 1; i <= 400; i++) {
      s.append(i, line(i, 60), i);
      s.writePending();
    }
    await flushMicrotasks();
    expect(gaps.length).toBeGreaterThan(0);
    expect(s.stats().bytes).toBeLessThanOrEqual(16384);
    // One outage: every gap starts at the first lost number and reaches further (the latest covers all).
    expect(new Set(gaps.map((g) => g.fromSeq))).toEqual(new Set([1]));
    expect(s.stats().droppedEvents).toBe(gaps.at(-1)!.count);
    // Delivered + dropped = everything: no silent hole.
    const left = seqs(s.read(0, 10_000, Infinity));
    const covered = new Set<number>(left);
    for (const g of gaps) for (let q = g.fromSeq; q <= g.toSeq; q++) covered.add(q);
    expect(covered.size).toBe(400);
    expect(gaps[0]!.fromSeq).toBe(1);
    s.close();
  });

  it('when the bound is hit with drop-newest, then new records are refused and the refused range is reported once room returns', async () => {
    const gaps: SpoolGap[] = [];
    const s = open(tmpdir(), { segmentBytes: 4096, maxBytes: 16384, onFull: 'drop-newest' }, gaps);
    let refused = 0;
    for (let i = 1; i <= 300; i++) {
      if (!s.append(i, line(i, 60), i)) refused += 1;
      s.writePending();
    }
    expect(refused).toBeGreaterThan(0);
    const kept = seqs(s.read(0, 10_000, Infinity));
    expect(kept[0]).toBe(1); // the oldest are kept
    s.ack(kept.at(-1)!);
    s.append(301, line(301), 301);
    s.writePending();
    await flushMicrotasks();
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toEqual({ fromSeq: kept.at(-1)! + 1, toSeq: 300, reason: 'spool-full', count: refused });
    expect(seqs(s.read(0, 10, Infinity))).toEqual([301]);
    s.close();
  });

  it('when another live process holds the spool, then opening it fails with a clear message', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\n`);
    expect(() => open(dir)).toThrow(/in use by process/);
  });
});
