// The processor against the REAL servers: Kafka (127.0.0.1:9092) and InfluxDB 1.8 with the
// 2.x API (bucket roamwatch/autogen), started by scripts/servers.sh (docs/testing.md).
// Every test uses its own topics, consumer groups and host names (a run id), so reruns
// against long-lived servers never see each other's data. The expected points are what the
// pure pipeline computes from the same events; InfluxDB must hold exactly those, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Producer } from 'kafkajs';
import { InfluxDB } from '@influxdata/influxdb-client';
import type { RoamwatchEvent } from '@roamwatch/core';
import { Pipeline, startProcessor } from '@roamwatch/processor';
import { syntheticFleet } from '@roamwatch/processor/testing';
import type { MetricPoint, PipelineOutput, Finding } from '@roamwatch/processor';
import { servers, uniqueRunId } from '../setup/servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'cli/bin/roamwatch.js');
const { url, token, org, bucket } = servers.influx;
const influx = new InfluxDB({ url, token, timeout: 30_000 });
const kafka = new Kafka({ clientId: 'roamwatch-processor-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
let admin: Admin;
let producer: Producer;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});
const runs: string[] = [];
/** A run id whose InfluxDB series are dropped after the file: unique hosts per run would otherwise pile up series cardinality on the shared test server (10,000 hosts ≈ 60,000 series) and slow every query. */
function newRun(): string {
  const run = uniqueRunId('proc');
  runs.push(run);
  return run;
}
afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
  const db = bucket.split('/')[0]!;
  for (const run of runs) {
    const q = `DROP SERIES WHERE "host" =~ /^${run.replace(/[^A-Za-z0-9-]/g, '')}-/`;
    await fetch(`${url}/query?db=${encodeURIComponent(db)}&q=${encodeURIComponent(q)}`, { method: 'POST', headers: { Authorization: `Token ${token}` } }).catch(() => undefined);
  }
});

/** Events with every host renamed `<run>-<host>`, so that points of this run are its own. */
function forRun(run: string, events: RoamwatchEvent[]): RoamwatchEvent[] {
  return events.map((e) => ({ ...e, host: `${run}-${e.host}` }) as RoamwatchEvent);
}

