#!/usr/bin/env node
// Processor benchmarks (`npm run bench -- processor`):
//
//  1. pure pipeline: a synthetic fleet stream (processor/src/synthetic.ts: route churn, child
//     rekeys, a spurious break-before-make reauth every 10th change) through the whole pipeline
//     on one core (this process, one thread), from decoded envelopes (correlation alone) and
//     from JSON strings (decode + zod validation + correlation). Goal >= 200,000 events/s.
//  2. memory: heap bytes per tracked IKE_SA and per host (idle hosts, 1 and 4 SAs each), with
//     explicit GC (this script re-runs itself with --expose-gc for that part).
//  3. end to end: the same stream produced to a real Kafka topic; in the same run, the raw
//     kafkajs consume rate of that topic (eachBatch, counting only: the ceiling), a kafkajs
//     consumer that JSON-parses every record (the baseline of issue #16), then the
//     processor (startProcessor) from that topic to real InfluxDB until every record is consumed
//     and every point written. Goal >= 25,000 events/s and >= half the raw rate.
//  4. detection latency: live reauths (event times = now) produced one by one while the
//     processor runs; time from the completing vici event (child-updown up) to its
//     roamwatch_reauth point answering a Flux query. p50/p99.
//
// Environment: PROC_BENCH_HOSTS (1000), PROC_BENCH_EVENTS_PER_HOST (200), PROC_BENCH_E2E_EVENTS
// (200000), PROC_BENCH_LATENCY_SAMPLES (30), PROC_BENCH_SKIP (comma list of pure,memory,e2e,latency).
// Results: bench/results/processor-<date>.md and .json, stamped with the machine.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { InfluxDB } from '@influxdata/influxdb-client';
import { machineMarkdown, machineStamp } from '../machine.mjs';
import { BROKERS, INFLUX } from '../servers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const HOSTS = Number(process.env.PROC_BENCH_HOSTS ?? 1000);
const PER_HOST = Number(process.env.PROC_BENCH_EVENTS_PER_HOST ?? 200);
const E2E_EVENTS = Number(process.env.PROC_BENCH_E2E_EVENTS ?? 200_000);
const LAT_SAMPLES = Number(process.env.PROC_BENCH_LATENCY_SAMPLES ?? 30);
const SKIP = new Set((process.env.PROC_BENCH_SKIP ?? '').split(',').filter(Boolean));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// ---- memory child: `run.mjs --memory` under --expose-gc prints JSON and exits
if (process.argv.includes('--memory')) {
  const { Pipeline } = await import('@roamwatch/processor');
  const { HostScript } = await import('@roamwatch/processor/testing');
  const measure = (hosts, sas) => {
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    const p = new Pipeline({ allowedLatenessMs: 0 });
    const sink = () => {};
    for (let i = 0; i < hosts; i++) {
      const h = new HostScript(`gw-${i}`, 1_795_790_000_000_000, false);
      for (let k = 0; k < sas; k++) h.up({ conn: `dc${k}`, uid: String(k + 1), local: '192.0.2.1', remote: `198.51.100.${k + 1}` });
      h.after(20_000).routeAdded('203.0.113.0/24');
      for (const e of h.events) p.push({ type: 'record', value: e }, sink);
    }
    globalThis.gc();
    const after = process.memoryUsage().heapUsed;
    const tracked = p.stats().trackedSas;
    return { hosts, sasPerHost: sas, trackedSas: tracked, heapBytes: after - before, keep: p };
  };
  const n = 20_000;
  const a = measure(n, 1);
  const b = measure(n, 4);
  const perSa = (b.heapBytes - a.heapBytes) / (b.trackedSas - a.trackedSas);
  const perHost = a.heapBytes / n - perSa;
  process.stdout.write(JSON.stringify({ hosts: n, heap1: a.heapBytes, heap4: b.heapBytes, perSaBytes: Math.round(perSa), perHostBytes: Math.round(perHost) }));
  process.exit(0);
}

const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(2);
const { Pipeline, startProcessor } = await import('@roamwatch/processor');
const { syntheticFleet, HostScript } = await import('@roamwatch/processor/testing');
const results = { machine: machineStamp(), loadavgStart: os.loadavg() };
const md = [];

