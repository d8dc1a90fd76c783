#!/usr/bin/env node
// The demo's story, step by step, against real charon in a lab (see scripts/demo.sh).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLab } from '@roamwatch/lab';
import { formatFinding } from '@roamwatch/processor';

const CLI = fileURLToPath(new URL('../cli/bin/roamwatch.js', import.meta.url));
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\u001b[1m${s}\u001b[0m` : s);
const dim = (s) => (tty ? `\u001b[2m${s}\u001b[0m` : s);
const step = (n, total, s) => console.log(`\n${bold(`[${n}/${total}] ${s}`)}`);
const say = (s) => console.log(`    ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TOTAL = 7;
// --charon 5.9 (Debian's 5.9.8, default) or 6.0 (6.0.6 from source): which charon the lab runs
const charonArg = process.argv.indexOf('--charon');
const CHARON = charonArg > 0 ? process.argv[charonArg + 1] : (process.env.ROAMWATCH_LAB_CHARON || '5.9');

let lab;
let watch;
const findings = [];
const waiters = [];

async function cleanup() {
  if (watch && watch.exitCode === null) {
    watch.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(r, 3000); watch.once('exit', () => { clearTimeout(t); r(); }); });
  }
  if (lab) {
    step(TOTAL, TOTAL, 'Tearing down the lab (charon processes by pid, the two namespaces, the lab directory)');
    await lab.teardown();
    lab = undefined;
    say('done: nothing of the demo is left on this machine');
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { cleanup().finally(() => process.exit(130)); });
}

function waitForFinding(pred, timeoutMs) {
  const hit = findings.find(pred);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve) => {
    const w = { pred, resolve };
    waiters.push(w);
    setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); resolve(undefined); } }, timeoutMs);
  });
}

const swanctlConf = () => `${lab.gw.swanctlDir}/swanctl.conf`;

async function runCli(args) {
  return lab.gw.exec(['node', CLI, ...args], { check: false, timeoutMs: 30_000 });
}

