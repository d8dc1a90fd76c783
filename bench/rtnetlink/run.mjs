#!/usr/bin/env node
// rtnetlink benchmark, compared in the same run with iproute2 (`ip monitor`):
//  (a) parser throughput on a recorded binary capture of a route storm, messages per CPU-second
//      (roamwatch parseDatagram vs `ip monitor file CAPTURE`, which parses and prints the same bytes);
//  (b) live: CPU seconds per 100,000 route notifications during the same `ip -batch` storm,
//      roamwatch source (node + rtnl-pipe helper) vs `ip monitor route`;
//  (c) memory of the mirror holding 1,000,000 IPv4 routes, bytes per route.
// Results: bench/results/rtnetlink-<date>.md and .json. Needs root (network namespaces).
// Sizes: RTNL_BENCH_ROUTES (storm size, default 200000), RTNL_BENCH_MIRROR_ROUTES (default 1000000).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { machineStamp, machineMarkdown } from '../machine.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ROUTES = Number(process.env.RTNL_BENCH_ROUTES ?? 200_000);
const MIRROR_ROUTES = Number(process.env.RTNL_BENCH_MIRROR_ROUTES ?? 1_000_000);
const NS = `rwnl-bench-${process.pid}`;
const HELPER = `${root}agent/native/build/rtnl-pipe`;
const cacheDir = `${root}.cache/rtnetlink-bench`;
mkdirSync(cacheDir, { recursive: true });

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const ip = (...args) => sh('ip', ['-n', NS, ...args]);
const procCpuS = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
};
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function batchFile(verb) {
  const lines = new Array(ROUTES);
  for (let i = 0; i < ROUTES; i++) {
    const a = ((10 << 24) | (128 << 16)) + i;
    lines[i] = `route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32 via 10.9.0.2 proto bgp`;
  }
  const f = `${cacheDir}/${verb}-${ROUTES}.batch`;
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

function stormSync(addFile, delFile) {
  const t0 = Date.now();
  sh('ip', ['-n', NS, '-batch', addFile]);
  sh('ip', ['-n', NS, '-batch', delFile]);
  return (Date.now() - t0) / 1000;
}

// ---------------------------------------------------------------- setup
sh('sh', [`${root}agent/native/build.sh`]);
if (!existsSync(`${root}agent/dist/rtnetlink/index.js`)) sh('npx', ['tsc', '-b', 'agent'], { cwd: root });
spawnSync('ip', ['netns', 'del', NS]);
execFileSync('ip', ['netns', 'add', NS]);
const load0 = os.loadavg();
const result = { machine: machineStamp(), loadAvgStart: load0, routes: ROUTES };
try {
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  ip('link', 'set', 'v0', 'up');
  ip('link', 'set', 'v1', 'up');
  ip('addr', 'add', '10.9.0.1/24', 'dev', 'v0');
  const addFile = batchFile('add');
  const delFile = batchFile('del');

  // ---------------------------------------------------------------- (a) capture + parser
  console.log(`(a) recording ${2 * ROUTES} route notifications ...`);
  const cap = spawn('ip', ['netns', 'exec', NS, HELPER, '--rcvbuf', String(512 << 20)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const { FrameDecoder, FRAME } = await import('../../agent/dist/rtnetlink/frames.js');
  const { parseDatagram } = await import('../../agent/dist/rtnetlink/parse.js');
  const { Mirror } = await import('../../agent/dist/rtnetlink/mirror.js');
  const datagrams = [];
  let overflowed = 0;
  const dec = new FrameDecoder();
  cap.stdout.on('data', (c) => dec.push(c, (f) => {
    if (f.type === FRAME.EVENT) datagrams.push(Buffer.from(f.datagram));
    if (f.type === FRAME.OVERFLOW) overflowed++;
  }));
  await new Promise((r) => setTimeout(r, 300));
  stormSync(addFile, delFile);
  let count = () => datagrams.reduce((n, d) => { let k = 0; parseDatagram(d, () => k++); return n + k; }, 0);
  for (let i = 0; i < 600 && count() < 2 * ROUTES; i++) await new Promise((r) => setTimeout(r, 100));
  cap.stdin.end();
  await new Promise((r) => cap.on('exit', r));
  const capture = Buffer.concat(datagrams);
  const captureFile = `${cacheDir}/storm-${ROUTES}.nl`;
  writeFileSync(captureFile, capture); // raw nlmsghdr stream: the format `ip monitor file` reads
  const captureMsgs = count();
  console.log(`    ${fmt(captureMsgs)} messages, ${fmt(capture.length / 2 ** 20, 1)} MiB, ${overflowed} overflows while recording`);

  const ROUNDS = 5;
  const parseRuns = [];
  const mirrorRuns = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const c0 = process.cpuUsage();
    for (const d of datagrams) parseDatagram(d, () => { n++; });
    const c1 = process.cpuUsage(c0);
    parseRuns.push(n / ((c1.user + c1.system) / 1e6));
    const m = new Mirror();
    const c2 = process.cpuUsage();
    for (const d of datagrams) parseDatagram(d, (x) => { if (x.kind === 'route') m.applyRoute(x); });
    const c3 = process.cpuUsage(c2);
    mirrorRuns.push(n / ((c3.user + c3.system) / 1e6));
  }
  const ipRuns = [];
  // Children CPU: measure with bash's `times` around ip monitor file.
  for (let r = 0; r < 3; r++) {
    const out = sh('bash', ['-c', `ip monitor file ${captureFile} > /dev/null; times`]);
    const line = out.trim().split('\n').pop(); // "0m1.234s 0m0.123s" (children user, sys)
    const secs = line.split(/\s+/).map((t) => { const m = /(\d+)m([\d.]+)s/.exec(t); return m ? Number(m[1]) * 60 + Number(m[2]) : 0; });
    ipRuns.push(captureMsgs / Math.max(1e-6, secs[0] + secs[1]));
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  result.parser = {
    messages: captureMsgs, bytes: capture.length,
    roamwatchParseMsgsPerCpuS: median(parseRuns), roamwatchParseRuns: parseRuns,
    roamwatchParseAndMirrorMsgsPerCpuS: median(mirrorRuns), roamwatchParseAndMirrorRuns: mirrorRuns,
    ipMonitorFileMsgsPerCpuS: median(ipRuns), ipMonitorFileRuns: ipRuns,
  };
  console.log(`    parse: ${fmt(result.parser.roamwatchParseMsgsPerCpuS)} msgs/CPU-s; parse+mirror ${fmt(result.parser.roamwatchParseAndMirrorMsgsPerCpuS)}; ip monitor file ${fmt(result.parser.ipMonitorFileMsgsPerCpuS)}`);

  // ---------------------------------------------------------------- (b) live CPU
  // iproute2 sizes its buffer with SO_RCVBUF, capped by net.core.rmem_max: raise the cap for
  // the run (restored below) so that `ip -rcvbuf` gets the same 256 MiB as roamwatch.
  const rmemMax = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();
  writeFileSync('/proc/sys/net/core/rmem_max', String(256 << 20));
  result.rmemMaxRestoredTo = rmemMax;
  const live = { roamwatch: [], ipMonitor: [] };
  for (let round = 0; round < 2; round++) {
    // roamwatch: the agent process runs inside the namespace, as it would on a gateway.
    console.log(`(b) live round ${round + 1}: roamwatch source ...`);
    const agent = spawn('ip', ['netns', 'exec', NS, process.execPath, `${root}bench/rtnetlink/live-agent.mjs`, String(2 * ROUTES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise((resolve) => agent.stdout.on('data', (d) => { out += d; if (out.includes('ready\n')) resolve(); }));
    const tA = stormSync(addFile, delFile);
    await new Promise((r) => agent.on('exit', r));
    const a = JSON.parse(out.split('\n').filter((l) => l.startsWith('{'))[0]);
    live.roamwatch.push({ ...a, stormS: tA, cpuPer100k: ((a.nodeCpuS + a.helperCpuS) / a.routeChanges) * 1e5 });

    console.log(`(b) live round ${round + 1}: ip monitor route ...`);
    // Line-buffered (stdbuf) so that every event reaches the pipe; same 256 MiB receive buffer.
    const mon = spawn('stdbuf', ['-oL', 'ip', '-rcvbuf', String(256 << 20), '-n', NS, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    mon.stdout.on('data', (d) => { for (let i = 0; i < d.length; i++) if (d[i] === 10) lines++; });
    await new Promise((r) => setTimeout(r, 300));
    const cpu0 = procCpuS(mon.pid);
    const tB = stormSync(addFile, delFile);
    for (let i = 0; i < 600 && lines < 2 * ROUTES; i++) await new Promise((r) => setTimeout(r, 100));
    const cpu = procCpuS(mon.pid) - cpu0;
    mon.kill();
    live.ipMonitor.push({ routeChanges: lines, cpuS: cpu, stormS: tB, cpuPer100k: (cpu / Math.max(1, lines)) * 1e5 });
  }
  writeFileSync('/proc/sys/net/core/rmem_max', rmemMax);
  result.live = live;
  const medLive = (a) => median(a.map((x) => x.cpuPer100k));
  result.liveSummary = { roamwatchCpuSPer100k: medLive(live.roamwatch), ipMonitorCpuSPer100k: medLive(live.ipMonitor) };
  console.log(`    CPU s per 100k: roamwatch ${result.liveSummary.roamwatchCpuSPer100k.toFixed(3)}, ip monitor ${result.liveSummary.ipMonitorCpuSPer100k.toFixed(3)}`);

  // ---------------------------------------------------------------- (c) memory
  console.log(`(c) mirror memory with ${fmt(MIRROR_ROUTES)} IPv4 routes ...`);
  const memOut = sh(process.execPath, ['--expose-gc', `${root}bench/rtnetlink/mirror-memory.mjs`, String(MIRROR_ROUTES)]);
  result.memory = JSON.parse(memOut.trim().split('\n').pop());
  console.log(`    ${result.memory.rssBytesPerRoute.toFixed(1)} RSS bytes/route, ${result.memory.heapBytesPerRoute.toFixed(1)} heap bytes/route`);
} finally {
  spawnSync('ip', ['netns', 'del', NS]);
  if (result.rmemMaxRestoredTo) writeFileSync('/proc/sys/net/core/rmem_max', result.rmemMaxRestoredTo);
}
result.loadAvgEnd = os.loadavg();

// ---------------------------------------------------------------- report
const date = result.machine.date.slice(0, 10);
const p = result.parser;
const L = result.liveSummary;
const md = `# rtnetlink benchmark (${date})

${machineMarkdown(result.machine)}
Load average (1/5/15 min) at start ${result.loadAvgStart.map((x) => x.toFixed(2)).join('/')}, at end ${result.loadAvgEnd.map((x) => x.toFixed(2)).join('/')} (other work shared the machine).
Storm: ${fmt(ROUTES)} IPv4 /32 routes added then removed with \`ip -batch\` in a network namespace (${fmt(2 * ROUTES)} route notifications).
iproute2: ${sh('ip', ['-V']).trim()}. CPU time is user + system of the measured processes, which contention affects less than wall time.

## (a) Parser throughput on a recorded capture

${fmt(p.messages)} RTM_NEWROUTE/RTM_DELROUTE messages (${fmt(p.bytes / 2 ** 20, 1)} MiB) recorded from the storm by rtnl-pipe. roamwatch: \`parseDatagram\` over the
recorded datagrams in one thread (median of 5). iproute2: \`ip monitor file CAPTURE > /dev/null\` (parses and prints the same bytes; median of 3).

| | messages per CPU-second |
| --- | ---: |
| roamwatch parse | ${fmt(p.roamwatchParseMsgsPerCpuS)} |
| roamwatch parse + mirror update | ${fmt(p.roamwatchParseAndMirrorMsgsPerCpuS)} |
| ip monitor file (parse + print) | ${fmt(p.ipMonitorFileMsgsPerCpuS)} |

roamwatch parse / ip monitor file: **${(p.roamwatchParseMsgsPerCpuS / p.ipMonitorFileMsgsPerCpuS).toFixed(2)}×**; goal ≥ 1,000,000 msgs/s per core: **${p.roamwatchParseMsgsPerCpuS >= 1e6 ? 'met' : 'not met'}**.

## (b) Live: CPU seconds per 100,000 route notifications

Same storm, run once per listener (2 rounds each). roamwatch: the agent's \`RtnetlinkSource\` (rtnl-pipe helper + Node: parse, mirror, change events), 256 MiB receive buffer.
iproute2: \`stdbuf -oL ip -rcvbuf 268435456 monitor route\` printing to a pipe (line-buffered, as a consumer reading it live needs;
net.core.rmem_max raised to 256 MiB for the run so that its SO_RCVBUF is not capped). "notifications seen" below the storm size means the listener lost some (ENOBUFS).

| listener | round | notifications seen | CPU s | CPU s per 100k | storm s |
| --- | ---: | ---: | ---: | ---: | ---: |
${result.live.roamwatch.map((x, i) => `| roamwatch | ${i + 1} | ${fmt(x.routeChanges)} | ${(x.nodeCpuS + x.helperCpuS).toFixed(2)} (node ${x.nodeCpuS.toFixed(2)} + helper ${x.helperCpuS.toFixed(2)}) | ${x.cpuPer100k.toFixed(3)} | ${x.stormS.toFixed(1)} |`).join('\n')}
${result.live.ipMonitor.map((x, i) => `| ip monitor | ${i + 1} | ${fmt(x.routeChanges)} | ${x.cpuS.toFixed(2)} | ${x.cpuPer100k.toFixed(3)} | ${x.stormS.toFixed(1)} |`).join('\n')}

roamwatch / ip monitor CPU per event (median): **${(L.roamwatchCpuSPer100k / L.ipMonitorCpuSPer100k).toFixed(2)}×** (goal ≤ 2×: **${L.roamwatchCpuSPer100k <= 2 * L.ipMonitorCpuSPer100k ? 'met' : 'not met'}**).

## (c) Mirror memory

${fmt(result.memory.routes)} IPv4 routes (/32, 4 gateways, proto bgp, main table) parsed from netlink bytes into a \`Mirror\`; growth after GC.

| | bytes per route |
| --- | ---: |
| RSS | ${result.memory.rssBytesPerRoute.toFixed(1)} |
| V8 heap used | ${result.memory.heapBytesPerRoute.toFixed(1)} |

Goal ≤ 250 bytes per route: **${result.memory.rssBytesPerRoute <= 250 ? 'met' : 'not met'}** (${result.memory.attrRecords} shared attribute records).

Reproduce: \`npm run bench -- rtnetlink\` (RTNL_BENCH_ROUTES, RTNL_BENCH_MIRROR_ROUTES to change the sizes).
`;
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/rtnetlink-${date}.md`, md);
writeFileSync(`${root}bench/results/rtnetlink-${date}.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(md);
