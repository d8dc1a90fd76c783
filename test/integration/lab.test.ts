// Smoke test of the strongSwan lab (test/lab/): real charon 5.9.8 in network
// namespaces. Verifies the behaviour roamwatch is about: with the gateway's IKE address
// on lo and local_addrs given as a hostname, an unrelated route change makes charon
// reauthenticate; a route with `src <local address>` prevents it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupStaleLabs,
  createLab,
  LAB_NET,
  parseListSas,
  renderStrongswanConf,
  run,
  type Lab,
} from '../lab/index.js';

const REAUTH_LINE = 'reauthenticating IKE_SA due to address change';

async function netnsNames(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list']);
  return r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

/** True while the process exists and is not a zombie (a killed orphan may wait to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('lab helpers (pure)', () => {
  it('parses swanctl --list-sas --pretty', () => {
    const text = [
      'list-sa event {',
      '  rw {',
      '    uniqueid = 3',
      '    version = 2',
      '    state = ESTABLISHED',
      '    local-host = 10.231.0.1',
      '    remote-host = 10.231.1.2',
      '    local-id = rw.gw.rwlab',
      '    initiator = yes',
      '    tasks-active = [',
      '      IKE_REAUTH',
      '    ]',
      '    child-sas {',
      '      net-3 {',
      '        name = net',
      '        uniqueid = 5',
      '        state = INSTALLED',
      '        local-ts = [',
      '          10.231.100.0/28',
      '        ]',
      '      }',
      '    }',
      '  }',
      '}',
      'list-sas reply {',
      '}',
    ].join('\n');
    const [sa] = parseListSas(text);
    expect(sa).toMatchObject({ name: 'rw', uniqueid: 3, state: 'ESTABLISHED', localHost: '10.231.0.1', initiator: true, tasksActive: ['IKE_REAUTH'] });
    expect(sa?.children).toMatchObject([{ name: 'net', uniqueid: 5, state: 'INSTALLED', localTs: ['10.231.100.0/28'] }]);
  });

  it('renders strongswan.conf with dotted keys and later layers winning', () => {
    const text = renderStrongswanConf({ charon: { plugins: { vici: { socket: 'unix:///x' } } } }, { charon: { 'plugins.kernel-netlink.roam_events': false, install_routes: 'no' } });
    expect(text).toContain('kernel-netlink {\n      roam_events = no\n');
    expect(text).toContain('vici {\n      socket = unix:///x\n');
    expect(() => renderStrongswanConf({ 'a b': 1 })).toThrow(/invalid/);
  });
});

describe('strongSwan lab (real charon in network namespaces)', () => {
  let lab: Lab | undefined;
  let buildMs = 0;

  beforeAll(async () => {
    const t0 = performance.now();
    lab = await createLab();
    buildMs = performance.now() - t0;
    console.info(`[lab] createLab (namespaces, 2 charons, IKE_SA + CHILD_SA): ${buildMs.toFixed(0)} ms`);
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  it('(a) establishes a gateway-initiated IKE_SA visible through swanctl --list-sas', async () => {
    const l = lab!;
    expect(l.id).toMatch(/^rwlab-[a-z0-9]{6}$/);
    expect(l.gw.viciUri).toBe(`unix://${l.gw.viciSocket}`);
    const r = await run(['swanctl', '--list-sas', '--uri', l.gw.viciUri]);
    expect(r.stdout).toContain('rw: #1, ESTABLISHED, IKEv2');
    expect(r.stdout).toMatch(/local\s+'rw\.gw\.rwlab' @ 10\.231\.0\.1\[4500\]/);
    expect(r.stdout).toMatch(/net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP/);

    const sa = await l.waitForSa();
    expect(sa).toMatchObject({ name: 'rw', state: 'ESTABLISHED', initiator: true, localHost: '10.231.0.1', remoteHost: LAB_NET.peerLink4 });
    const [peerSa] = await l.peer.listSas();
    expect(peerSa).toMatchObject({ state: 'ESTABLISHED', initiator: false });

    // local_addrs is a hostname from the gateway's private hosts file.
    const conns = await l.gw.swanctl(['--list-conns']);
    expect(conns.stdout).toContain('local:  rw.gw-ike.rwlab');

    // Each charon has its own private /run: its pid file is in the lab dir.
    const gwPid = l.gw.pid();
    expect(gwPid).toBeGreaterThan(1);
    const pidFile = spawnSync('cat', [join(l.gw.dir, 'run', 'charon.pid')], { encoding: 'utf8' }).stdout.trim();
    expect(Number(pidFile)).toBe(gwPid);
    const ns = spawnSync('readlink', [`/proc/${gwPid}/ns/net`], { encoding: 'utf8' }).stdout.trim();
    expect(ns).not.toBe(spawnSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).stdout.trim());

    // IPv6 is off in the namespaces; the data plane (kernel-libipsec TUN) works.
    const addrs = await l.gw.ip(['-6', 'addr', 'show']);
    expect(addrs.stdout.trim()).toBe('');
    expect(await l.pingThroughTunnel()).toBe(true);
    expect(await l.gw.exec(['ip', 'route', 'show', 'table', '220'])).toMatchObject({ code: 0 });
  });

  it('(b) an unrelated route change makes charon reauthenticate (uniqueid goes up)', async () => {
    const l = lab!;
    const before = await l.waitForSa();
    const mark = l.gw.logMark();
    const t0 = performance.now();
    await l.gw.ip(['route', 'add', '192.0.2.0/24', 'dev', l.gw.ifname]);
    const after = await l.waitForSa({ uniqueIdAbove: before.uniqueid, timeoutMs: 10_000, intervalMs: 10 });
    const reauthMs = performance.now() - t0;
    expect(after.uniqueid).toBe(before.uniqueid + 1);
    expect(after.localHost).toBe(before.localHost);
    expect(after.remoteHost).toBe(before.remoteHost);
    const line = await l.gw.waitForLog(REAUTH_LINE, { since: mark });
    expect(line).toContain(`<rw|${before.uniqueid}>`);
    expect(l.gw.log(mark)).toContain('old path is not available anymore, try to find another');
    console.info(`[lab] route change -> new IKE_SA established (seen by polling swanctl every 10 ms): ${reauthMs.toFixed(0)} ms`);
    console.info(`[lab] gw log of the reauth:\n${l.gw.log(mark).split('\n').filter((x) => /roam|path|reauth|initiating|established/.test(x)).join('\n')}`);
  });

  it('(c) with a route carrying src <local address> route changes no longer reauthenticate', async () => {
    const l = lab!;
    const before = await l.waitForSa();
    const args = await l.addSrcRoute();
    expect(args).toEqual(['route', 'replace', `${LAB_NET.peerLink4}/32`, 'dev', l.gw.ifname, 'src', '10.231.0.1']);
    // Let the roam event of the src route itself pass (it keeps the path, too).
    await l.gw.waitForLog('keeping connection path', { since: l.gw.logMark() }).catch(() => undefined);
    const mark = l.gw.logMark();
    await l.gw.ip(['route', 'add', '198.51.100.0/24', 'dev', l.gw.ifname]);
    // Positive evidence that charon ran the path check and kept the path…
    await l.gw.waitForLog('keeping connection path 10.231.0.1 - 10.231.1.2', { since: mark });
    await new Promise((r) => setTimeout(r, 300));
    // …and no reauth.
    expect(l.gw.log(mark)).not.toContain(REAUTH_LINE);
    const after = await l.waitForSa();
    expect(after.uniqueid).toBe(before.uniqueid);
    await l.gw.ip(['route', 'del', '198.51.100.0/24', 'dev', l.gw.ifname]);
    await l.gw.ip(['route', 'del', `${LAB_NET.peerLink4}/32`, 'dev', l.gw.ifname]);
  });

  it('restarts the gateway charon and re-establishes the SA', async () => {
    const l = lab!;
    const oldPid = l.gw.pid()!;
    const t0 = performance.now();
    await l.restartCharon('gw');
    console.info(`[lab] restartCharon('gw') incl. new IKE_SA: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(alive(oldPid)).toBe(false);
    expect(l.gw.pid()).not.toBe(oldPid);
    const sa = await l.waitForSa();
    expect(sa.uniqueid).toBe(1); // a fresh charon counts from 1
    await l.stopCharon('peer');
    expect(l.peer.running()).toBe(false);
    await l.startCharon('peer');
    await l.initiate();
    await l.waitForSa({ side: 'peer' });
  });

  it('several connections: hostname reauths, literal keeps the static path; labs coexist', async () => {
    const t0 = performance.now();
    const l2 = await createLab({ connections: [{ name: 'host' }, { name: 'lit', localAddrs: 'literal' }] });
    try {
      console.info(`[lab] createLab with 2 connections: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(l2.id).not.toBe(lab!.id);
      const host = await l2.waitForSa({ name: 'host' });
      const lit = await l2.waitForSa({ name: 'lit' });
      expect(host.localHost).toBe('10.231.0.1');
      expect(lit.localHost).toBe('10.231.0.2');
      expect(await l2.pingThroughTunnel({ name: 'lit' })).toBe(true);
      const mark = l2.gw.logMark();
      await l2.gw.ip(['route', 'add', '192.0.2.0/24', 'dev', l2.gw.ifname]);
      await l2.waitForSa({ name: 'host', uniqueIdAbove: host.uniqueid });
      await l2.gw.waitForLog(/<lit\|\d+> keeping statically configured path/, { since: mark });
      expect((await l2.waitForSa({ name: 'lit' })).uniqueid).toBe(lit.uniqueid);
      expect(l2.gw.log(mark)).not.toMatch(/<lit\|\d+> reauthenticating/);
    } finally {
      await l2.teardown();
    }
  });

  it('strongswanConf reaches the gateway: roam_events = no stops the reauth', async () => {
    const l3 = await createLab({ strongswanConf: { 'plugins.kernel-netlink.roam_events': false } });
    try {
      const before = await l3.waitForSa();
      await l3.gw.ip(['route', 'add', '192.0.2.0/24', 'dev', l3.gw.ifname]);
      await new Promise((r) => setTimeout(r, 600));
      expect(l3.gw.log()).not.toContain('creating roam job');
      expect((await l3.waitForSa()).uniqueid).toBe(before.uniqueid);
    } finally {
      await l3.teardown();
    }
  });

  it('IPv6: an IKE_SA over IPv6 with the local address on lo', async () => {
    const l4 = await createLab({ ipv6: true, family: 'ipv6' });
    try {
      const sa = await l4.waitForSa();
      expect(sa.localHost).toBe('fd00:231::1');
      expect(sa.remoteHost).toBe(LAB_NET.peerLink6);
      expect(await l4.pingThroughTunnel()).toBe(true);
    } finally {
      await l4.teardown();
    }
  });

  it('teardown removes its namespaces, processes and directory', async () => {
    const l5 = await createLab({ name: 'smoke-td', startSa: false });
    const pids = [l5.gw.pid()!, l5.peer.pid()!];
    expect(pids.every(alive)).toBe(true);
    // A stray process inside the lab's namespace is the lab's too.
    const stray = spawnSync('ip', ['netns', 'exec', l5.gw.netns, 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const strayPid = Number(stray.stdout.trim());
    expect(alive(strayPid)).toBe(true);
    const monitor = l5.peer.spawn(['ip', 'monitor', 'route'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 50));
    expect(alive(monitor.pid!)).toBe(true);
    expect(readFileSync(`/proc/${monitor.pid}/cmdline`, 'utf8')).toBe('ip\0monitor\0route\0');
    await l5.teardown();
    await l5.teardown(); // idempotent
    expect(pids.some(alive)).toBe(false);
    expect(alive(strayPid)).toBe(false);
    expect(alive(monitor.pid!)).toBe(false);
    const names = await netnsNames();
    expect(names).not.toContain(l5.gw.netns);
    expect(names).not.toContain(l5.peer.netns);
    expect(existsSync(l5.dir)).toBe(false);
  });

  it('cleans up leftovers of a crashed run, and only those', async () => {
    // A "crashed" lab: dead owner, namespace with a process in it.
    const dead = spawnSync('sh', ['-c', 'echo $$; cat /proc/$$/stat']).stdout.toString().split('\n');
    const deadPid = Number(dead[0]);
    const deadStart = (dead[1] ?? '').slice((dead[1] ?? '').lastIndexOf(')') + 2).split(' ')[19];
    const id = `rwlab-crash${Math.floor(Math.random() * 1e6)}`;
    const dir = join(tmpdir(), id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'lab.json'), JSON.stringify({ id, ownerPid: deadPid, ownerStart: deadStart, netns: [`${id}-gw`], dir, charonPids: {} }));
    await run(['ip', 'netns', 'add', `${id}-gw`]);
    const stray = spawnSync('ip', ['netns', 'exec', `${id}-gw`, 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const strayPid = Number(stray.stdout.trim());

    const removed = await cleanupStaleLabs();
    expect(removed).toContain(id);
    expect(removed).not.toContain(lab!.id); // a live lab is never touched
    expect(await netnsNames()).not.toContain(`${id}-gw`);
    expect(existsSync(dir)).toBe(false);
    expect(alive(strayPid)).toBe(false);
    expect(lab!.gw.running()).toBe(true);
  });
});