// ---- 1. pure pipeline
if (!SKIP.has('pure')) {
  const lines = syntheticFleet({ hosts: HOSTS, eventsPerHost: PER_HOST }).map((e) => JSON.stringify(e));
  // decoded envelopes as a consumer holds them (JSON.parse output: flat strings)
  const events = lines.map((l) => JSON.parse(l));
  const runOnce = (values) => {
    const p = new Pipeline();
    let out = 0;
    const sink = () => {
      out += 1;
    };
    const t0 = process.hrtime.bigint();
    for (const v of values) p.push({ type: 'record', value: v }, sink);
    p.flush(sink);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    return { seconds: s, rate: values.length / s, outputs: out, reauths: p.stats().reauths.spurious };
  };
  runOnce(events.slice(0, 20_000)); // warm up
  const decoded = [runOnce(events), runOnce(events), runOnce(events)];
  const fromJson = [runOnce(lines), runOnce(lines), runOnce(lines)];
  const best = (xs) => xs.reduce((a, b) => (b.rate > a.rate ? b : a));
  results.pure = { events: events.length, hosts: HOSTS, decoded: best(decoded), fromJson: best(fromJson) };
  md.push(
    `## 1. Pure pipeline, one core\n\n${events.length} events from ${HOSTS} hosts (synthetic fleet; ${best(decoded).reauths} spurious reauths found). Best of 3.\n\n` +
      `| input | events/s | vs goal 200,000 |\n|---|---|---|\n` +
      `| decoded envelopes (order + correlate) | ${Math.round(best(decoded).rate).toLocaleString('en')} | ${(best(decoded).rate / 200_000).toFixed(2)}× |\n` +
      `| JSON strings (decode + validate + order + correlate) | ${Math.round(best(fromJson).rate).toLocaleString('en')} | ${(best(fromJson).rate / 200_000).toFixed(2)}× |\n`,
  );
  console.log(md[md.length - 1]);
}

// ---- 2. memory
if (!SKIP.has('memory')) {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`memory child failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout);
  results.memory = m;
  md.push(
    `## 2. Memory\n\n${m.hosts.toLocaleString('en')} hosts with 1 and with 4 established IKE_SAs each (plus one routing event each), heap after GC.\n\n` +
      `| | bytes |\n|---|---|\n| per tracked IKE_SA (with its CHILD_SA) | ${m.perSaBytes} |\n| per host (state, order buffer, dedupe ids, one SA excluded) | ${m.perHostBytes} |\n` +
      `| heap, ${m.hosts} hosts × 1 SA / × 4 SAs | ${(m.heap1 / 2 ** 20).toFixed(1)} MiB / ${(m.heap4 / 2 ** 20).toFixed(1)} MiB |\n`,
  );
  console.log(md[md.length - 1]);
}

const kafka = new Kafka({ clientId: 'roamwatch-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
const influx = new InfluxDB({ url: INFLUX.url, token: INFLUX.token, timeout: 30_000 });
const run = `bench-${Date.now().toString(36)}`;

// ---- 3. end to end
if (!SKIP.has('e2e')) {
  const hosts = Math.max(1, Math.round(E2E_EVENTS / 100));
  const events = syntheticFleet({ hosts, eventsPerHost: 100 }).map((e) => ({ ...e, host: `${run}-${e.host}` }));
  const topic = `${run}.events`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 8 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < events.length; i += 10_000) {
    await producer.send({ topic, acks: -1, messages: events.slice(i, i + 10_000).map((e) => ({ key: e.host, value: JSON.stringify(e) })) });
  }
  await producer.disconnect();

  // raw kafkajs consume rate (the ceiling)
  const raw = kafka.consumer({ groupId: `${run}-raw` });
  await raw.connect();
  await raw.subscribe({ topic, fromBeginning: true });
  let n = 0;
  let rawStart = 0;
  let rawEnd = 0;
  await raw.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (!rawStart) rawStart = performance.now();
      n += batch.messages.length;
      if (n >= events.length && !rawEnd) rawEnd = performance.now();
    },
  });
  while (!rawEnd) await sleep(20);
  await raw.disconnect();
  const rawRate = events.length / ((rawEnd - rawStart) / 1000);

  // baseline 2: kafkajs eachBatch that JSON-parses every record (the consumer any reader must at least be)
  const parsing = kafka.consumer({ groupId: `${run}-json` });
  await parsing.connect();
  await parsing.subscribe({ topic, fromBeginning: true });
  let pn = 0;
  let jsonStart = 0;
  let jsonEnd = 0;
  await parsing.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (!jsonStart) jsonStart = performance.now();
      for (const m of batch.messages) JSON.parse(m.value.toString('utf8'));
      pn += batch.messages.length;
      if (pn >= events.length && !jsonEnd) jsonEnd = performance.now();
    },
  });
  while (!jsonEnd) await sleep(20);
  await parsing.disconnect();
  const jsonRate = events.length / ((jsonEnd - jsonStart) / 1000);

  // processor: Kafka → pipeline → InfluxDB
  let first = 0;
  const proc = await startProcessor({ brokers: BROKERS, topic, groupId: `${run}-proc`, findingsTopic: false, influx: INFLUX, selfReportMs: 0, commitIntervalMs: 1000 });
  while (proc.stats().consumed === 0) await sleep(5);
  first = performance.now();
  for (;;) {
    const s = proc.stats();
    if (s.consumed >= events.length && s.influx && s.influx.pending === 0) break;
    await sleep(5);
  }
  const procEnd = performance.now();
  const st = proc.stats();
  await proc.stop();
  const procRate = events.length / ((procEnd - first) / 1000);
  results.e2e = { events: events.length, hosts, partitions: 8, rawRate, jsonRate, procRate, ratio: procRate / rawRate, ratioToJson: procRate / jsonRate, pointsWritten: st.influx?.sent, influxBatches: st.influx?.batches };
  md.push(
    `## 3. End to end: real Kafka → processor → real InfluxDB\n\n${events.length.toLocaleString('en')} events from ${hosts} hosts on an 8-partition topic, ` +
      `measured from the first record consumed until every record is consumed and every point it produced so far is acknowledged by InfluxDB ` +
      `(${st.influx?.sent?.toLocaleString('en')} points in ${st.influx?.batches} batches). Same topic, same run.\n\n` +
      `| consumer | events/s | ratio to counting | ratio to JSON-parsing |\n|---|---|---|---|\n| raw kafkajs eachBatch (counting only) | ${Math.round(rawRate).toLocaleString('en')} | 1 | |\n` +
      `| kafkajs eachBatch, JSON.parse of every record (baseline of issue #16) | ${Math.round(jsonRate).toLocaleString('en')} | ${(jsonRate / rawRate).toFixed(2)} | 1 |\n` +
      `| roamwatch processor (decode, order, correlate, InfluxDB, commits) | ${Math.round(procRate).toLocaleString('en')} | ${(procRate / rawRate).toFixed(2)} | ${(procRate / jsonRate).toFixed(2)} (goal ≥ 0.5) |\n\n` +
      `Single-event records here; batch records (what agents write now): bench/datapath.\n` +
      `Goal ≥ 25,000 events/s: ${(procRate / 25_000).toFixed(2)}×.\n`,
  );
  console.log(md[md.length - 1]);
}

