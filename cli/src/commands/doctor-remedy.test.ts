import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Route } from '@roamwatch/core';
import type { DoctorSources } from './doctor.js';
import { runApply, runJournal } from './doctor-remedy.js';
import { remedyUsageError } from './doctor-remedy-options.js';

const link = (ifIndex: number, ifName: string) => ({ ifIndex, ifName, flags: ['UP', 'LOWER_UP'], operstate: 'UP' });
const connected: Route = { family: 4, table: 254, dst: '10.231.1.0/24', type: 'unicast', protocol: 'kernel', scope: 'link', oif: 'rw-gw0', oifIndex: 2, prefsrc: '10.231.1.1' };

function sources(): DoctorSources {
  return {
    charon: async () => ({
      version: '5.9.8',
      ikeSas: [{ name: 'rw', uniqueId: '4', version: 2, state: 'ESTABLISHED', localHost: '10.231.0.1', localPort: 500, remoteHost: '10.231.1.2', remotePort: 500, initiator: true, childSas: [] }],
      connections: [{ name: 'rw', localAddrs: ['gw.example.net'], remoteAddrs: ['10.231.1.2'] }],
    }),
    net: async () => ({
      links: [link(1, 'lo'), link(2, 'rw-gw0')],
      addresses: [
        { family: 4, ifIndex: 1, address: '10.231.0.1', prefixLen: 32, scope: 'global', flags: [] },
        { family: 4, ifIndex: 2, address: '10.231.1.1', prefixLen: 24, scope: 'global', flags: [] },
      ],
      routes: [connected],
    }),
    kernelLookup: async () => ({ error: 'not expected' }),
  };
}

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'rw-remedy-cli-'));
  writeFileSync(join(d, 'strongswan.conf'), 'charon {\n}\n');
  writeFileSync(join(d, 'swanctl.conf'), 'connections {\n    rw {\n        local_addrs = gw.example.net\n        mobike = no\n    }\n}\n');
  mkdirSync(join(d, 'root/etc/network'), { recursive: true });
  writeFileSync(join(d, 'root/etc/network/interfaces'), 'iface rw-gw0 inet static\n    address 10.231.1.1/24\n');
  const out: string[] = [];
  const err: string[] = [];
  return {
    d,
    out,
    err,
    doctorOpts: { strongswanConf: join(d, 'strongswan.conf'), swanctlConf: join(d, 'swanctl.conf'), env: {} },
    io: (ask?: (q: string) => Promise<boolean>) => ({ out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), ask }),
  };
}

describe('doctor --apply (CLI wiring; nothing here runs ip)', () => {
  it('when --apply runs without a terminal and without --yes, then it refuses with exit 2 and says how', async () => {
    const t = setup();
    const code = await runApply({ apply: true, stateDir: join(t.d, 'j') }, t.doctorOpts, sources(), t.io());
    expect(code).toBe(2);
    expect(t.err.join('')).toMatch(/confirm on a terminal, or pass --yes/);
  });

  it('when --dry-run, then the plan, the ifupdown snippet and the swanctl.conf diff are printed, and nothing is journaled', async () => {
    const t = setup();
    const code = await runApply({ apply: true, dryRun: true, stateDir: join(t.d, 'j'), netRoot: join(t.d, 'root') }, t.doctorOpts, sources(), t.io());
    expect(code).toBe(1);
    const text = t.out.join('');
    expect(text).toContain('PLAN  rw[4]: would run: ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1');
    expect(text).toMatch(/to keep it across reboots \(ifupdown: .*interfaces has an iface rw-gw0 stanza\)/);
    expect(text).toContain('up ip route replace 10.231.1.2/32 dev rw-gw0 src 10.231.0.1');
    expect(runJournal({ stateDir: join(t.d, 'j') }, t.io())).toBe(0);
    expect(t.out.pop()).toMatch(/is empty/);
  });

  it('when the operator declines on the terminal, then nothing changes and the config-level fix is shown as a diff, not written', async () => {
    const t = setup();
    const asked: string[] = [];
    const code = await runApply({ apply: true, stateDir: join(t.d, 'j') }, t.doctorOpts, sources(), t.io(async (q) => (asked.push(q), false)));
    expect(asked).toEqual(['Apply this change?']);
    expect(code).toBe(1);
    const text = t.out.join('');
    expect(text).toContain('skipped  rw[4]: not applied (declined)');
    expect(text).toContain('-        local_addrs = gw.example.net\n  +        local_addrs = 10.231.0.1');
    expect(text).toContain('(written only with --apply-config)');
  });

  it('when remediation options come without --apply, or exclude each other, then it is a usage error', () => {
    expect(remedyUsageError({ yes: true })).toMatch(/--yes only go with --apply/);
    expect(remedyUsageError({ apply: true, undo: true })).toMatch(/exclude each other/);
    expect(remedyUsageError({ apply: true, yes: true, persist: 'netplan' })).toBeUndefined();
  });
});
