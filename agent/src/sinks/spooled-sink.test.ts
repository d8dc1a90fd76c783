import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RoamwatchError, createEventFactory, decodeEvent, silentLogger } from '@roamwatch/core';
import { Spool } from './spool.js';
import { decodeFramed } from './spool-format.js';
import type { SpoolRecord } from './spool.js';
import { SpooledSink } from './spooled-sink.js';
import type { Transport } from './types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A transport that can be switched down, records every batch it accepts, and every attempt. */
class FakeTransport implements Transport {
  readonly kind = 'fake';
  up = true;
  accepted: SpoolRecord[][] = [];
  attempts: number[][] = [];
  async connect() {
    if (!this.up) throw new Error('ECONNREFUSED');
  }
  async send(records: readonly SpoolRecord[]) {
    this.attempts.push(records.map((r) => r.seq));
    if (!this.up) throw new Error('ECONNREFUSED');
    this.accepted.push([...records]);
  }
  async close() {}
  delivered(): number[] {
    return this.accepted.flat().map((r) => r.seq);
  }
}

function setup(transport: FakeTransport, dir?: string) {
  const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rw-sink-'));
  if (!dir) dirs.push(d);
  const spool = Spool.open({ dir: d, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsyncIntervalMs: 1000, onFull: 'drop-oldest', memoryMaxBytes: 1 << 20, logger: silentLogger() });
  const sink = new SpooledSink({ spool, transport, batchMaxEvents: 50, batchMaxBytes: 1 << 20, lingerMs: 5, retryMinMs: 5, retryMaxMs: 20, degradedLagMs: 10_000, logger: silentLogger() });
  const factory = createEventFactory({ host: 'gw', lastSeq: spool.lastSeq });
  const emit = (n: number) => {
    for (let i = 0; i < n; i++) sink.write(factory.make('agent.gap', { fromSeq: 1, toSeq: 1, reason: 'buffer-overflow', count: 1 }));
  };
  return { dir: d, sink, emit };
}

