#!/usr/bin/env node
// VICI decode throughput: roamwatch's client vs the official python `vici` package (PyPI) vs
// govici (Go module proxy), same recorded input, same machine, same run.
//
// Input: recorded-frames.json, the list-sa and ike-updown events real charon 5.9.8 sent in the
// lab (24 IKE_SAs × 2 CHILD_SAs), repeated to build a stream (stream.mjs).
//
// Two measurements:
//  1. client: each library's public event API over a unix socket. serve-stream.mjs confirms
//     the registrations of list-sa and ike-updown, then writes the whole stream; the client
//     times from registering to the last event delivered, fully decoded (roamwatch:
//     ViciSession.events(); python: Session.listen(); govici: Subscribe + NotifyEvents).
//  2. decode: framing + packet + message decode of the stream in memory (roamwatch:
//     FrameDecoder + decodePacket; python: Packet.parse + Message.deserialize). govici keeps its
//     decoder private (Message.decode is unexported), so it has no row here.
//
// Toolchains live in a cache outside the repo (ROAMWATCH_BENCH_CACHE, default
// /var/cache/roamwatch): a venv with vici from PyPI, and the Go program in go/ built there
// (prepare.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineMarkdown, machineStamp } from '../machine.mjs';
import { prepare, sh } from './prepare.mjs';
import { buildStream, framesFile, recordedFrames } from './stream.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const REPEAT = Number(process.env.VICI_BENCH_REPEAT ?? 400);
const ROUNDS = Number(process.env.VICI_BENCH_ROUNDS ?? 5);

function startServer(sock) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'serve-stream.mjs'), sock, String(REPEAT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.once('data', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`stream server exited with ${code}`)));
  });
}

