#!/usr/bin/env node
// `roamwatch watch` detection latency (#16 item 4): real charon in the lab, `roamwatch watch
// --format json` with default settings in the gateway namespace, WATCH_CHANGES unrelated route
// changes (each causes one spurious reauth): wall time from the `ip route add` to the finding
// line on watch's stdout, and charon's own part (the finding's latencyMs: trigger → reauth
// start, its ≈100 ms roam delay) as the baseline of the same run. Prints one JSON line.
// As root. Used by bench/e2e/run.mjs.
import { createInterface } from 'node:readline';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHANGES = Number(process.env.WATCH_CHANGES ?? 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const { createLab } = await import(join(root, 'test/lab/dist/index.js'));

const lab = await createLab({ name: `watchlat-${Date.now().toString(36)}` });
const record = join(lab.dir, 'watch.jsonl');
const child = lab.gw.spawn(
  [process.execPath, join(root, 'cli/bin/roamwatch.js'), 'watch', '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile,
    '--swanctl-conf', join(lab.gw.swanctlDir, 'swanctl.conf'), '--host-id', 'gw-watch', '--format', 'json', '--record', record],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const findings = [];
createInterface({ input: child.stdout }).on('line', (line) => {
  try {
    findings.push({ at: Date.now(), f: JSON.parse(line) });
  } catch {
    /* not a finding */
  }
});
const samples = [];
try {
  await lab.waitForSa();
  const t0 = Date.now();
  while (!(existsSync(record) && readFileSync(record, 'utf8').includes('"vici.sa-snapshot"'))) {
    if (Date.now() - t0 > 30_000) throw new Error('watch did not connect to charon within 30 s');
    await sleep(50);
  }
  await sleep(2000);
  for (let i = 1; i <= CHANGES; i++) {
    const before = findings.filter((x) => x.f.type === 'reauth').length;
    const sa = await lab.waitForSa();
    const t = Date.now();
    await lab.gw.ip(['route', 'add', `192.0.2.${i}/32`, 'dev', lab.gw.ifname]);
    const deadline = Date.now() + 20_000;
    let got;
    while (!(got = findings.filter((x) => x.f.type === 'reauth')[before]) && Date.now() < deadline) await sleep(5);
    if (got) samples.push({ change: `ip route add 192.0.2.${i}/32`, printedMs: got.at - t, latencyMs: got.f.latencyMs, classification: got.f.classification });
    await lab.waitForSa({ uniqueIdAbove: Number(sa.uniqueid) });
    await sleep(1500);
  }
} finally {
  child.kill('SIGTERM');
  await sleep(1000);
  await lab.teardown();
}
console.log(JSON.stringify({ samples }));
