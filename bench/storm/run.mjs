#!/usr/bin/env node
// Route storm on one lab gateway, and a quiet gateway sharing its Kafka partition (#16 items 1
// and 4): real charon in two labs (test/lab), `roamwatch agent` in each gateway namespace with
// default settings, both writing to ONE topic partition on the real Kafka broker, and one
// `roamwatch processor` (default settings) printing findings.
//
//   quiet baseline  Q unrelated route changes on the quiet gateway, before any storm: route
//                   change → its spurious reauth's finding printed by the processor (ms).
//   storm           STORM_ROUTES routes added and then deleted with `ip -batch` on the storm
//                   gateway, while the quiet gateway gets an unrelated route change every 2 s:
//                   the same latency for the quiet gateway (the baseline's ratio), the records
//                   the storm gateway wrote to Kafka (goal ≤ 20,000 for 1M routes), the storm
//                   agent's CPU seconds for the whole storm (goal ≤ 15 s; /proc/<pid>/stat), the
//                   reauths found on the storm gateway during the storm and whether they name the
//                   storm, every route change counted (individual events + summaries' exact
//                   counts), and the last summary's mirror digest against a fresh dump of the
//                   kernel's routes (mirror == kernel).
//
// Environment: STORM_ROUTES (default 1000000), QUIET_CHANGES (5). As root, servers running.
// Results: bench/results/storm-<date>.md and .json, stamped with the machine and its load.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { machineMarkdown, machineStamp } from '../machine.mjs';
import { BROKER, bridgeKafka } from '../servers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const STORM_ROUTES = Number(process.env.STORM_ROUTES ?? 1_000_000);
const QUIET_CHANGES = Number(process.env.QUIET_CHANGES ?? 5);
const runId = Date.now().toString(36);
const TOPIC = `roamwatch.bench.storm.${runId}`;
const STORM_HOST = `storm-gw-${runId}`;
const QUIET_HOST = `quiet-gw-${runId}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null;
}

/** A record holds one envelope or (a batch record, docs/events.md "Records") several: core reads both. */
const { decodeRecordEvents } = await import('@roamwatch/core');
function envelopesOf(value, headers) {
  return decodeRecordEvents(value, headers);
}

function routeBatch(verb, count, ifname) {
  const lines = new Array(count);
  const base = (10 << 24) | (200 << 16);
  for (let i = 0; i < count; i++) {
    const a = (base + i) >>> 0;
    lines[i] = `route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32 dev ${ifname} proto bgp`;
  }
  return `${lines.join('\n')}\n`;
}

function startAgent(lab, hostId) {
  const child = lab.gw.spawn(
    [process.execPath, join(root, 'cli/bin/roamwatch.js'), 'agent', '--vici', lab.gw.viciUri, '--topic', TOPIC, '--topic-partitions', '1', '--spool-dir', join(lab.dir, 'spool'),
      '--host-id', hostId, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', join(lab.gw.swanctlDir, 'swanctl.conf'), '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-20_000)));
  return { child, pid: child.pid, stderr: () => stderr };
}

// ------------------------------------------------------------------ main
const b = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (b.status !== 0) throw new Error('tsc -b failed');
const { createLab } = await import(join(root, 'test/lab/dist/index.js'));
const { RtnetlinkSource } = await import(join(root, 'agent/dist/rtnetlink/index.js'));

const results = { machine: machineStamp(), loadavgStart: loadavg(), config: { STORM_ROUTES, QUIET_CHANGES, topicPartitions: 1 } };
const labA = await createLab({ name: `storma-${runId}` });
const labB = await createLab({ name: `stormb-${runId}` });
const closers = [await bridgeKafka(labA), await bridgeKafka(labB)];
const agentA = startAgent(labA, STORM_HOST);
const agentB = startAgent(labB, QUIET_HOST);

// The topic, read as it fills: records and envelopes per host.
const kafka = new Kafka({ clientId: 'bench-storm', brokers: [BROKER], logLevel: logLevel.NOTHING });
const seen = { [STORM_HOST]: { records: 0, envelopes: 0, individual: { added: 0, removed: 0 }, summaries: [] }, [QUIET_HOST]: { records: 0, envelopes: 0, individual: { added: 0, removed: 0 }, summaries: [] } };
let snapshots = 0;
const consumer = kafka.consumer({ groupId: `bench-storm-${runId}`, maxWaitTimeInMs: 100 });
const admin = kafka.admin();
await admin.connect();
const t0 = Date.now();
while (!(await admin.listTopics()).includes(TOPIC)) {
  if (Date.now() - t0 > 60_000) throw new Error(`topic ${TOPIC} not created by the agents`);
  await sleep(200);
}
await admin.disconnect();
await consumer.connect();
await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
let counting = false;
await consumer.run({
  eachMessage: async ({ message }) => {
    const host = message.key?.toString() ?? '';
    const h = seen[host];
    if (!h) return;
    if (counting) h.records += 1;
    for (const e of envelopesOf(message.value, message.headers)) {
      if (e.kind === 'vici.sa-snapshot') snapshots += 1;
      if (!counting) continue;
      h.envelopes += 1;
      if ((e.kind === 'route.added' || e.kind === 'route.removed') && /^10\.2(0\d|1[0-5])\./.test(e.payload.route.dst)) h.individual[e.kind.slice(6)] += 1;
      if (e.kind === 'route.summary') h.summaries.push(e.payload);
    }
  },
});

// The processor, default settings, printing findings.
const processor = spawn(process.execPath,
  [join(root, 'cli/bin/roamwatch.js'), 'processor', '--brokers', BROKER, '--topic', TOPIC, '--group', `bench-storm-proc-${runId}`, '--findings-topic', `${TOPIC}.findings`, '--print-findings', 'json', '--log-level', 'warn'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const findings = [];
createInterface({ input: processor.stdout }).on('line', (line) => {
  try {
    findings.push({ at: Date.now(), f: JSON.parse(line) });
  } catch {
    /* not a finding */
  }
});

async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One unrelated route change on the quiet gateway → its reauth finding printed (ms), or null. */
let quietN = 0;
/** charon's own part of each quiet finding (trigger → reauth start, its roam delay), in order. */
const charonMs = [];
async function quietChange() {
  const before = findings.filter((x) => x.f.host === QUIET_HOST && x.f.type === 'reauth').length;
  const i = ++quietN;
  const t = Date.now();
  await labB.gw.ip(['route', 'add', `192.0.2.${i}/32`, 'dev', labB.gw.ifname]);
  try {
    const f = await until('the quiet gateway\'s finding', 30_000, () => findings.filter((x) => x.f.host === QUIET_HOST && x.f.type === 'reauth')[before]);
    charonMs.push(typeof f.f.latencyMs === 'number' ? f.f.latencyMs : null);
    return f.at - t;
  } catch {
    charonMs.push(null);
    return null;
  }
}

try {
  await labA.waitForSa();
  await labB.waitForSa();
  await until('both agents\' snapshots in Kafka', 60_000, () => snapshots >= 2);
  await sleep(5000); // processor joined, snapshots processed

  // ---- quiet baseline
  const baseline = [];
  charonMs.length = 0;
  for (let i = 0; i < QUIET_CHANGES; i++) {
    baseline.push(await quietChange());
    await sleep(1500);
  }
  console.log('quiet baseline (ms):', baseline);
  const baselineCharonMs = [...charonMs];
  charonMs.length = 0;

  // ---- storm
  const file = join(labA.dir, 'storm.batch');
  writeFileSync(file + '.add', routeBatch('add', STORM_ROUTES, labA.gw.ifname));
  writeFileSync(file + '.del', routeBatch('del', STORM_ROUTES, labA.gw.ifname));
  counting = true;
  const findingsBefore = findings.length;
  const c0 = cpuSeconds(agentA.pid);
  const w0 = Date.now();
  const load0 = loadavg();
  let kernelDone = 0;
  const storm = (async () => {
    await labA.gw.exec(['ip', '-batch', file + '.add'], { timeoutMs: 1_800_000 });
    await labA.gw.exec(['ip', '-batch', file + '.del'], { timeoutMs: 1_800_000 });
    kernelDone = Date.now();
  })();
  const during = [];
  while (!kernelDone) {
    await sleep(2000);
    if (kernelDone) break;
    during.push(await quietChange());
  }
  await storm;
  // Drained: every route change of the storm counted (individually or in summaries) and the last summary final.
  const counted = (op) => seen[STORM_HOST].individual[op] + seen[STORM_HOST].summaries.reduce((n, s) => n + s.tables.filter((t) => t.table === 254).reduce((a, t) => a + t[op], 0), 0);
  await until('the storm drained to Kafka', 1_800_000, () => counted('added') >= STORM_ROUTES && counted('removed') >= STORM_ROUTES && seen[STORM_HOST].summaries.at(-1)?.final);
  const drained = Date.now();
  const agentCpu = cpuSeconds(agentA.pid) - c0;
  await sleep(3000);
  // mirror == kernel: the last summary's digest against a fresh dump's.
  const last = seen[STORM_HOST].summaries.at(-1);
  const fresh = new RtnetlinkSource({ netns: labA.gw.netns, receiveBufferBytes: 1 << 20 });
  await fresh.start();
  const freshDigest = fresh.mirror.digest();
  await fresh.stop();
  const stormFindings = findings.slice(findingsBefore).filter((x) => x.f.host === STORM_HOST && x.f.type === 'reauth').map((x) => x.f);
  const named = stormFindings.filter((f) => f.triggers?.some((t) => t.summary.startsWith('route storm: ')));
  const ok = (xs) => xs.filter((x) => typeof x === 'number');
  results.storm = {
    routes: STORM_ROUTES,
    routeChanges: 2 * STORM_ROUTES,
    kernelSeconds: +((kernelDone - w0) / 1000).toFixed(1),
    drainedSeconds: +((drained - w0) / 1000).toFixed(1),
    stormHostRecords: seen[STORM_HOST].records,
    stormHostEnvelopes: seen[STORM_HOST].envelopes,
    individualRouteEvents: seen[STORM_HOST].individual,
    summaries: seen[STORM_HOST].summaries.length,
    countedAdded: counted('added'),
    countedRemoved: counted('removed'),
    agentCpuSeconds: +agentCpu.toFixed(2),
    lastSummaryDigest: last?.digest ?? null,
    freshDumpDigest: freshDigest,
    digestEqual: JSON.stringify(last?.digest) === JSON.stringify(freshDigest),
    reauthFindingsDuringStorm: stormFindings.length,
    namingTheStorm: named.length,
    classifications: stormFindings.map((f) => f.classification),
    firstNamedTrigger: named[0]?.triggers[0]?.summary ?? null,
    notNamingTheStorm: stormFindings.filter((f) => !named.includes(f)).map((f) => ({ classification: f.classification, reason: f.reason, time: f.time, triggers: (f.triggers ?? []).slice(0, 3).map((t) => t.summary) })),
    loadavgBefore: load0,
    loadavgAfter: loadavg(),
  };
  results.quiet = {
    baselineMs: baseline,
    duringStormMs: during,
    baselineCharonMs,
    duringStormCharonMs: [...charonMs],
    charonBaseline: { p50: pct(ok(baselineCharonMs), 50), p99: pct(ok(baselineCharonMs), 99) },
    charonDuringStorm: { p50: pct(ok(charonMs), 50), p99: pct(ok(charonMs), 99) },
    baseline: { p50: pct(ok(baseline), 50), p99: pct(ok(baseline), 99), n: ok(baseline).length },
    duringStorm: { p50: pct(ok(during), 50), p99: pct(ok(during), 99), n: ok(during).length, missed: during.length - ok(during).length },
  };
  console.log('storm', results.storm);
  console.log('quiet', results.quiet);
} finally {
  agentA.child.kill('SIGTERM');
  agentB.child.kill('SIGTERM');
  processor.kill('SIGTERM');
  await consumer.disconnect().catch(() => undefined);
  await sleep(2000);
  for (const c of closers) c();
  await labA.teardown();
  await labB.teardown();
}
results.loadavgEnd = loadavg();

const date = new Date().toISOString().slice(0, 10);
mkdirSync(join(root, 'bench/results'), { recursive: true });
const tag = STORM_ROUTES === 1_000_000 ? '' : `-${STORM_ROUTES / 1000}k`;
writeFileSync(join(root, `bench/results/storm${tag}-${date}.json`), JSON.stringify(results, null, 2) + '\n');
const s = results.storm;
const q = results.quiet;
const md = [
  `# Route storm on one lab gateway, and a quiet gateway on the same partition (${date})`,
  '',
  machineMarkdown(results.machine),
  '',
  `Load average ${results.loadavgStart.join(' ')} at the start, ${results.loadavgEnd.join(' ')} at the end: the machine was busy with other work (colleagues' builds and tests) during this run; read the ratios, not the absolute figures.`,
  '',
  `Real charon 5.9.8 in two labs, \`roamwatch agent\` (default settings) in each gateway namespace, one Kafka topic with **one partition** shared by both hosts, one \`roamwatch processor\` (default settings). ${s.routes.toLocaleString('en')} routes added and then deleted with \`ip -batch\` on the storm gateway (${s.routeChanges.toLocaleString('en')} route changes).`,
  '',
  '| what | measured | goal |',
  '|---|---|---|',
  `| records the storm gateway wrote to Kafka during the storm | ${s.stormHostRecords.toLocaleString('en')} (${s.stormHostEnvelopes.toLocaleString('en')} envelopes: ${s.individualRouteEvents.added + s.individualRouteEvents.removed} individual route events, ${s.summaries} route.summary) | ≤ 20,000 for 1M routes |`,
  `| route changes counted (individual + summaries' exact counts, table main) | added ${s.countedAdded.toLocaleString('en')}, removed ${s.countedRemoved.toLocaleString('en')} | = ${s.routes.toLocaleString('en')} each |`,
  `| storm agent CPU for the whole storm (user+system) | ${s.agentCpuSeconds} s (kernel done after ${s.kernelSeconds} s, all in Kafka after ${s.drainedSeconds} s) | ≤ 15 s for 1M routes |`,
  `| mirror == kernel: last summary's digest vs a fresh dump | ${s.digestEqual ? 'equal' : 'DIFFERENT'} (${JSON.stringify(s.lastSummaryDigest)} / ${JSON.stringify(s.freshDumpDigest)}) | equal |`,
  `| reauths on the storm gateway during the storm | ${s.reauthFindingsDuringStorm} found, ${s.namingTheStorm} naming the storm (${[...new Set(s.classifications)].join(', ')}) | found, spurious, storm named |`,
  `| quiet gateway: route change → finding printed by the processor, no storm (baseline) | p50 ${q.baseline.p50} ms, p99 ${q.baseline.p99} ms (n=${q.baseline.n}) | |`,
  `| quiet gateway's charon: trigger → reauth start (its roam delay, part of the above), no storm / during the storm | p50 ${q.charonBaseline.p50} / ${q.charonDuringStorm.p50} ms, p99 ${q.charonBaseline.p99} / ${q.charonDuringStorm.p99} ms | |`,
  `| quiet gateway: the same during the storm, same partition | p50 ${q.duringStorm.p50} ms, p99 ${q.duringStorm.p99} ms (n=${q.duringStorm.n}${q.duringStorm.missed ? `, ${q.duringStorm.missed} not found within 30 s` : ''}); ratio p99 ${q.baseline.p99 ? (q.duringStorm.p99 / q.baseline.p99).toFixed(2) : '—'}× the baseline | p99 ≤ 1 s |`,
  '',
  s.firstNamedTrigger ? `First trigger of a reauth inside the storm: \`${s.firstNamedTrigger}\`.` : '',
  '',
  `Regenerate: \`npm run servers:start && STORM_ROUTES=${s.routes} npm run bench -- storm\` (as root; default STORM_ROUTES=1000000).`,
  '',
].join('\n');
writeFileSync(join(root, `bench/results/storm${tag}-${date}.md`), md);
console.log(md);
process.exit(0);
