#!/usr/bin/env node
// Incident benchmark (`npm run bench -- incidents`): a synthetic fleet of PROC_INC_HOSTS (10,000)
// gateways in which one upstream flap (a BGP route 203.0.113.0/24 reaching every gateway within
// 100 ms) makes PROC_INC_HIT (2,000) seed-style gateways reauthenticate; the others see the same
// route and keep their path (fixed gateways).
//
//  1. pure: the whole stream through the one pipeline (processor/src/pipeline.ts: decode → order →
//     correlate → project) — the baseline — and the same pipeline with its findings fed to the
//     incident grouping (processor/src/incidents.ts). Checks: exactly one incident, exactly the hit
//     gateways, one reauth and one connection each, every gateway's fix; the cost of the grouping
//     as a ratio to the pipeline's.
//  2. live, through real Kafka: the 2,000 reauth findings written to a findings topic of 3
//     partitions (as several processor instances would), with event times = now, read by the
//     incidents edge (startIncidents: the single-owner consumer group, ticks every 250 ms). Measured:
//     wall time from the broker's acknowledgement of the last finding to the incident's closed event,
//     against its floor quietPeriodMs + allowedLatenessMs (the closing rule in event time).
//
// Environment: PROC_INC_HOSTS (10000), PROC_INC_HIT (2000), PROC_INC_QUIET_MS (3000),
// PROC_INC_LATENESS_MS (2000), PROC_INC_SKIP (pure,live). Results: bench/results/incidents-<date>.md/.json.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { machineMarkdown, machineStamp } from '../machine.mjs';
import { BROKERS } from '../servers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const HOSTS = Number(process.env.PROC_INC_HOSTS ?? 10_000);
const HIT = Number(process.env.PROC_INC_HIT ?? 2000);
const QUIET_MS = Number(process.env.PROC_INC_QUIET_MS ?? 3000);
const LATENESS_MS = Number(process.env.PROC_INC_LATENESS_MS ?? 2000);
const SKIP = new Set((process.env.PROC_INC_SKIP ?? '').split(',').filter(Boolean));
const PREFIX = '203.0.113.0/24';

const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(2);
const { Pipeline, IncidentGrouper, startIncidents } = await import('@roamwatch/processor');
const { HostScript } = await import('@roamwatch/processor/testing');

const T0 = 1_795_790_000_000_000;
/** Gateway i is hit when i % (HOSTS / HIT) === 0: the hit ones are spread over the fleet. */
const every = Math.floor(HOSTS / HIT);
const isHit = (i) => i % every === 0 && i / every < HIT;

function fleetEvents() {
  const all = [];
  for (let i = 0; i < HOSTS; i++) {
    const hit = isHit(i);
    const h = new HostScript(`gw-${String(i).padStart(5, '0')}`, T0 + (i % 1000), false);
    const local = `10.${(i >> 8) & 255}.${i & 255}.1`;
    const sa = { conn: 'rw', uid: '1', local, remote: '198.51.100.7' };
    h.snapshot([], [{ name: 'rw', localAddrs: hit ? ['gw.example.net'] : [local] }]).after(5).up(sa).after(5);
    const fix = { rank: 1, kind: 'route', command: `ip route add 198.51.100.7/32 dev eth0 src ${local}`, why: 'a route with src keeps the path' };
    h.emit('path.verdict', {
      ikeSaName: 'rw', uniqueId: '1', localHost: local, remoteHost: '198.51.100.7',
      verdict: hit ? 'at-risk' : 'valid', reasonCode: hit ? 'no-route-leads-to-source' : 'route-with-prefsrc', reason: '', fixes: hit ? [fix] : [],
      ...(hit ? { consequence: 'reauth' } : {}),
    });
    // the flap reaches every gateway within 100 ms (BGP), 60 s later
    h.after(60_000 - (h.nowUs - T0) / 1000 + (i % 100)).routeAdded(PREFIX, { protocol: 'bird', gateway: '10.232.0.1', priority: 32 });
    if (hit) h.after(100).reauthBreakBeforeMake(sa, { ...sa, uid: '2' }, { newUpAfterMs: 10 });
    all.push(...h.events);
  }
  return all.sort((a, b) => a.timeUs - b.timeUs);
}

function runPure(events, withIncidents) {
  const p = new Pipeline({ allowedLatenessMs: 2000 });
  const g = withIncidents ? new IncidentGrouper({ quietPeriodMs: QUIET_MS, allowedLatenessMs: LATENESS_MS }) : undefined;
  const findings = [];
  const incidents = [];
  const onInc = (o) => { if (o.type === 'incident') incidents.push(o.incident); };
  const emit = (o) => {
    if (o.type !== 'finding') return;
    findings.push(o.finding);
    g?.push({ type: 'finding', finding: o.finding }, onInc);
  };
  const t = performance.now();
  for (const e of events) p.push({ type: 'record', value: e }, emit);
  p.flush(emit);
  g?.flush(onInc);
  return { ms: performance.now() - t, findings, incidents };
}

