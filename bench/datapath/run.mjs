#!/usr/bin/env node
// Data-path benchmarks (`npm run bench -- datapath`, issue #16 items 2 and 3): batch records and
// compiled validation, each against its baseline in the same run.
//
//  1. decode + validate, one core (this process): JSON lines of a synthetic fleet
//     (processor/src/synthetic.ts) through JSON.parse alone (the floor), JSON.parse + zod (the
//     path before compiled validation), decodeEvent (JSON.parse + the compiled checker), and
//     batch records of 100 events (decodeBatchRecord). Goal >= 1,000,000 events/s/core.
//     Also the whole pipeline from JSON strings vs from decoded envelopes.
//  2. agent → Kafka (bench/agent/throughput.mjs: the real composition, gzip, acks=all,
//     idempotent, one process per run): single-event records (kafka.recordMaxEvents 1: the path
//     before batch records, the A of #13's A/B) against batch records (defaults), and kafkajs'
//     own per-record baseline (bench/agent/kafkajs-baseline.mjs). Goals >= 250,000 events/s,
//     >= 3× the kafkajs baseline, peak RSS <= 150 MiB.
//  3. processor end to end, real Kafka → real InfluxDB: the same fleet on an 8-partition topic
//     written as batch records (what agents write now) and as single-event records (what they
//     wrote before); for each, a kafkajs consumer that JSON-parses every event of every record
//     (the baseline), then startProcessor. Goal >= 0.5× the baseline, >= 250,000 events/s.
//
// Environment: DATAPATH_BENCH_EVENTS (200000), DATAPATH_BENCH_ROUNDS (2), DATAPATH_BENCH_SKIP
// (comma list of decode,agent,processor). Results: bench/results/datapath-<date>.md and .json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { machineMarkdown, machineStamp } from '../machine.mjs';
import { BROKERS, INFLUX } from '../servers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EVENTS = Number(process.env.DATAPATH_BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.DATAPATH_BENCH_ROUNDS ?? 2);
const SKIP = new Set((process.env.DATAPATH_BENCH_SKIP ?? '').split(',').filter(Boolean));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x) => Math.round(x).toLocaleString('en');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(2);
const core = await import('@roamwatch/core');
const { Pipeline, decodeBatchRecord, startProcessor } = await import('@roamwatch/processor');
const { syntheticFleet } = await import('@roamwatch/processor/testing');
const results = { machine: machineStamp(), loadavgStart: loadavg(), config: { EVENTS, ROUNDS } };
const md = [];

/** Consecutive events of one host, `size` at a time, as batch records (what the agent's sink writes). */
function batchRecords(events, size) {
  const byHost = new Map();
  for (const e of events) {
    let l = byHost.get(e.host);
    if (!l) byHost.set(e.host, (l = []));
    l.push(e);
  }
  const out = [];
  for (const [host, evs] of byHost) {
    for (let i = 0; i < evs.length; i += size) {
      const lines = evs.slice(i, i + size).map(core.encodeEvent);
      out.push(lines.length === 1 ? { key: host, value: lines[0], events: 1 } : { key: host, value: core.encodeBatchValue(lines), headers: core.batchHeaders(lines.length), events: lines.length });
    }
  }
  return out;
}

