// Smoke test of the real Kafka test broker (scripts/servers.sh): the produce →
// consumer-group → committed-offset path that the agent and processor rely on.
import type { Admin, Consumer, EachMessagePayload, Producer } from 'kafkajs';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servers, uniqueRunId } from '../setup/servers.js';

interface Received {
  key: string;
  value: string;
  offset: string;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last !== undefined) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('Kafka test broker', () => {
  const runId = uniqueRunId('smoke');
  const topic = `roamwatch.smoke.${runId}`;
  const groupId = `roamwatch-smoke-${runId}`;
  const kafka = new Kafka({
    clientId: 'roamwatch-smoke',
    brokers: servers.kafka.brokers,
    logLevel: logLevel.WARN,
    retry: { retries: 5 },
  });
  let admin: Admin;
  let producer: Producer;
  const consumers: Consumer[] = [];

  async function consume(expected: number): Promise<{ consumer: Consumer; received: Received[] }> {
    // A short fetch wait: disconnect() waits for the fetch in flight (default 5 s).
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 250 });
    consumers.push(consumer);
    const received: Received[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }: EachMessagePayload) => {
        received.push({
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          offset: message.offset,
        });
      },
    });
    await until(`${expected} messages on ${topic}`, 30_000, async () =>
      received.length >= expected ? received : undefined,
    );
    return { consumer, received };
  }

  async function committedOffset(): Promise<string | undefined> {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return entry?.partitions.find((p) => p.partition === 0)?.offset;
  }

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  });

  afterAll(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    if (admin) {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  });

  it('when three messages are produced, then a consumer group receives them in order and commits offset 3', async () => {
    const sent = ['gw-1', 'gw-1', 'gw-2'].map((host, i) => ({ key: host, value: `${runId}:${i}` }));
    await producer.send({ topic, acks: -1, messages: sent });

    const { consumer, received } = await consume(3);
    expect(received).toEqual([
      { key: 'gw-1', value: `${runId}:0`, offset: '0' },
      { key: 'gw-1', value: `${runId}:1`, offset: '1' },
      { key: 'gw-2', value: `${runId}:2`, offset: '2' },
    ]);

    // The committed offset is the next one to read; it is visible to any admin client.
    const offset = await until('the committed offset 3', 20_000, async () => {
      const o = await committedOffset();
      return o === '3' ? o : undefined;
    });
    expect(offset).toBe('3');
    await consumer.disconnect();
  });

  it('when the group reconnects after the commit, then it receives only the messages produced since', async () => {
    await producer.send({ topic, acks: -1, messages: [{ key: 'gw-3', value: `${runId}:3` }] });

    const { received } = await consume(1);
    // Give a wrongly re-delivered earlier message a moment to show up.
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toEqual([{ key: 'gw-3', value: `${runId}:3`, offset: '3' }]);
    await until('the committed offset 4', 20_000, async () => ((await committedOffset()) === '4' ? true : undefined));
  });
});