// ---- 4. detection latency
if (!SKIP.has('latency')) {
  const topic = `${run}.live`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const proc = await startProcessor({ brokers: BROKERS, topic, groupId: `${run}-live`, findingsTopic: false, influx: { ...INFLUX, lingerMs: 20 }, selfReportMs: 0, tickMs: 100 });
  const query = influx.getQueryApi(INFLUX.org);
  const samples = [];
  for (let i = 0; i < LAT_SAMPLES; i++) {
    const host = `${run}-live-${i}`;
    const now = Date.now() * 1000;
    const old = { conn: 'dc', uid: '1', local: '192.0.2.1', remote: '198.51.100.7' };
    const h = new HostScript(host, now - 2_000_000);
    h.up(old).after(1500).routeAdded('203.0.113.0/24').after(100).reauthBreakBeforeMake(old, { ...old, uid: '2' });
    // the stream as charon and the agent produce it, stamped with wall-clock time: shift so the last event is now
    const shift = Date.now() * 1000 - h.events[h.events.length - 1].timeUs;
    const evs = h.events.map((e) => ({ ...e, timeUs: e.timeUs + shift }));
    const lastUs = evs[evs.length - 1].timeUs;
    await producer.send({ topic, acks: 1, messages: evs.map((e) => ({ key: host, value: JSON.stringify(e) })) });
    const flux = `from(bucket: "${INFLUX.bucket}") |> range(start: -1h, stop: 1h) |> filter(fn: (r) => r._measurement == "roamwatch_reauth" and r.host == "${host}" and r._field == "count")`;
    for (;;) {
      const rows = await query.collectRows(flux).catch(() => []);
      if (rows.length) break;
      await sleep(10);
    }
    samples.push(Date.now() - lastUs / 1000);
  }
  await proc.stop();
  await producer.disconnect();
  results.latency = { samples, p50: pct(samples, 50), p99: pct(samples, 99), allowedLatenessMs: 2000, tickMs: 100 };
  md.push(
    `## 4. Detection latency\n\n${LAT_SAMPLES} live reauths, one at a time: from the vici event that completes the reauth (child-updown up, event time = wall clock) ` +
      `to its roamwatch_reauth point answering a Flux query (polled every 10 ms). The processor holds a host's events until its watermark ` +
      `passes them (allowed lateness 2000 ms, default; a silent host's time runs on with 100 ms ticks), so the floor is ≈ 2 s by design; ` +
      `lower \`--allowed-lateness-ms\` trades out-of-order tolerance for latency.\n\n| p50 | p99 |\n|---|---|\n| ${Math.round(results.latency.p50)} ms | ${Math.round(results.latency.p99)} ms |\n`,
  );
  console.log(md[md.length - 1]);
}

// drop this run's series: unique host names per run would pile up cardinality on the shared server
if (!SKIP.has('e2e') || !SKIP.has('latency')) {
  const q = `DROP SERIES WHERE "host" =~ /^${run}-/`;
  await globalThis.fetch(`${INFLUX.url}/query?db=${encodeURIComponent(INFLUX.bucket.split('/')[0])}&q=${encodeURIComponent(q)}`, { method: 'POST', headers: { Authorization: `Token ${INFLUX.token}` } }).catch(() => undefined);
}

results.loadavgEnd = os.loadavg();
const date = new Date().toISOString().slice(0, 10);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/processor-${date}.json`), JSON.stringify(results, null, 2) + '\n');
writeFileSync(
  join(root, `bench/results/processor-${date}.md`),
  `# Processor benchmarks\n\n${machineMarkdown(results.machine)} Load average at start ${results.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${results.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} (other work shares this 2-core machine).\n\n${md.join('\n')}`,
);
console.log(`written bench/results/processor-${date}.md`);
process.exit(0);
