/**
 * Batch records against the real Kafka broker (docs/events.md "Records"): the agent's Kafka
 * sink packs consecutive events into batch records while the spool stays per event. Killed
 * with SIGKILL in the middle of the stream (a produce request in flight) and restarted on the
 * same spool, the agent loses nothing and numbers on; what it sends twice carries the same ids,
 * and the processor's pipeline, reading the topic's batch records, drops those duplicates:
 * every sequence number exactly once downstream.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { batchEventsOf, decodeRecordEvents } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { Pipeline } from '@roamwatch/processor';
import type { PipelineInput, PipelineOutput } from '@roamwatch/processor';
import { servers, uniqueRunId } from '../setup/servers.js';

const WRITER = fileURLToPath(new URL('./fixtures/agent-route-writer.mjs', import.meta.url));
const kafka = new Kafka({ clientId: 'roamwatch-batch-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writer(topic: string, spool: string, events: number) {
  const child = spawn(process.execPath, [WRITER, topic, spool, String(events)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ROAMWATCH_KAFKA_BROKERS: servers.kafka.brokers.join(',') },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const emitting = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('emitting') && resolve());
    child.once('exit', (code, signal) => reject(new Error(`writer exited (${code ?? signal}) before emitting: ${stderr}`)));
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, emitting, exited, stderr: () => stderr };
}

async function records(topic: string): Promise<{ offset: number; value: Buffer; headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> }[]> {
  const admin = kafka.admin();
  await admin.connect();
  const [end] = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const high = Number(end!.high);
  const got: { offset: number; value: Buffer; headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> }[] = [];
  const consumer = kafka.consumer({ groupId: uniqueRunId('batch-read'), maxBytesPerPartition: 16 << 20 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push({ offset: Number(message.offset), value: message.value!, headers: message.headers ?? {} }) });
    const deadline = Date.now() + 60_000;
    while (got.length < high && Date.now() < deadline) await sleep(100);
  } finally {
    await consumer.disconnect();
  }
  return got.sort((a, b) => a.offset - b.offset);
}

async function recordCount(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } catch {
    return 0;
  } finally {
    await admin.disconnect();
  }
}

describe('agent → Kafka batch records (real broker)', () => {
  it('when the agent is killed mid-batch and restarted on its spool, then every sequence number reaches the processor exactly once', async () => {
    const run = uniqueRunId('batch');
    const topic = `${run}.events`;
    const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-batch-spool-'));
    try {
      // 1. an agent streaming until killed: SIGKILL as soon as Kafka holds a few of its batch records
      const first = writer(topic, spool, 0);
      await first.emitting;
      const deadline = Date.now() + 60_000;
      while ((await recordCount(topic)) < 5 && Date.now() < deadline) await sleep(20);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      // 2. the same agent again, on the same spool: it resends what was not acknowledged, then 3000 more
      const second = writer(topic, spool, 3000);
      expect(await second.exited, second.stderr()).toBe(0);

      const recs = await records(topic);
      const batches = recs.filter((r) => batchEventsOf(r.headers) !== undefined);
      expect(batches.length).toBeGreaterThan(0);
      const events: RoamwatchEvent[] = recs.flatMap((r) => decodeRecordEvents(r.value, r.headers));
      expect(events.every((e) => e.host === 'gw-batch')).toBe(true);

      // the agent's promise: no gap, and one seq never has two ids (a resend keeps its id)
      const idOfSeq = new Map<number, string>();
      for (const e of events) {
        const known = idOfSeq.get(e.seq);
        if (known !== undefined) expect(e.id).toBe(known);
        idOfSeq.set(e.seq, e.id);
      }
      const maxSeq = Math.max(...idOfSeq.keys());
      expect(idOfSeq.size).toBe(maxSeq);
      expect(maxSeq).toBeGreaterThan(3000);

      // the processor's pipeline over the records as the Kafka edge hands them over: duplicates
      // dropped by id, every record released exactly once
      const p = new Pipeline<number>({ allowedLatenessMs: 0 });
      const out: PipelineOutput<number>[] = [];
      for (const r of recs) {
        const batchEvents = batchEventsOf(r.headers);
        const input: PipelineInput<number> = { type: 'record', value: r.value, ref: r.offset, ...(batchEvents !== undefined ? { batchEvents } : {}) };
        p.push(input, (o) => out.push(o));
      }
      p.flush((o) => out.push(o));
      const st = p.stats();
      expect(st.deadLetters).toBe(0);
      expect(st.events).toBe(maxSeq);
      expect(st.events + st.duplicates).toBe(events.length);
      const released = out.flatMap((o) => (o.type === 'release' ? o.refs : []));
      expect(released.sort((a, b) => a - b)).toEqual(recs.map((r) => r.offset));
    } finally {
      fs.rmSync(spool, { recursive: true, force: true });
    }
  }, 240_000);
});
