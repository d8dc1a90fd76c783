// `roamwatch watch` memory under a VICI event flood (issue #14 point 7): resident memory at
// rest, at the peak of a flood and after the flood, median of RW_BENCH_RUNS runs (default 3)
// of flood.mjs. Writes bench/results/watch-<YYYY-MM-DD>.md and .json.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { machineMarkdown, machineStamp } from '../machine.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runs = Number(process.env.RW_BENCH_RUNS ?? 3);
const floodS = 10;
const restS = 10;
const stamp = machineStamp();
const loadStart = os.loadavg();
const results = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync(process.execPath, [join(root, 'bench/watch/flood.mjs'), String(floodS), String(restS)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`flood.mjs failed: ${r.stderr}`);
  results.push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
}
const loadEnd = os.loadavg();
const median = (k) => {
  const v = results.map((r) => r[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
const summary = { restMB: median('restMB'), peakMB: median('peakMB'), afterMB: median('afterMB'), eventsSent: median('eventsSent') };
const date = stamp.date.slice(0, 10);
writeFileSync(join(root, `bench/results/watch-${date}.json`), JSON.stringify({ machine: stamp, floodS, restS, runs: results, median: summary }, null, 2) + '\n');
const md = [
  `# roamwatch watch: memory under a VICI event flood (${date})`,
  '',
  machineMarkdown(stamp),
  `Load average (1/5/15 min) at start ${loadStart.map((x) => x.toFixed(2)).join('/')}, at end ${loadEnd.map((x) => x.toFixed(2)).join('/')}.`,
  '',
  `A fake charon writes \`log\` events as fast as the socket drains for ${floodS} s, then goes quiet; \`roamwatch watch --no-rtnetlink\`'s`,
  `resident set size (VmRSS) is sampled every 200 ms: at rest before the flood, the peak, and ${restS} s after the flood.`,
  `Median of ${runs} run(s) (bench/watch/flood.mjs).`,
  '',
  '| events sent | rest MB | peak MB | after MB |',
  '| ---: | ---: | ---: | ---: |',
  `| ${summary.eventsSent.toLocaleString('en-US')} | ${summary.restMB} | ${summary.peakMB} | ${summary.afterMB} |`,
  '',
  'Runs: ' + results.map((r) => `${r.eventsSent} events, ${r.restMB} → ${r.peakMB} → ${r.afterMB} MB`).join('; '),
  '',
].join('\n');
writeFileSync(join(root, `bench/results/watch-${date}.md`), md);
console.log(md);
