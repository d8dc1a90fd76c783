#!/usr/bin/env node
// End-to-end detection latency and agent cost, measured by test/integration/e2e.test.ts on
// real components (charon in the lab → agent → Kafka → processor → InfluxDB): for each
// unrelated route/address change, the wall time from the `ip` command to the finding on the
// processor's output and to the point being queryable in InfluxDB; charon's own part
// (latencyMs: trigger → reauth start, ≈ its 100 ms roam delay) and the tunnel downtime as
// the processor measured them; the agent's CPU seconds over the bug phase.
// Needs the servers (npm run servers:start) and root. Runs the test ROUNDS times (default 3).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineMarkdown, machineStamp } from '../machine.mjs';

const rounds = Number(process.env.ROUNDS ?? 3);
const all = [];
let cpu = 0;
for (let i = 0; i < rounds; i++) {
  const out = join(tmpdir(), `roamwatch-e2e-${process.pid}-${i}.json`);
  rmSync(out, { force: true });
  const r = spawnSync('npx', ['vitest', 'run', '--project', 'integration', 'test/integration/e2e.test.ts'], {
    stdio: 'inherit',
    // one charon build per run (the e2e test runs every build of ROAMWATCH_LAB_CHARONS; the
    // committed results are Debian's 5.9.8 unless chosen otherwise)
    env: { ...process.env, ROAMWATCH_LAB_CHARONS: process.env.ROAMWATCH_LAB_CHARONS ?? '5.9', ROAMWATCH_E2E_RESULTS: out },
  });
  if (r.status !== 0) {
    console.error(`e2e round ${i + 1} failed`);
    process.exit(1);
  }
  const res = JSON.parse(readFileSync(out, 'utf8'));
  all.push(...res.measured);
  cpu += res.agentCpuS;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const col = (k) => all.map((m) => m[k]).filter((v) => typeof v === 'number');
const stats = (k) => ({ p50: pct(col(k), 50), p99: pct(col(k), 99), max: Math.max(...col(k)), n: col(k).length });
const stamp = machineStamp();
const result = {
  machine: stamp,
  rounds,
  changes: all.length,
  routeChangeToFindingMs: stats('findingMs'),
  routeChangeToInfluxMs: stats('influxMs'),
  charonTriggerToReauthMs: stats('latencyMs'),
  tunnelDowntimeMs: stats('downtimeMs'),
  agentCpuSecondsPerChange: cpu / Math.max(1, all.length),
  samples: all,
};
mkdirSync('bench/results', { recursive: true });
const day = stamp.date.slice(0, 10);
writeFileSync(`bench/results/e2e-${day}.json`, JSON.stringify(result, null, 2) + '\n');
const row = (name, s) => `| ${name} | ${s.p50.toFixed(0)} | ${s.p99.toFixed(0)} | ${s.max.toFixed(0)} | ${s.n} |`;
const md = [
  `# End-to-end detection latency (${day})`,
  '',
  machineMarkdown(stamp),
  '',
  `Real charon 5.9.8 in the lab → roamwatch agent (gateway namespace) → Kafka 3.9 → roamwatch processor → InfluxDB 1.8; ${rounds} runs of test/integration/e2e.test.ts, ${all.length} unrelated route/address changes, each causing one spurious reauth.`,
  'Processor settings: allowed lateness 1000 ms (a finding waits until the host\'s watermark passes it), agent heartbeat every 500 ms.',
  '',
  '| from → to | p50 ms | p99 ms | max ms | n |',
  '|---|---|---|---|---|',
  row('route change → finding printed by the processor', result.routeChangeToFindingMs),
  row('route change → point queryable in InfluxDB', result.routeChangeToInfluxMs),
  row("charon: trigger → reauth start (its roam delay)", result.charonTriggerToReauthMs),
  row('tunnel downtime (old CHILD_SA down → new up)', result.tunnelDowntimeMs),
  '',
  `Agent CPU during the bug phase: ${(result.agentCpuSecondsPerChange * 1000).toFixed(1)} ms of CPU per change (user+system, /proc/<pid>/stat), including its heartbeats and the path re-evaluation after each change.`,
  '',
  'Regenerate: `npm run servers:start && npm run bench -- e2e` (as root).',
  '',
].join('\n');
writeFileSync(`bench/results/e2e-${day}.md`, md);
console.log(md);
