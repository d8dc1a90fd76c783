/**
 * The processor reading batch records from the real broker (docs/events.md "Records"): a
 * recorded charon scenario arrives as batch records of one host with one bad event inside a
 * batch, next to a batch record cut short. The bad event alone goes to the dead-letter topic
 * (its line, with its index), the cut record goes whole (with its batch headers), the rest is
 * correlated — the spurious reauth is found — and the offsets commit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Message, Producer } from 'kafkajs';
import { batchEventsOf, batchHeaders, encodeBatchValue } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { startProcessor } from '@roamwatch/processor';
import { servers, uniqueRunId } from '../setup/servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const kafka = new Kafka({ clientId: 'roamwatch-batch-processor-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
let admin: Admin;
let producer: Producer;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
});

interface Read {
  value: Buffer;
  headers: Record<string, string>;
}

async function readTopic(topic: string, count: number, timeoutMs = 60_000): Promise<Read[]> {
  const consumer = kafka.consumer({ groupId: uniqueRunId('read') });
  const got: Read[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({ value: message.value ?? Buffer.alloc(0), headers });
    },
  });
  const t0 = Date.now();
  while (got.length < count && Date.now() - t0 < timeoutMs) await sleep(100);
  await consumer.disconnect();
  return got;
}

describe('processor: batch records (real Kafka)', () => {
  it('when a batch holds one bad event and another batch is cut short, then each goes to the dead-letter topic as it should, the rest is correlated and the offsets commit', async () => {
    const run = uniqueRunId('batchproc');
    const topic = `${run}.events`;
    const events = readFileSync(join(ROOT, 'test/fixtures/scenarios/bug-unrelated-route.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ ...(JSON.parse(l) as RoamwatchEvent), host: `${run}-gw` }) as RoamwatchEvent);
    const lines = events.map((e) => JSON.stringify(e));
    const bad = JSON.stringify({ ...events[0]!, seq: -1 });
    lines[0] = bad;
    const timestamp = (e: RoamwatchEvent) => String(Math.round(e.timeUs / 1000));
    const messages: Message[] = [];
    for (let i = 0; i < lines.length; i += 8) {
      const chunk = lines.slice(i, i + 8);
      messages.push({ key: `${run}-gw`, value: encodeBatchValue(chunk), headers: batchHeaders(chunk.length), timestamp: timestamp(events[i]!) });
    }
    // another host's batch that announces 12 events but holds 10 (cut in transit)
    const other = events.slice(0, 10).map((e) => JSON.stringify({ ...e, host: `${run}-gw2` }));
    const cut = encodeBatchValue(other);
    messages.unshift({ key: `${run}-gw2`, value: cut, headers: batchHeaders(12), timestamp: timestamp(events[0]!) });
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await producer.send({ topic, acks: -1, messages });

    const proc = await startProcessor({ brokers: servers.kafka.brokers, topic, groupId: `${run}-group`, findingsTopic: `${run}.findings`, tickMs: 100, commitIntervalMs: 200, selfReportMs: 0 });
    try {
      const dead = await readTopic(`${topic}.dead-letter`, 2);
      expect(dead).toHaveLength(2);
      const whole = dead.find((d) => d.headers.code === 'truncated-batch')!;
      expect(whole.value.toString()).toBe(cut);
      expect(batchEventsOf(whole.headers)).toBe(12);
      expect(whole.headers['source-batch-index']).toBeUndefined();
      const one = dead.find((d) => d.headers.code === 'invalid-event')!;
      expect(one.value.toString()).toBe(bad);
      expect(one.headers).toMatchObject({ 'source-topic': topic, 'source-offset': '1', 'source-batch-index': '0' });
      expect(one.headers.reason).toMatch(/seq/);

      const findings = await readTopic(`${run}.findings`, 1);
      const reauths = findings.map((f) => JSON.parse(f.value.toString()) as { type: string; classification?: string }).filter((f) => f.type === 'reauth');
      expect(reauths.map((r) => r.classification)).toEqual(['spurious']);
      for (let t0 = Date.now(); proc.stats().committed === 0 && Date.now() - t0 < 30_000; ) await sleep(100);
      expect(proc.stats().committed).toBeGreaterThan(0);
      expect(proc.stats().pipeline?.events).toBe(events.length - 1);
    } finally {
      await proc.stop();
    }
  }, 120_000);
});
