import { describe, expect, it } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import { BatchingSink } from './batching-sink.js';

class Refused extends Error {}

/** A server that refuses requests over `limit` bytes and any item in `poison`, for good. */
class FakeSink extends BatchingSink<string> {
  requests: string[][] = [];
  accepted: string[] = [];
  constructor(
    private readonly limit: number,
    private readonly poison: Set<string> = new Set(),
    private readonly replacement?: (item: string) => string | undefined,
    batchMaxBytes?: number,
  ) {
    super({ name: 'fake', batchSize: 1000, lingerMs: 0, retryMinMs: 1, retryMaxMs: 2, logger: silentLogger(), ...(batchMaxBytes !== undefined ? { batchMaxBytes } : {}) });
  }
  protected async send(batch: string[]): Promise<void> {
    this.requests.push(batch);
    const bytes = batch.reduce((a, s) => a + s.length, 0);
    if (bytes > this.limit) throw new Refused(`request of ${bytes} bytes is larger than the max message size`);
    if (batch.some((s) => this.poison.has(s))) throw new Refused('invalid record');
    this.accepted.push(...batch);
  }
  protected retriable(err: unknown): boolean {
    return !(err instanceof Refused);
  }
  protected override sizeOf(item: string): number {
    return item.length;
  }
  protected override replaceRejected(item: string): string | undefined {
    return this.replacement?.(item);
  }
}

const big = (i: number) => `${i}:`.padEnd(60 * 1024, 'x');

describe('BatchingSink', () => {
  it('when 40 items of 60 KiB are pushed, then batches stay within batchMaxBytes and every item is delivered, in order', async () => {
    const s = new FakeSink(1_000_000, new Set(), undefined, 512 * 1024);
    const items = Array.from({ length: 40 }, (_, i) => big(i));
    for (const it of items) s.push(it);
    await s.drained();
    expect(s.accepted).toEqual(items);
    expect(s.requests.every((r) => r.reduce((a, x) => a + x.length, 0) <= 512 * 1024)).toBe(true);
    expect(s.stats).toMatchObject({ dropped: 0, sent: 40 });
    expect(s.ackedSeq).toBe(40);
  });

  it('when the server refuses a whole batch (no byte bound), then it is split until every item it takes is delivered; nothing is dropped', async () => {
    const s = new FakeSink(1_000_000);
    const items = Array.from({ length: 40 }, (_, i) => big(i));
    for (const it of items) s.push(it);
    await s.drained();
    // Before: the 2.4 MB batch was dropped whole ("larger than the max message size").
    expect(s.accepted).toEqual(items);
    expect(s.stats.dropped).toBe(0);
    expect(s.stats.splits).toBeGreaterThan(0);
  });

  it('when one item is refused for good, then the others go through, the item is replaced if the sink can, and only otherwise dropped (counted)', async () => {
    const items = Array.from({ length: 10 }, (_, i) => `item-${i}`);
    const replaced = new FakeSink(1_000_000, new Set(['item-3']), (x) => `ref:${x}`);
    for (const it of items) replaced.push(it);
    await replaced.drained();
    expect(replaced.accepted).toEqual(items.map((x) => (x === 'item-3' ? 'ref:item-3' : x)));
    expect(replaced.stats).toMatchObject({ replaced: 1, dropped: 0 });

    const dropped = new FakeSink(1_000_000, new Set(['item-3']));
    for (const it of items) dropped.push(it);
    await dropped.drained();
    expect(dropped.accepted).toEqual(items.filter((x) => x !== 'item-3'));
    expect(dropped.stats).toMatchObject({ dropped: 1, sent: 10 });
    expect(dropped.ackedSeq).toBe(10);
  });
});