async function runClient(name, cmd, args, sock) {
  const server = await startServer(sock);
  try {
    const r = spawnSync(cmd, [...args, sock, String(expected)], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`${name} client failed: ${r.stderr || r.error}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    if (out.messages !== expected) throw new Error(`${name}: ${out.messages} of ${expected} events`);
    return out;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const frames = recordedFrames();
const { messages: expected, bytes } = buildStream(REPEAT);
const tools = prepare();
const load0 = os.loadavg();
const sock = join(os.tmpdir(), `rwvici-bench-${process.pid}.sock`);

const clients = [
  ['roamwatch', process.execPath, [join(here, 'client-roamwatch.mjs')]],
  ['python vici', tools.py, [join(here, 'client-python.py')]],
  ['govici', tools.goBin, []],
];
const clientTimes = Object.fromEntries(clients.map(([n]) => [n, []]));
const clientCpu = Object.fromEntries(clients.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order every round so no library always runs first or last.
  for (let i = 0; i < clients.length; i++) {
    const [name, cmd, args] = clients[(i + r) % clients.length];
    const out = await runClient(name, cmd, args, sock);
    clientTimes[name].push(out.ms);
    clientCpu[name].push(out.cpuMs);
    console.log(`round ${r + 1} ${name}: ${out.ms.toFixed(1)} ms wall, ${out.cpuMs.toFixed(1)} ms CPU`);
  }
}

const decodeRoam = JSON.parse(sh(process.execPath, [join(here, 'decode-roamwatch.mjs'), String(REPEAT), String(ROUNDS)]));
const decodePy = JSON.parse(sh(tools.py, [join(here, 'decode-python.py'), fileURLToPath(framesFile), String(REPEAT), String(Math.min(ROUNDS, 3))]));
const load1 = os.loadavg();

function row(name, times, cpuTimes) {
  const ms = median(times);
  const cpuMs = median(cpuTimes);
  return {
    name,
    medianMs: ms,
    runsMs: times,
    msgsPerSec: expected / (ms / 1000),
    mbPerSec: bytes / 1e6 / (ms / 1000),
    medianCpuMs: cpuMs,
    runsCpuMs: cpuTimes,
    msgsPerCpuSec: expected / (cpuMs / 1000),
    mbPerCpuSec: bytes / 1e6 / (cpuMs / 1000),
  };
}
const clientRows = clients.map(([n]) => row(n, clientTimes[n], clientCpu[n]));
const decodeRows = [row('roamwatch', decodeRoam.times, decodeRoam.cpuTimes), row('python vici', decodePy.times, decodePy.cpuTimes)];
const ratio = (rows, a, b, k) => rows.find((x) => x.name === a)[k] / rows.find((x) => x.name === b)[k];
const ratios = {
  clientVsPython: ratio(clientRows, 'roamwatch', 'python vici', 'msgsPerSec'),
  clientVsGovici: ratio(clientRows, 'roamwatch', 'govici', 'msgsPerSec'),
  clientCpuVsPython: ratio(clientRows, 'roamwatch', 'python vici', 'msgsPerCpuSec'),
  clientCpuVsGovici: ratio(clientRows, 'roamwatch', 'govici', 'msgsPerCpuSec'),
  decodeVsPython: ratio(decodeRows, 'roamwatch', 'python vici', 'msgsPerSec'),
  decodeCpuVsPython: ratio(decodeRows, 'roamwatch', 'python vici', 'msgsPerCpuSec'),
};
const stamp = machineStamp();
const result = {
  suite: 'vici',
  machine: stamp,
  loadAverage: { start: load0, end: load1 },
  input: { file: 'bench/vici/recorded-frames.json', recordedEvents: frames.length, repeat: REPEAT, messages: expected, bytes },
  versions: tools.versions,
  rounds: ROUNDS,
  client: clientRows,
  decode: decodeRows,
  ratios,
};

const f1 = (x) => x.toFixed(1);
const f0 = (x) => Math.round(x).toLocaleString('en-US');
const table = (rows) =>
  [
    '| library | median wall ms | msgs/s | MB/s | median CPU ms | msgs per CPU-s | MB per CPU-s | runs wall ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${f1(r.medianMs)} | ${f0(r.msgsPerSec)} | ${f1(r.mbPerSec)} | ${f1(r.medianCpuMs)} | ${f0(r.msgsPerCpuSec)} | ${f1(r.mbPerCpuSec)} | ${r.runsMs.map(f1).join(', ')} |`,
    ),
  ].join('\n');
const md = `# VICI decode benchmark (${stamp.date.slice(0, 10)})

${machineMarkdown(stamp)}
Load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join('/')}, at end ${load1.map((x) => x.toFixed(2)).join('/')} (other work shared the machine).

Input: ${frames.length} events recorded from real charon 5.9.8 (48 list-sa, 48 ike-updown; 24 IKE_SAs × 2 CHILD_SAs), repeated ${REPEAT}× = ${f0(expected)} messages, ${f1(bytes / 1e6)} MB framed (bench/vici/recorded-frames.json).
Versions: Node ${tools.versions.node}; ${tools.versions.python}, vici ${tools.versions.pythonVici} (PyPI); ${tools.versions.go}, govici ${tools.versions.govici}.
Wall-clock numbers depend on what else runs on the machine (see the load average); CPU time is
the client process's own user + system time over the same interval, which contention affects less.
Median of ${ROUNDS} runs each (python in-memory decode: ${Math.min(ROUNDS, 3)}); run order rotated per round.

## 1. Client: events over a unix socket through each library's public API

Registration of list-sa and ike-updown, then the whole stream; timed until the last event is delivered decoded
(roamwatch \`ViciSession.events()\`, python \`Session.listen()\`, govici \`Subscribe\` + \`NotifyEvents\`).

${table(clientRows)}

Wall clock (msgs/s): roamwatch / python vici **${ratios.clientVsPython.toFixed(2)}×**, roamwatch / govici **${ratios.clientVsGovici.toFixed(2)}×**.
CPU time (msgs per CPU-second, all threads of the client process): roamwatch / python vici **${ratios.clientCpuVsPython.toFixed(2)}×**, roamwatch / govici **${ratios.clientCpuVsGovici.toFixed(2)}×**.

## 2. Decode only, in memory

Framing + packet + message decode of the same bytes (roamwatch \`FrameDecoder\` + \`decodePacket\`, 64 KiB chunks;
python \`Packet.parse\` + \`Message.deserialize\`). govici has no row: its decoder (\`Message.decode\`) is unexported.

${table(decodeRows)}

roamwatch / python vici: **${ratios.decodeVsPython.toFixed(2)}×** wall clock, **${ratios.decodeCpuVsPython.toFixed(2)}×** per CPU-second.

Reproduce: \`npm run bench -- vici\` (VICI_BENCH_REPEAT, VICI_BENCH_ROUNDS to change the size).
`;
const day = stamp.date.slice(0, 10);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/vici-${day}.md`), md);
writeFileSync(join(root, `bench/results/vici-${day}.json`), JSON.stringify(result, null, 2) + '\n');
console.log(md);