const until = async (cond: () => boolean, ms = 3000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('SpooledSink', () => {
  it('when the transport is up, then events go out in sequence order, batched, and are acknowledged', async () => {
    const t = new FakeTransport();
    const { sink, emit } = setup(t);
    sink.start();
    emit(120);
    expect(await sink.flush(2000)).toBe(true);
    expect(t.delivered()).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(t.accepted.every((b) => b.length <= 50)).toBe(true);
    expect(sink.report()).toMatchObject({ eventsSent: 120, spool: { events: 0 }, sink: { state: 'ok' } });
    await sink.close();
  });

  it('when the transport fails, then the same batch is retried unchanged, state is down, and order holds after recovery', async () => {
    const t = new FakeTransport();
    const { sink, emit } = setup(t);
    sink.start();
    emit(10);
    await sink.flush(1000);
    t.up = false;
    emit(30);
    await until(() => t.attempts.length >= 4);
    emit(30); // arrives during the outage: spooled
    expect(sink.report().sink.state).toBe('down');
    expect(sink.report().spool.events).toBe(60);
    const failed = t.attempts.slice(1);
    // every retry is exactly the first failed batch (an idempotent producer dedupes only that)
    for (const a of failed) expect(a).toEqual(failed[0]);
    t.up = true;
    expect(await sink.flush(3000)).toBe(true);
    expect(t.delivered()).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    expect(sink.report().sink.state).toBe('ok');
    await sink.close();
  });

  it('when the transport hangs (a slow broker), then write() still returns at once and events pile up in the spool, not in the caller', async () => {
    const hang: Transport = { kind: 'hang', connect: async () => undefined, send: () => new Promise(() => undefined), close: async () => undefined };
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-sink-'));
    dirs.push(d);
    const spool = Spool.open({ dir: d, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsyncIntervalMs: 1000, onFull: 'drop-oldest', memoryMaxBytes: 1 << 20, logger: silentLogger() });
    const sink = new SpooledSink({ spool, transport: hang, batchMaxEvents: 10, batchMaxBytes: 1 << 20, lingerMs: 0, retryMinMs: 5, retryMaxMs: 20, degradedLagMs: 10, logger: silentLogger() });
    const factory = createEventFactory({ host: 'gw' });
    sink.start();
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) sink.write(factory.make('agent.gap', { fromSeq: 1, toSeq: 1, reason: 'buffer-overflow', count: 1 }));
    const perEventUs = ((performance.now() - t0) * 1000) / 5000;
    expect(perEventUs).toBeLessThan(500);
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.report().spool.events).toBe(5000);
    expect(sink.report().sink.state).not.toBe('ok');
    await sink.close(50);
  });

  it('when the agent stops during an outage and starts again, then the spooled events are delivered with their original ids', async () => {
    const t1 = new FakeTransport();
    t1.up = false;
    const first = setup(t1);
    first.sink.start();
    first.emit(25);
    expect(await first.sink.flush(100)).toBe(false);
    await first.sink.close(100);
    const { records } = decodeFramed(fs.readFileSync(path.join(first.dir, fs.readdirSync(first.dir).find((n) => n.startsWith('seg-'))!)));
    const ids = records.map((r) => decodeEvent(r.line).id);

    const t2 = new FakeTransport();
    const second = setup(t2, first.dir);
    second.sink.start();
    second.emit(5); // numbering continues at 26
    expect(await second.sink.flush(2000)).toBe(true);
    const got = t2.accepted.flat().map((r) => decodeEvent(r.line));
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(got.slice(0, 25).map((e) => e.id)).toEqual(ids);
    await second.sink.close();
  });

  it('when the transport says an error is not retriable, then delivery ends at once, onFatal is told, and the events stay spooled', async () => {
    const attempts: number[] = [];
    const gone: Transport = {
      kind: 'gone',
      connect: async () => undefined,
      send: async (r) => {
        attempts.push(r.length);
        throw new RoamwatchError('reader gone', { code: 'SINK_READER_GONE', retriable: false });
      },
      close: async () => undefined,
    };
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-sink-'));
    dirs.push(d);
    const spool = Spool.open({ dir: d, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsyncIntervalMs: 1000, onFull: 'drop-oldest', memoryMaxBytes: 1 << 20, logger: silentLogger() });
    const fatal: RoamwatchError[] = [];
    const sink = new SpooledSink({ spool, transport: gone, batchMaxEvents: 10, batchMaxBytes: 1 << 20, lingerMs: 0, retryMinMs: 1, retryMaxMs: 2, degradedLagMs: 10, logger: silentLogger(), onFatal: (e) => fatal.push(e) });
    const factory = createEventFactory({ host: 'gw' });
    sink.start();
    for (let i = 0; i < 5; i++) sink.write(factory.make('agent.gap', { fromSeq: 1, toSeq: 1, reason: 'buffer-overflow', count: 1 }));
    await until(() => fatal.length > 0);
    expect(await sink.flush(1000)).toBe(false);
    expect(attempts).toEqual([5]);
    expect(fatal[0]!.code).toBe('SINK_READER_GONE');
    expect(sink.report()).toMatchObject({ sink: { state: 'down' }, spool: { events: 5 } });
    await sink.close(100);
  });

  it('when a client library error says retriable: false (kafkajs gave up its own retries), then the sink still retries', async () => {
    let n = 0;
    const flaky: Transport = {
      kind: 'flaky',
      connect: async () => undefined,
      send: async () => {
        if (n++ < 3) throw Object.assign(new Error('KafkaJSNumberOfRetriesExceeded'), { retriable: false });
      },
      close: async () => undefined,
    };
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-sink-'));
    dirs.push(d);
    const spool = Spool.open({ dir: d, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsyncIntervalMs: 1000, onFull: 'drop-oldest', memoryMaxBytes: 1 << 20, logger: silentLogger() });
    const sink = new SpooledSink({ spool, transport: flaky, batchMaxEvents: 10, batchMaxBytes: 1 << 20, lingerMs: 0, retryMinMs: 1, retryMaxMs: 2, degradedLagMs: 10, logger: silentLogger(), onFatal: () => expect.fail('not fatal') });
    const factory = createEventFactory({ host: 'gw' });
    sink.start();
    sink.write(factory.make('agent.gap', { fromSeq: 1, toSeq: 1, reason: 'buffer-overflow', count: 1 }));
    expect(await sink.flush(3000)).toBe(true);
    expect(n).toBe(4);
    await sink.close();
  });
});
