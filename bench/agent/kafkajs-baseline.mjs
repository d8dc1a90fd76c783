#!/usr/bin/env node
// Baseline for the throughput benchmark: kafkajs 2.2.4 alone, with the agent's producer settings
// (idempotent, acks=all, one key, batches of 1000), sending EVENTS pre-encoded envelope-sized
// JSON values. What the agent adds on top (stamping, validation, spool) is the difference.
//
// Usage: node bench/agent/kafkajs-baseline.mjs EVENTS TOPIC [gzip|none]
import { performance } from 'node:perf_hooks';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';

const [eventsArg, topic, compression = 'gzip'] = process.argv.slice(2);
const EVENTS = Number(eventsArg ?? 200_000);
const BATCH = 1000;
const kafka = new Kafka({ clientId: 'bench-baseline', brokers: [process.env.ROAMWATCH_KAFKA_BROKERS?.split(',')[0] ?? '127.0.0.1:9092'], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
await admin.disconnect();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
await producer.connect();
const value = (i) =>
  JSON.stringify({ v: 1, id: '019ac6f2-8d1e-7a3c-9b21-4f0e6d2c1a7b', host: 'bench-gw', seq: i + 1, timeUs: 1_800_000_000_000_000 + i, source: 'rtnetlink', kind: 'route.added', payload: { route: { family: 4, table: 254, dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, type: 'unicast', protocol: 'static', scope: 'link', oif: 'eth0', oifIndex: 2 } } });
const send = (from, n) =>
  producer.send({ topic, acks: -1, compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None, messages: Array.from({ length: n }, (_, k) => ({ key: 'bench-gw', value: value(from + k) })) });
await send(0, BATCH); // warm-up
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < EVENTS; i += BATCH) await send(i, Math.min(BATCH, EVENTS - i));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await producer.disconnect();
process.stdout.write(JSON.stringify({ events: EVENTS, compression, seconds: +seconds.toFixed(3), eventsPerSecond: Math.round(EVENTS / seconds), cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(3), rssPeakMiB: +(process.memoryUsage.rss() / 2 ** 20).toFixed(1) }) + '\n');
process.exit(0);
