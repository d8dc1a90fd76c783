// A fatal pipeline error against the REAL Kafka (scripts/servers.sh): when a stage throws,
// the processor must stop consuming and reject `done` (the CLI then exits 3 so that its
// supervisor restarts it). Before this was fixed, the error was only logged: the consumer
// kept feeding a subject nobody listened to, offsets stopped moving and `done` never settled,
// so this test hung until its timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { map } from 'rxjs';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Producer } from 'kafkajs';
import { PipelineError } from '@roamwatch/core';
import { processEvents, startProcessor } from '@roamwatch/processor';
import type { KafkaRef, PipelineOutput } from '@roamwatch/processor';
import { syntheticFleet } from '@roamwatch/processor/testing';
import { servers, uniqueRunId } from '../setup/servers.js';

const kafka = new Kafka({ clientId: 'roamwatch-processor-fatal-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
let admin: Admin;
let producer: Producer;

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

describe('processor: fatal pipeline error (real Kafka)', () => {
  it('when a stage throws mid-stream, then done rejects with a PipelineError, consumption stops and nothing after the failure is committed', async () => {
    const run = uniqueRunId('fatal');
    const topic = `${run}.events`;
    const groupId = `${run}-group`;
    const events = syntheticFleet({ hosts: 20, eventsPerHost: 100 }).map((e) => ({ ...e, host: `${run}-${e.host}` }));
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await producer.send({ topic, messages: events.map((e) => ({ key: e.host, value: JSON.stringify(e) })), acks: -1 });

    let outputs = 0;
    const proc = await startProcessor({
      brokers: servers.kafka.brokers,
      topic,
      groupId,
      findingsTopic: false,
      deadLetterTopic: `${run}.dead-letter`,
      commitIntervalMs: 100,
      selfReportMs: 0,
      // the default pipeline, with a stage that fails on its 200th output (a bug in a stage)
      pipeline: (source) =>
        source.pipe(
          processEvents<KafkaRef>({ flushOnComplete: false }),
          map((o: PipelineOutput<KafkaRef>) => {
            outputs += 1;
            if (outputs === 200) throw new Error('stage bug');
            return o;
          }),
        ),
    });
    const err = await proc.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ code: 'PIPELINE_FAILED', retriable: false });
    expect((err as Error).message).toContain('stage bug');
    const consumedAtFailure = proc.stats().consumed;
    await proc.stop({ drainTimeoutMs: 1000 });
    expect(proc.stats().consumed).toBe(consumedAtFailure);
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = Number(offsets!.partitions[0]!.offset);
    expect(committed).toBeLessThan(events.length);
    await admin.deleteTopics({ topics: [topic, `${run}.dead-letter`] }).catch(() => undefined);
  });
});