function fixture(name: string): RoamwatchEvent[] {
  return readFileSync(join(ROOT, 'test/fixtures/scenarios', `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RoamwatchEvent);
}

async function produce(topic: string, values: { key: string | null; value: string }[], partitions = 4): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  for (let i = 0; i < values.length; i += 5000) {
    // a just-created topic's leader may not be known to the producer yet: retry briefly
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send({ topic, messages: values.slice(i, i + 5000), acks: -1 });
        break;
      } catch (err) {
        if (attempt >= 10) throw err;
        await sleep(300);
      }
    }
  }
}
const asMessages = (events: RoamwatchEvent[]) => events.map((e) => ({ key: e.host, value: JSON.stringify(e) }));

/** Rows as `measurement|tags|field=value|timeNs`, one per field, from the pure pipeline. */
function expectedRows(events: RoamwatchEvent[]): { rows: string[]; findings: Finding[]; points: number } {
  const p = new Pipeline<never>();
  const points: MetricPoint[] = [];
  const findings: Finding[] = [];
  const emit = (o: PipelineOutput<never>) => {
    if (o.type === 'point') points.push(o.point);
    else if (o.type === 'finding') findings.push(o.finding);
  };
  for (const e of events) p.push({ type: 'record', value: e }, emit);
  p.flush(emit);
  // Identical keys overwrite in InfluxDB: keep the last, as the server does.
  const byKey = new Map<string, string>();
  for (const pt of points) {
    const tags = Object.keys(pt.tags).sort().map((k) => `${k}=${pt.tags[k]}`).join(',');
    const fields: [string, unknown][] = [...Object.entries(pt.ints ?? {}), ...Object.entries(pt.floats ?? {}), ...Object.entries(pt.strings ?? {})];
    for (const [f, v] of fields) byKey.set(`${pt.measurement}|${tags}|${f}|${pt.timeNs}`, `${pt.measurement}|${tags}|${f}=${String(v)}|${pt.timeNs}`);
  }
  return { rows: [...byKey.values()].sort(), findings, points: points.length };
}

function nsOfRfc3339(t: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(t);
  if (!m) throw new Error(`bad time ${t}`);
  const s = BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n;
  return String(s + BigInt((m[2] ?? '').padEnd(9, '0')));
}

const TAGS = ['host', 'conn', 'peer', 'class', 'trigger_kind', 'state', 'sa', 'kind', 'op'];

/** Every row InfluxDB holds for this run's hosts. */
async function queryRows(run: string): Promise<string[]> {
  const flux = `from(bucket: ${JSON.stringify(bucket)})
  |> range(start: 2020-01-01T00:00:00Z, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement =~ /^roamwatch_/ and exists r.host and strings.hasPrefix(v: r.host, prefix: ${JSON.stringify(`${run}-`)}))`;
  const rows = await influx.getQueryApi(org).collectRows<Record<string, unknown>>(`import "strings"\n${flux}`);
  return rows
    .map((r) => {
      const tags = TAGS.filter((k) => typeof r[k] === 'string' && r[k] !== '').sort().map((k) => `${k}=${String(r[k])}`).join(',');
      return `${String(r._measurement)}|${tags}|${String(r._field)}=${String(r._value)}|${nsOfRfc3339(String(r._time))}`;
    })
    .sort();
}

async function waitForRows(run: string, count: number, timeoutMs: number): Promise<string[]> {
  const t0 = Date.now();
  let rows: string[] = [];
  while (Date.now() - t0 < timeoutMs) {
    rows = await queryRows(run).catch(() => rows);
    if (rows.length >= count) return rows;
    await sleep(500);
  }
  return rows;
}

async function readTopic(topic: string, count: number, timeoutMs = 30_000): Promise<{ value: string; headers: Record<string, string> }[]> {
  const consumer = kafka.consumer({ groupId: uniqueRunId('read') });
  const got: { value: string; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({ value: message.value?.toString() ?? '', headers });
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
  influx: { url, token, org, bucket },
  tickMs: 100,
  commitIntervalMs: 200,
  selfReportMs: 0,
});

describe('processor: Kafka → pipeline → InfluxDB and findings (real servers)', () => {
  it('when a recorded lab stream and a small fleet are produced, then InfluxDB holds exactly the points of the pure pipeline, and the findings topic the findings', async () => {
    const run = newRun();
    const events = forRun(run, [...fixture('bug-unrelated-route'), ...syntheticFleet({ hosts: 30, eventsPerHost: 60 })]);
    const { rows: expected, findings } = expectedRows(events);
    await produce(`${run}.events`, asMessages(events));
    const proc = await startProcessor(settings(run));
    try {
      const rows = await waitForRows(run, expected.length, 60_000);
      expect(rows).toEqual(expected);
      expect(findings.filter((f) => f.type === 'reauth').length).toBeGreaterThan(30);
      const published = await readTopic(`${run}.findings`, findings.length);
      expect(published.map((m) => (JSON.parse(m.value) as Finding).id).sort()).toEqual(findings.map((f) => f.id).sort());
      const lab = published.map((m) => JSON.parse(m.value) as Finding).find((f) => f.host === `${run}-gw-lab`);
      expect(lab).toMatchObject({ type: 'reauth', classification: 'spurious', conn: 'rw' });
    } finally {
      await proc.stop();
    }
  });

  it('when the topic is replayed twice with two consumer groups, then the points are identical (idempotent writes, nothing doubled)', async () => {
    const run = newRun();
    const events = forRun(run, syntheticFleet({ hosts: 20, eventsPerHost: 80 }));
    const { rows: expected } = expectedRows(events);
    await produce(`${run}.events`, asMessages(events));
    const first = await startProcessor({ ...settings(run), groupId: `${run}-a` });
    const rowsA = await waitForRows(run, expected.length, 60_000);
    await first.stop();
    const second = await startProcessor({ ...settings(run), groupId: `${run}-b` });
    try {
      // wait until the second run has written everything (its self-consistency: same count, then same rows)
      await sleep(3000);
      const t0 = Date.now();
      while (second.stats().committed === 0 || second.stats().inFlight > 0) {
        if (Date.now() - t0 > 60_000) break;
        await sleep(300);
      }
      const rowsB = await queryRows(run);
      expect(rowsA).toEqual(expected);
      expect(rowsB).toEqual(expected);
    } finally {
      await second.stop();
    }
  });

  it('when a poison message is in the stream, then it goes to the dead-letter topic with the reason, and the rest is processed', async () => {
    const run = newRun();
    const events = forRun(run, fixture('bug-unrelated-route'));
    const { rows: expected } = expectedRows(events);
    const msgs: { key: string | null; value: string }[] = asMessages(events);
    msgs.splice(5, 0, { key: `${run}-gw-lab`, value: '{"v":1,"kind":"route.added","payload":{}}' }, { key: null, value: 'not json' });
    await produce(`${run}.events`, msgs, 1);
    const proc = await startProcessor(settings(run));
    try {
      const dead = await readTopic(`${run}.events.dead-letter`, 2);
      expect(dead.map((d) => d.headers.code).sort()).toEqual(['invalid-event', 'not-json']);
      expect(dead.find((d) => d.headers.code === 'invalid-event')!.headers.reason).toMatch(/id|payload/);
      expect(dead.every((d) => d.headers['source-topic'] === `${run}.events`)).toBe(true);
      expect(await waitForRows(run, expected.length, 60_000)).toEqual(expected);
      expect(proc.stats().pipeline?.deadLetters).toBe(2);
    } finally {
      await proc.stop();
    }
  });

  it('when the processor is killed (SIGKILL) mid-stream and restarted, then InfluxDB has no duplicates and no gaps', async () => {
    const run = newRun();
    const events = forRun(run, syntheticFleet({ hosts: 150, eventsPerHost: 100 }));
    const { rows: expected } = expectedRows(events);
    await produce(`${run}.events`, asMessages(events));
    const args = [CLI, 'processor', '--brokers', servers.kafka.brokers.join(','), '--topic', `${run}.events`, '--group', `${run}-group`, '--findings-topic', `${run}.findings`, '--influx-url', url, '--influx-bucket', bucket, '--influx-org', org, '--log-level', 'warn', '--incidents', 'false'];
    // (--incidents false: the rows compared are the pure pipeline's; incident points are the grouping's, tested in incidents-*.test.ts)
    const env = { ...process.env, ROAMWATCH_INFLUX_TOKEN: token };
    const first: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    // kill it once some, but not all, points are in InfluxDB
    const t0 = Date.now();
    let seen = 0;
    while (Date.now() - t0 < 60_000) {
      seen = (await queryRows(run)).length;
      if (seen > 0) break;
      await sleep(100);
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.on('exit', r));
    expect(seen).toBeGreaterThan(0);
    const partial = (await queryRows(run)).length;
    expect(partial).toBeLessThan(expected.length);
    const offsets = await admin.fetchOffsets({ groupId: `${run}-group`, topics: [`${run}.events`] });
    const committed = offsets[0]!.partitions.reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBeLessThan(events.length);
    const second: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const rows = await waitForRows(run, expected.length, 90_000);
      expect(rows).toEqual(expected);
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.on('exit', r));
    }
  });

  it('when InfluxDB is stopped for 30 s, then consumption pauses (backpressure), offsets stay uncommitted, and after the restart nothing is lost', async () => {
    const run = newRun();
    const events = forRun(run, syntheticFleet({ hosts: 100, eventsPerHost: 100 }));
    const { rows: expected } = expectedRows(events);
    await admin.createTopics({ topics: [{ topic: `${run}.events`, numPartitions: 4 }], waitForLeaders: true });
    const proc = await startProcessor({ ...settings(run), maxInFlight: 500 });
    const servers = join(ROOT, 'scripts/servers.sh');
    try {
      execFileSync('bash', [servers, 'stop', 'influxdb'], { stdio: 'ignore' });
      await produce(`${run}.events`, asMessages(events));
      await sleep(30_000);
      const during = proc.stats();
      expect(during.influx?.failing).toBe(true);
      expect(during.paused).toBe(true);
      expect(during.consumed).toBeLessThan(events.length);
      const offsets = await admin.fetchOffsets({ groupId: `${run}-group`, topics: [`${run}.events`] });
      expect(offsets[0]!.partitions.every((p) => Number(p.offset) <= 0)).toBe(true);
    } finally {
      execFileSync('bash', [servers, 'start', 'influxdb'], { stdio: 'ignore' });
    }
    try {
      const rows = await waitForRows(run, expected.length, 150_000);
      if (rows.length !== expected.length) console.error('after restart', JSON.stringify(proc.stats()));
      expect(rows).toEqual(expected);
      expect(proc.stats().consumed).toBe(events.length);
    } finally {
      await proc.stop();
    }
  }, 300_000);

  it('when 10,000 hosts are interleaved on one topic, then every host\'s reauths are found and written', async () => {
    const run = newRun();
    const events = forRun(run, syntheticFleet({ hosts: 10_000, sasPerHost: 1, eventsPerHost: 22 }));
    const { rows: expected, findings, points } = expectedRows(events);
    const hostsWithReauth = new Set(findings.filter((f) => f.type === 'reauth').map((f) => f.host));
    expect(hostsWithReauth.size).toBe(10_000);
    await produce(`${run}.events`, asMessages(events), 8);
    const proc = await startProcessor({ ...settings(run), findingsTopic: false });
    try {
      // wait on the processor's own counters (polling 190k rows from InfluxDB would load it), then compare once
      const t0 = Date.now();
      while (Date.now() - t0 < 240_000) {
        const st = proc.stats();
        if (st.pipeline && st.pipeline.points >= points && st.influx?.pending === 0) break;
        await sleep(500);
      }
      expect(proc.stats().pipeline?.lateNetChanges).toBe(0);
      expect(await queryRows(run)).toEqual(expected);
    } finally {
      await proc.stop();
    }
  }, 400_000);
});