async function main() {
  step(1, TOTAL, `Building the lab: gateway and peer in two network namespaces, real charon ${CHARON === '6.0' ? '6.0.6 (built from source)' : CHARON === '5.9' ? '5.9.8 (Debian)' : CHARON} in each`);
  lab = await createLab({ name: 'demo', charon: CHARON });
  say(`charon ${lab.charon.version} (${lab.charon.charon})`);
  const conn = lab.connection();
  say(`gateway ${lab.gw.netns}: IKE address ${conn.localAddress ?? lab.gw.address} on lo, local_addrs = ${conn.localAddrs}, MOBIKE off`);
  say(`peer    ${lab.peer.netns}: ${lab.peer.address}`);
  const sa0 = await lab.waitForSa({ name: conn.name });
  say(`IKE_SA ${conn.name}[${sa0.uniqueid}] ESTABLISHED, gateway is the original initiator`);

  step(2, TOTAL, 'Starting `roamwatch watch` in the gateway namespace (rtnetlink + VICI + path analyzer + correlation, no Kafka)');
  watch = lab.gw.spawn(
    ['node', CLI, 'watch', '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', swanctlConf(), '--host-id', 'demo-gw', '--format', 'json', '--allowed-lateness-ms', '1500'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  watch.stderr.on('data', (d) => { stderr += d.toString(); if (stderr.length > 20_000) stderr = stderr.slice(-10_000); });
  createInterface({ input: watch.stdout }).on('line', (line) => {
    let f;
    try { f = JSON.parse(line); } catch { return; }
    findings.push(f);
    console.log(formatFinding(f, { color: tty }).split('\n').map((l) => `  │ ${l}`).join('\n'));
    for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
  });
  watch.on('exit', (code) => { if (lab) console.error(`roamwatch watch exited (${code}):\n${stderr}`); });
  await sleep(3000);

  step(3, TOTAL, 'Unrelated routing changes on the gateway (nothing about the tunnel\'s path changes)');
  const changes = [
    ['route', 'add', '192.0.2.0/24', 'dev', lab.gw.ifname],
    ['route', 'add', '198.18.0.0/15', 'via', lab.peer.address],
    ['route', 'del', '192.0.2.0/24', 'dev', lab.gw.ifname],
  ];
  let spurious = 0;
  for (const args of changes) {
    say(dim(`$ ip ${args.join(' ')}`));
    const before = findings.length;
    await lab.gw.ip(args);
    const f = await waitForFinding((x, i = findings.indexOf(x)) => i >= before && x.type === 'reauth', 10_000);
    if (f?.classification === 'spurious') spurious++;
    if (!f) say('(no reauthentication seen within 10 s)');
    await sleep(1500);
  }
  say(bold(`${spurious} of ${changes.length} unrelated changes made charon tear the tunnel down and rebuild it.`));

  step(4, TOTAL, '`roamwatch doctor`: which IKE_SAs will the next route change reauthenticate, and what prevents it');
  const doc = await runCli(['doctor', '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', swanctlConf(), '--format', 'text']);
  console.log(doc.stdout.trimEnd().split('\n').map((l) => `  │ ${l}`).join('\n'));
  say(`exit code ${doc.code} (1 = something is at risk)`);
  const json = await runCli(['doctor', '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', swanctlConf(), '--format', 'json']);
  let fix;
  try {
    const parsed = JSON.parse(json.stdout);
    const sas = Array.isArray(parsed) ? parsed : parsed.sas ?? parsed.ikeSas ?? [];
    fix = sas.flatMap((s) => s.fixes ?? []).find((x) => x.kind === 'route');
  } catch { /* reported below */ }
  if (!fix) throw new Error(`doctor suggested no route fix:\n${json.stdout}\n${json.stderr}`);

  step(5, TOTAL, '`roamwatch doctor --apply`: the least-change fix, applied, verified, journaled (`doctor --undo` restores)');
  // the gateway's network configuration, for the persistence snippet: an ifupdown stanza in
  // the lab directory (the machine's own /etc is not the lab gateway's)
  const netRoot = join(lab.dir, 'netconf');
  mkdirSync(join(netRoot, 'etc/network'), { recursive: true });
  writeFileSync(join(netRoot, 'etc/network/interfaces'), `auto ${lab.gw.ifname}\niface ${lab.gw.ifname} inet static\n    address ${lab.gw.address}/24\n`);
  say(dim(`$ roamwatch doctor --apply --yes   # will run: ${fix.command}`));
  const after = await runCli(['doctor', '--apply', '--yes', '--net-root', netRoot, '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', swanctlConf(), '--state-dir', join(lab.dir, 'remediation'), '--format', 'text']);
  console.log(after.stdout.trimEnd().split('\n').map((l) => `  │ ${l}`).join('\n'));
  if (after.code !== 0) throw new Error(`doctor --apply did not fix everything (exit ${after.code}):\n${after.stderr}`);
  say(`exit code ${after.code} (0 = nothing at risk any more)`);

  step(6, TOTAL, 'The same kind of unrelated changes again: the calm');
  const saBefore = await lab.waitForSa({ name: conn.name });
  const calm = [
    ['route', 'add', '192.0.2.0/24', 'dev', lab.gw.ifname],
    ['route', 'del', '198.18.0.0/15', 'via', lab.peer.address],
    ['route', 'del', '192.0.2.0/24', 'dev', lab.gw.ifname],
  ];
  const n0 = findings.filter((f) => f.type === 'reauth').length;
  for (const args of calm) {
    say(dim(`$ ip ${args.join(' ')}`));
    await lab.gw.ip(args);
    await sleep(2500);
  }
  const saAfter = await lab.waitForSa({ name: conn.name });
  const n1 = findings.filter((f) => f.type === 'reauth').length;
  const id = (s) => s.uniqueid;
  say(bold(`${n1 - n0} reauthentications after the fix; IKE_SA unique id ${id(saBefore)} → ${id(saAfter)} (${id(saBefore) === id(saAfter) ? 'the tunnel stayed up' : 'CHANGED'})`));
}

main()
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    console.error(`\nroamwatch demo failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
    await cleanup().catch(() => {});
    process.exit(1);
  });