const results = { machine: machineStamp(), hosts: HOSTS, hit: HIT, quietPeriodMs: QUIET_MS, allowedLatenessMs: LATENESS_MS };
const check = (cond, what) => { if (!cond) { console.error(`FAILED: ${what}`); process.exitCode = 1; } return cond; };
let reauthFindings = [];

if (!SKIP.has('pure')) {
  const events = fleetEvents();
  // warm-up, then alternate baseline and with-incidents 3 times each (busy machine: medians)
  runPure(events.slice(0, 20_000), true);
  const base = [];
  const withInc = [];
  let last;
  for (let r = 0; r < 3; r++) {
    base.push(runPure(events, false).ms);
    last = runPure(events, true);
    withInc.push(last.ms);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  reauthFindings = last.findings.filter((f) => f.type === 'reauth');
  // the grouping alone, on the pipeline's findings (what it adds; the difference of the two runs above is within the noise)
  const groupOnly = [];
  for (let r = 0; r < 5; r++) {
    const g = new IncidentGrouper({ quietPeriodMs: QUIET_MS, allowedLatenessMs: LATENESS_MS });
    const t = performance.now();
    for (const f of last.findings) g.push({ type: 'finding', finding: f }, () => {});
    g.flush(() => {});
    groupOnly.push(performance.now() - t);
  }
  const closed = last.incidents.filter((i) => i.state === 'closed');
  const inc = closed[0];
  check(closed.length === 1, `one incident (got ${closed.length})`);
  check(inc?.hosts === HIT && inc?.reauths === HIT && inc?.connections === HIT, `incident counts ${inc?.hosts}/${inc?.reauths}/${inc?.connections} = ${HIT}`);
  check(inc?.gateways.every((g) => g.fix?.startsWith('ip route add') && g.reauths === 1 && isHit(Number(g.host.slice(3)))), 'every gateway hit, with its fix');
  check(inc?.cause.key === `route added ${PREFIX}`, `cause ${inc?.cause.key}`);
  results.pure = {
    events: events.length,
    reauthFindings: reauthFindings.length,
    incidentEvents: last.incidents.length,
    incident: inc && { id: inc.id, hosts: inc.hosts, connections: inc.connections, reauths: inc.reauths, downtimeMs: inc.downtimeMs, cause: inc.cause.key, states: last.incidents.map((i) => i.state) },
    pipelineMs: med(base),
    pipelineWithIncidentsMs: med(withInc),
    ratio: med(withInc) / med(base),
    groupingOnlyMs: med(groupOnly),
    groupingShare: med(groupOnly) / med(base),
    runsMs: { pipeline: base.map(Math.round), withIncidents: withInc.map(Math.round) },
  };
  console.log(`pure: ${events.length} events, ${reauthFindings.length} reauth findings → ${closed.length} incident (${inc?.hosts} gateways); pipeline ${med(base).toFixed(0)} ms, with incidents ${med(withInc).toFixed(0)} ms (×${results.pure.ratio.toFixed(3)}); grouping alone ${med(groupOnly).toFixed(1)} ms (${(100 * results.pure.groupingShare).toFixed(2)} % of the pipeline)`);
}

if (!SKIP.has('live')) {
  if (!reauthFindings.length) reauthFindings = runPure(fleetEvents(), false).findings.filter((f) => f.type === 'reauth');
  const topic = `roamwatch.bench.incidents.${Date.now()}`;
  const kafka = new Kafka({ clientId: 'bench-incidents', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  let closedAt;
  let closed;
  const inc = await startIncidents({
    brokers: BROKERS, findingsTopic: topic, groupId: `${topic}.incidents`, tickMs: 250,
    incidents: { quietPeriodMs: QUIET_MS, allowedLatenessMs: LATENESS_MS },
    onIncident: (i) => { if (i.state === 'closed' && !closed) { closedAt = performance.now(); closed = i; } },
  });
  // wait until the grouping member owns the topic
  for (let k = 0; k < 200 && !inc.stats().owner; k++) await new Promise((r) => setTimeout(r, 100));
  const producer = kafka.producer();
  await producer.connect();
  // event times = now, in the flap's own spread (the first at now - span)
  const first = reauthFindings[0].timeUs;
  const span = reauthFindings.at(-1).timeUs - first;
  const nowUs = Date.now() * 1000 - span;
  const shifted = reauthFindings.map((f) => ({ ...f, id: `${f.id}@live`, timeUs: f.timeUs - first + nowUs }));
  await producer.send({ topic, messages: shifted.map((f) => ({ key: f.host, value: JSON.stringify(f), headers: { 'finding-type': 'reauth', 'finding-id': f.id } })) });
  const ackedAt = performance.now();
  const lastEventMs = shifted.at(-1).timeUs / 1000;
  const sentWallMs = Date.now();
  for (let k = 0; k < 600 && !closed; k++) await new Promise((r) => setTimeout(r, 50));
  await producer.disconnect();
  await inc.stop({ drainTimeoutMs: 5000 });
  check(!!closed, 'the closed incident arrived');
  check(closed?.hosts === HIT && closed?.reauths === HIT, `live incident counts ${closed?.hosts}/${closed?.reauths}`);
  const floor = QUIET_MS + LATENESS_MS;
  const fromAck = closedAt - ackedAt;
  const fromLastReauth = fromAck + (sentWallMs - lastEventMs);
  results.live = { findings: shifted.length, partitions: 3, tickMs: 250, ackToClosedMs: Math.round(fromAck), lastReauthToClosedMs: Math.round(fromLastReauth), floorMs: floor, ratioToFloor: fromLastReauth / floor, incident: closed && { hosts: closed.hosts, reauths: closed.reauths } };
  console.log(`live: ${shifted.length} findings over 3 partitions → closed incident ${Math.round(fromLastReauth)} ms after the last reauth (event time), ${Math.round(fromAck)} ms after the broker acknowledged it; floor quiet + lateness = ${floor} ms (×${results.live.ratioToFloor.toFixed(3)})`);
}

const date = new Date().toISOString().slice(0, 10);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/incidents-${date}.json`), `${JSON.stringify(results, null, 2)}\n`);
const p = results.pure;
const l = results.live;
writeFileSync(
  join(root, `bench/results/incidents-${date}.md`),
  [
    `# Incident grouping benchmark (${date})`,
    '',
    machineMarkdown(results.machine),
    '',
    '**Measured on a busy machine** (2 cores shared with four other engineers\' builds and tests): absolute times are pessimistic; the ratios compare runs made back to back in the same process.',
    '',
    `Synthetic fleet: ${HOSTS.toLocaleString('en')} gateways; one flap (route ${PREFIX} via BGP, spread over 100 ms) hits ${HIT.toLocaleString('en')} seed-style gateways (one IKE_SA each); the others see the route and keep their path. Incident settings: quietPeriodMs ${QUIET_MS}, allowedLatenessMs ${LATENESS_MS}.`,
    '',
    ...(p
      ? [
          '## Pure: the pipeline with and without the incident grouping',
          '',
          '| | result |',
          '|---|---|',
          `| events | ${p.events.toLocaleString('en')} |`,
          `| reauth findings | ${p.reauthFindings} |`,
          `| incidents | 1 (${p.incident.states.join(' → ')}), ${p.incident.hosts} gateways, ${p.incident.connections} connections, ${p.incident.reauths} reauths, downtime ${p.incident.downtimeMs} ms, cause \`${p.incident.cause}\` |`,
          `| pipeline alone (baseline), median of 3 | ${p.pipelineMs.toFixed(0)} ms |`,
          `| pipeline + incident grouping, median of 3 | ${p.pipelineWithIncidentsMs.toFixed(0)} ms |`,
          `| ratio (within the machine's noise) | ×${p.ratio.toFixed(3)} |`,
          `| grouping alone on the ${p.reauthFindings} findings, median of 5 | ${p.groupingOnlyMs.toFixed(1)} ms = ${(100 * p.groupingShare).toFixed(2)} % of the pipeline's time |`,
          '',
        ]
      : []),
    ...(l
      ? [
          '## Live: the incidents edge on real Kafka',
          '',
          `${l.findings} reauth findings (event times = now) produced to a findings topic of ${l.partitions} partitions; the incidents edge (one owner in its consumer group, ticks every ${l.tickMs} ms) groups them.`,
          '',
          '| | result |',
          '|---|---|',
          `| incident | ${l.incident.hosts} gateways, ${l.incident.reauths} reauths |`,
          `| last reauth (event time) → closed event | **${l.lastReauthToClosedMs} ms** |`,
          `| broker ack of the last finding → closed event | ${l.ackToClosedMs} ms |`,
          `| floor: quietPeriodMs + allowedLatenessMs | ${l.floorMs} ms |`,
          `| ratio to the floor | ×${l.ratioToFloor.toFixed(3)} |`,
          '',
          'In a deployment add the processor\'s own per-host watermark (correlation.allowedLatenessMs) and the findings topic hop before the finding reaches the grouping.',
          '',
        ]
      : []),
  ].join('\n'),
);
console.log(`wrote bench/results/incidents-${date}.md`);
