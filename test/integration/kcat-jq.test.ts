/**
 * docs/events.md, "Records": a topic holding single-event and batch records reads with the
 * documented `kcat -C … -e -q | jq -c .`, one event per line, in order — the real kcat and jq
 * against the real broker, records written by the agent's own packing (packRecords).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { createEventFactory, createManualClock, encodeEvent } from '@roamwatch/core';
import { packRecords } from '@roamwatch/agent';
import { servers, uniqueRunId } from '../setup/servers.js';

describe('reading a topic by hand (kcat | jq)', () => {
  it('when a topic mixes single-event and batch records, then the documented kcat | jq command prints every event once, in order', async () => {
    const topic = `${uniqueRunId('kcat')}.events`;
    const factory = createEventFactory({ host: 'gw-kcat', clock: createManualClock(1_795_794_638_000_000) });
    const lines = Array.from({ length: 23 }, (_, i) =>
      encodeEvent(factory.make('route.added', { route: { family: 4, table: 254, dst: `10.0.${i}.0/24`, type: 'unicast', protocol: 'static', scope: 'link', oif: 'eth0', oifIndex: 2 } })),
    );
    const spooled = lines.map((line, i) => ({ seq: i + 1, line, timeUs: 0, bytes: Buffer.byteLength(line) }));
    // a single-event record (as written before batch records), then batch records of ≤ 10, then one single again
    const records = [...packRecords(spooled.slice(0, 1), 1, 1 << 20), ...packRecords(spooled.slice(1, 22), 10, 1 << 20), ...packRecords(spooled.slice(22), 10, 1 << 20)];
    expect(records.map((r) => r.events)).toEqual([1, 10, 10, 1, 1]);
    const kafka = new Kafka({ clientId: 'roamwatch-kcat-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: records.map((r) => ({ key: 'gw-kcat', value: r.value, ...(r.headers ? { headers: r.headers } : {}) })) });
    await producer.disconnect();

    const broker = servers.kafka.brokers[0]!;
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `kcat -C -b ${broker} -t ${topic} -o beginning -e -q | jq -c .`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out.map((l) => JSON.parse(l) as unknown)).toEqual(lines.map((l) => JSON.parse(l) as unknown));

    const kinds = spawnSync('bash', ['-o', 'pipefail', '-c', `kcat -C -b ${broker} -t ${topic} -o beginning -e -q | jq -r '.payload.route.dst'`], { encoding: 'utf8', timeout: 60_000 });
    expect(kinds.stdout.trim().split('\n')).toEqual(lines.map((_, i) => `10.0.${i}.0/24`));
  }, 120_000);
});