// ---- 1. decode + validate
if (!SKIP.has('decode')) {
  const events = syntheticFleet({ hosts: Math.max(1, Math.round(EVENTS / 200)), eventsPerHost: 200 });
  const lines = events.map(core.encodeEvent);
  // Kafka hands values over as Buffers: every path starts from one (UTF-8 decoding included)
  const values = lines.map((l) => Buffer.from(l));
  const batches = batchRecords(events, 100).map((r) => ({ value: Buffer.from(r.value), events: r.events }));
  const time = (fn, n) => {
    const t0 = process.hrtime.bigint();
    fn();
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const parsed = lines.map((l) => JSON.parse(l));
  const check = core.envelopeFastCheck();
  const cases = {
    'validate alone, zod (on parsed values)': () => {
      for (const v of parsed) core.validateEventSlow(v);
    },
    'validate alone, compiled checker (on parsed values)': () => {
      for (const v of parsed) if (!check(v)) throw new Error('the checker refused a valid event');
    },
    'JSON.parse only (floor)': () => {
      for (const b of values) JSON.parse(b.toString('utf8'));
    },
    'JSON.parse + zod (before)': () => {
      for (const b of values) core.validateEventSlow(JSON.parse(b.toString('utf8')));
    },
    'decodeEvent: JSON.parse + compiled checker': () => {
      for (const b of values) core.decodeEvent(b);
    },
    'batch records of 100 (decodeBatchRecord)': () => {
      for (const b of batches) if (b.events === 1) core.decodeEvent(b.value);
      else decodeBatchRecord(b.value, 0, b.events);
    },
  };
  const rates = {};
  for (const fn of Object.values(cases)) fn(); // warm-up
  // interleaved rounds, best of 5: a busy machine's load spikes hit every path alike
  for (let round = 0; round < 5; round++) {
    for (const [name, fn] of Object.entries(cases)) rates[name] = Math.max(rates[name] ?? 0, time(fn, lines.length));
  }
  const runPipeline = (values) => {
    const p = new Pipeline();
    const sink = () => {};
    return time(() => {
      for (const v of values) p.push(v, sink);
      p.flush(sink);
    }, lines.length);
  };
  const decoded = lines.map((l) => ({ type: 'record', value: JSON.parse(l) }));
  const fromJson = lines.map((l) => ({ type: 'record', value: l }));
  const fromBatches = batches.map((b, i) => (b.events === 1 ? { type: 'record', value: b.value, ref: i } : { type: 'record', value: b.value, ref: i, batchEvents: b.events }));
  runPipeline(decoded.slice(0, 20_000));
  const pipe = { decoded: 0, fromJson: 0, fromBatches: 0 };
  for (let round = 0; round < 3; round++) {
    pipe.decoded = Math.max(pipe.decoded, runPipeline(decoded));
    pipe.fromJson = Math.max(pipe.fromJson, runPipeline(fromJson));
    pipe.fromBatches = Math.max(pipe.fromBatches, runPipeline(fromBatches));
  }
  results.decode = { events: lines.length, rates, pipeline: pipe };
  const floor = rates['JSON.parse only (floor)'];
  const zod = rates['JSON.parse + zod (before)'];
  const zodAlone = rates['validate alone, zod (on parsed values)'];
  md.push(
    `## 1. Decode + validate, one core\n\n${fmt(lines.length)} events of a synthetic fleet (route churn, rekeys, reauths), from Buffers as Kafka hands values over (UTF-8 decoding included), best of 5 interleaved rounds.\n\n` +
      `| path | events/s | vs JSON.parse alone | vs zod (same input) | goal 1,000,000 |\n|---|---|---|---|---|\n` +
      Object.entries(rates)
        .map(([k, r]) => `| ${k} | ${fmt(r)} | ${k.startsWith('validate alone') ? '' : (r / floor).toFixed(2)} | ${(r / (k.startsWith('validate alone') ? zodAlone : zod)).toFixed(2)}× | ${(r / 1e6).toFixed(2)}× |`)
        .join('\n') +
      `\n\nWhole pipeline (decode, order, correlate, project) on one core: from decoded envelopes ${fmt(pipe.decoded)} events/s; ` +
      `from JSON strings ${fmt(pipe.fromJson)} (${(pipe.fromJson / pipe.decoded).toFixed(2)} of decoded); from batch records ${fmt(pipe.fromBatches)} (${(pipe.fromBatches / pipe.decoded).toFixed(2)}).\n`,
  );
  console.log(md[md.length - 1]);
}

// ---- 2. agent → Kafka
if (!SKIP.has('agent')) {
  const runId = Date.now().toString(36);
  const agentRun = (label, flags, i) => {
    const spool = join(os.tmpdir(), `rw-bench-datapath-spool-${process.pid}`);
    const r = spawnSync(process.execPath, [join(root, 'bench/agent/throughput.mjs'), String(EVENTS), `roamwatch.bench.datapath.${runId}.${label}.${i}`, spool, 'gzip', JSON.stringify(flags)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 600_000,
    });
    rmSync(spool, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`agent throughput run failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  const baselineRun = (i) => {
    const b = spawnSync(process.execPath, [join(root, 'bench/agent/kafkajs-baseline.mjs'), String(EVENTS), `roamwatch.bench.datapath.${runId}.kafkajs.${i}`, 'gzip'], { cwd: root, encoding: 'utf8', timeout: 600_000 });
    if (b.status !== 0) throw new Error(`kafkajs baseline failed: ${b.stderr}`);
    return JSON.parse(b.stdout.trim().split('\n').pop());
  };
  const variants = {
    'single-event records (kafka.recordMaxEvents 1: before)': { 'kafka.recordMaxEvents': '1' },
    'batch records (defaults)': {},
  };
  const runs = { baseline: [] };
  for (const k of Object.keys(variants)) runs[k] = [];
  // interleaved, so that the machine's load hits every variant alike
  for (let i = 0; i < ROUNDS; i++) {
    for (const [k, flags] of Object.entries(variants)) {
      const r = agentRun(k.startsWith('single') ? 'single' : 'batch', flags, i);
      runs[k].push(r);
      console.log(k, r);
    }
    const b = baselineRun(i);
    runs.baseline.push(b);
    console.log('kafkajs baseline', b);
  }
  results.agent = runs;
  const base = median(runs.baseline.map((r) => r.eventsPerSecond));
  const single = median(runs[Object.keys(variants)[0]].map((r) => r.eventsPerSecond));
  md.push(
    `## 2. Agent → Kafka (gzip, acks=all, idempotent)\n\n${fmt(EVENTS)} route events per run through the real agent composition (stamp + validate, spool, Kafka sink), ` +
      `timed from the first emit to the last acknowledgement; ${ROUNDS} rounds, variants interleaved; medians. ` +
      `Baseline: kafkajs 2.2.4 alone, one record per event, batches of 1000, pre-encoded values (bench/agent/kafkajs-baseline.mjs).\n\n` +
      `| path | events/s (median) | vs kafkajs per-record baseline | vs single-event records | agent CPU s | events per CPU-second | peak RSS MiB |\n|---|---|---|---|---|---|---|\n` +
      Object.keys(variants)
        .map((k) => {
          const rs = runs[k];
          const rate = median(rs.map((r) => r.eventsPerSecond));
          return `| ${k} | ${fmt(rate)} | ${(rate / base).toFixed(2)}× | ${(rate / single).toFixed(2)}× | ${median(rs.map((r) => r.cpuSeconds))} | ${fmt(median(rs.map((r) => r.delivered / r.cpuSeconds)))} | ${Math.max(...rs.map((r) => r.rssPeakMiB))} |`;
        })
        .join('\n') +
      `\n| kafkajs alone, per record (baseline) | ${fmt(base)} | 1 | | ${median(runs.baseline.map((r) => r.cpuSeconds))} | ${fmt(median(runs.baseline.map((r) => r.events / r.cpuSeconds)))} | ${Math.max(...runs.baseline.map((r) => r.rssPeakMiB))} |\n`,
  );
  console.log(md[md.length - 1]);
}

// ---- 3. processor end to end
if (!SKIP.has('processor')) {
  const kafka = new Kafka({ clientId: 'roamwatch-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const run = `bench-dp-${Date.now().toString(36)}`;
  const hosts = Math.max(1, Math.round(EVENTS / 100));
  const events = syntheticFleet({ hosts, eventsPerHost: 100 }).map((e) => ({ ...e, host: `${run}-${e.host}` }));
  const shapes = {
    'batch records (≤ 100 events of one host)': batchRecords(events, 100),
    'single-event records (before)': events.map((e) => ({ key: e.host, value: core.encodeEvent(e), events: 1 })),
  };
  results.processor = {};
  const rows = [];
  const topics = {};
  let s = 0;
  for (const [name, records] of Object.entries(shapes)) {
    const topic = `${run}.events.${s++}`;
    topics[name] = topic;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 8 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    // requests of ≤ 512 KiB: the broker's message.max.bytes bounds a request's batch per partition
    for (let i = 0; i < records.length; ) {
      const chunk = [];
      for (let bytes = 0; i < records.length && bytes < 512 * 1024; i++) {
        const { key, value, headers } = records[i];
        chunk.push(headers ? { key, value, headers } : { key, value });
        bytes += value.length;
      }
      await producer.send({ topic, acks: -1, messages: chunk });
    }
    await producer.disconnect();
  }

  /** Baseline: kafkajs eachBatch, JSON.parse of every event of every record (a fresh group each time). */
  const baseline = async (topic, group) => {
    const raw = kafka.consumer({ groupId: group });
    await raw.connect();
    await raw.subscribe({ topic, fromBeginning: true });
    let n = 0;
    let rawStart = 0;
    let rawEnd = 0;
    await raw.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!rawStart) rawStart = performance.now();
        for (const m of batch.messages) {
          const count = core.batchEventsOf(m.headers);
          if (count === undefined) {
            JSON.parse(m.value.toString('utf8'));
            n += 1;
          } else {
            for (const line of m.value.toString('utf8').split('\n')) JSON.parse(line);
            n += count;
          }
        }
        if (n >= events.length && !rawEnd) rawEnd = performance.now();
      },
    });
    while (!rawEnd) await sleep(20);
    await raw.disconnect();
    return events.length / ((rawEnd - rawStart) / 1000);
  };

  /** The processor from the same topic to InfluxDB (a fresh group each time; points are idempotent). */
  const processor = async (topic, group, records) => {
    const proc = await startProcessor({ brokers: BROKERS, topic, groupId: group, findingsTopic: false, influx: INFLUX, selfReportMs: 0, commitIntervalMs: 1000 });
    while (proc.stats().consumed === 0) await sleep(5);
    const first = performance.now();
    for (;;) {
      const st = proc.stats();
      if (st.consumed >= records && st.influx && st.influx.pending === 0) break;
      await sleep(5);
    }
    const procEnd = performance.now();
    await proc.stop();
    return events.length / ((procEnd - first) / 1000);
  };

  // interleaved rounds (baseline, then processor, per shape): medians
  const samples = Object.fromEntries(Object.keys(shapes).map((k) => [k, { raw: [], proc: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, records] of Object.entries(shapes)) {
      samples[name].raw.push(await baseline(topics[name], `${run}-raw-${name.length}-${round}`));
      samples[name].proc.push(await processor(topics[name], `${run}-proc-${name.length}-${round}`, records.length));
      console.log(name, 'round', round, samples[name].raw.at(-1), samples[name].proc.at(-1));
    }
  }
  for (const [name, records] of Object.entries(shapes)) {
    const rawRate = median(samples[name].raw);
    const procRate = median(samples[name].proc);
    const ratios = samples[name].proc.map((p, i) => p / samples[name].raw[i]);
    results.processor[name] = { events: events.length, records: records.length, hosts, partitions: 8, rawRates: samples[name].raw, procRates: samples[name].proc, ratios };
    rows.push(`| ${name} | ${fmt(records.length)} | ${fmt(rawRate)} | ${fmt(procRate)} | ${ratios.map((r) => r.toFixed(2)).join(', ')} (goal ≥ 0.5) | ${(procRate / 250_000).toFixed(2)}× |`);
  }
  // drop this run's series from the shared server
  const q = `DROP SERIES WHERE "host" =~ /^${run}-/`;
  await globalThis.fetch(`${INFLUX.url}/query?db=${encodeURIComponent(INFLUX.bucket.split('/')[0])}&q=${encodeURIComponent(q)}`, { method: 'POST', headers: { Authorization: `Token ${INFLUX.token}` } }).catch(() => undefined);
  md.push(
    `## 3. Processor end to end: real Kafka → processor → real InfluxDB\n\n${fmt(events.length)} events from ${hosts} hosts on an 8-partition topic, ` +
      `from the first record consumed until every record is consumed and every point it produced so far is acknowledged by InfluxDB. ` +
      `Baseline on the same topic in the same run: kafkajs eachBatch that JSON-parses every event of every record. ${ROUNDS} interleaved rounds; medians; the ratio of each round.\n\n` +
      `| topic written as | records | baseline: kafkajs + JSON.parse, events/s | roamwatch processor, events/s | ratio per round | vs 250,000 |\n|---|---|---|---|---|---|\n` +
      rows.join('\n') +
      '\n',
  );
  console.log(md[md.length - 1]);
}

results.loadavgEnd = loadavg();
const date = new Date().toISOString().slice(0, 10);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/datapath-${date}.json`), JSON.stringify(results, null, 2) + '\n');
writeFileSync(
  join(root, `bench/results/datapath-${date}.md`),
  `# Data-path benchmarks (batch records, compiled validation)\n\n${machineMarkdown(results.machine)}\n\n` +
    `**Busy machine**: load average ${results.loadavgStart.join(' / ')} at start and ${results.loadavgEnd.join(' / ')} at end on 2 cores shared with other work; ` +
    `absolute rates are lower bounds, the ratios (baseline measured in the same run) are what to read.\n\n${md.join('\n')}`,
);
console.log(`written bench/results/datapath-${date}.md`);
process.exit(0);
