/**
 * Dead letters and clock skew against a real Kafka broker: nothing the processor rejects is
 * lost while its offset commits, dead letters keep the whole record (or a reference to it),
 * and one event stamped a year ahead does not poison its host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Message, Producer } from 'kafkajs';
import type { RoamwatchEvent } from '@roamwatch/core';
import { startProcessor } from '@roamwatch/processor';
import { servers, uniqueRunId } from '../setup/servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const kafka = new Kafka({ clientId: 'roamwatch-dead-letter-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
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

async function produce(topic: string, messages: Message[]): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  // One message per request: each fits the broker's limit on its own, as an agent would send it.
  for (const m of messages) await producer.send({ topic, messages: [m], acks: -1 });
}

interface Read {
  value: Buffer;
  headers: Record<string, string>;
}

async function readTopic(topic: string, count: number, timeoutMs = 60_000): Promise<Read[]> {
  const consumer = kafka.consumer({ groupId: uniqueRunId('read'), maxBytesPerPartition: 8 << 20 });
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

const settings = (run: string) => ({
  brokers: servers.kafka.brokers,
  topic: `${run}.events`,
  groupId: `${run}-group`,
  findingsTopic: `${run}.findings`,
  tickMs: 100,
  commitIntervalMs: 200,
  selfReportMs: 0,
});

/** An invalid event of `bytes` bytes (valid JSON, fails the contract), numbered. */
function invalid(i: number, bytes: number): string {
  const head = `{"v":1,"kind":"route.added","n":${i},"pad":"`;
  return head + 'x'.repeat(bytes - head.length - 2) + '"}';
}

describe('processor: dead letters and clock skew (real Kafka)', () => {
  it('when 40 invalid 60 KiB messages arrive, then all 40 reach the dead-letter topic whole, and their offsets commit', async () => {
    const run = uniqueRunId('dlq');
    const values = Array.from({ length: 40 }, (_, i) => invalid(i, 60 * 1024));
    await produce(`${run}.events`, values.map((value) => ({ key: null, value })));
    const proc = await startProcessor(settings(run));
    try {
      const dead = await readTopic(`${run}.events.dead-letter`, 40);
      // Before: one 2.4 MB batch, refused by the broker and dropped while the offsets committed.
      expect(dead).toHaveLength(40);
      expect(dead.map((d) => d.value.toString()).sort()).toEqual([...values].sort());
      expect(dead.every((d) => d.headers.code === 'invalid-event' && d.headers['source-topic'] === `${run}.events`)).toBe(true);
      for (let t0 = Date.now(); proc.stats().committed === 0 && Date.now() - t0 < 30_000; ) await sleep(100);
      expect(proc.stats().committed).toBeGreaterThan(0);
    } finally {
      await proc.stop();
    }
  });

  it('when a dead letter is too large for the dead-letter topic even alone, then a reference to its source record goes instead', async () => {
    const run = uniqueRunId('dlq');
    await admin.createTopics({ topics: [{ topic: `${run}.events.dead-letter`, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '100000' }] }], waitForLeaders: true });
    await produce(`${run}.events`, [{ key: null, value: invalid(1, 300 * 1024) }]);
    const proc = await startProcessor(settings(run));
    try {
      const [dead] = await readTopic(`${run}.events.dead-letter`, 1);
      expect(dead!.value.length).toBe(0);
      expect(dead!.headers).toMatchObject({ code: 'invalid-event', 'source-topic': `${run}.events`, 'source-partition': '0', 'source-offset': '0', 'raw-bytes': String(300 * 1024) });
      expect(dead!.headers['raw-omitted']).toMatch(/source-topic\/source-partition\/source-offset/);
    } finally {
      await proc.stop();
    }
  });

  it('when one event of a host is stamped a year ahead of its record timestamp, then it is dead-lettered as clock-skew and the host still gets its spurious reauth', async () => {
    const run = uniqueRunId('skew');
    const events = readFileSync(join(ROOT, 'test/fixtures/scenarios/bug-unrelated-route.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ ...(JSON.parse(l) as RoamwatchEvent), host: `${run}-gw` }) as RoamwatchEvent);
    const first = events[0]!;
    const poison = { ...first, id: '019ac6f2-8d1e-7a3c-9b21-4f0e6d2c1a7b', timeUs: first.timeUs + 365 * 24 * 3600 * 1_000_000 };
    // Record timestamps as the agent's producer sets them: its clock at send time.
    const msg = (e: RoamwatchEvent) => ({ key: e.host, value: JSON.stringify(e), timestamp: String(Math.round(first.timeUs / 1000)) });
    await produce(`${run}.events`, [msg(poison)]);
    const proc = await startProcessor(settings(run));
    try {
      const [dead] = await readTopic(`${run}.events.dead-letter`, 1);
      expect(dead!.headers.code).toBe('clock-skew');
      expect(dead!.value.toString()).toBe(JSON.stringify(poison));
      // Processing time runs on (ticks) before the host's real events arrive.
      await sleep(3000);
      await produce(`${run}.events`, events.map((e) => ({ ...msg(e), timestamp: String(Math.round(e.timeUs / 1000)) })));
      const findings = await readTopic(`${run}.findings`, 1);
      const reauths = findings.map((f) => JSON.parse(f.value.toString()) as { type: string; classification?: string }).filter((f) => f.type === 'reauth');
      expect(reauths.map((r) => r.classification)).toEqual(['spurious']);
      expect(proc.stats().pipeline?.late).toBe(0);
    } finally {
      await proc.stop();
    }
  });
});
