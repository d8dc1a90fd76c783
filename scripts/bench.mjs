#!/usr/bin/env node
// Runs every benchmark suite under bench/<suite>/run.mjs (or only those named on the
// command line: `npm run bench -- vici rtnetlink`). Each suite measures roamwatch against
// its named baseline in the same run and writes bench/results/<suite>-<YYYY-MM-DD>.md
// (and .json) stamped with the machine (CPU model, cores, memory, kernel, Node version).
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');
const wanted = process.argv.slice(2);
const suites = readdirSync(benchDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'results' && existsSync(join(benchDir, d.name, 'run.mjs')))
  .map((d) => d.name)
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();
if (suites.length === 0) {
  console.error(`no benchmark suite found${wanted.length ? ` named ${wanted.join(', ')}` : ''} under bench/`);
  process.exit(2);
}
// The benchmarks run real tools (ip, stdbuf, python3, go, …: scripts/commands.txt); on a
// fresh machine `bash scripts/servers.sh install` installs them with the servers.
const check = spawnSync('bash', [join(root, 'scripts/commands.sh'), 'check'], { stdio: 'inherit', cwd: root });
if (check.status !== 0) {
  console.error('bench: external commands missing; install them (as root): bash scripts/servers.sh install');
  process.exit(2);
}
let failed = 0;
for (const suite of suites) {
  console.log(`\n=== bench: ${suite}`);
  const r = spawnSync(process.execPath, [join(benchDir, suite, 'run.mjs')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    failed += 1;
    console.error(`bench ${suite} failed with exit code ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
