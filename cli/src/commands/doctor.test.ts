import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Route } from '@roamwatch/core';
import { exitCodeFor, formatText, run, runDoctor, type DoctorSources } from './doctor.js';

const link = (ifIndex: number, ifName: string) => ({ ifIndex, ifName, flags: ['UP', 'LOWER_UP'], operstate: 'UP' });
const r = (dst: string, o: Partial<Route>): Route => ({ family: 4, table: 254, dst, type: 'unicast', protocol: 'boot', scope: 'universe', ...o });

function sources(routes: Route[]): DoctorSources {
  return {
    charon: async () => ({
      version: '5.9.8',
      ikeSas: [
        { name: 'site', uniqueId: '3', version: 2, state: 'ESTABLISHED', localHost: '192.0.2.1', localPort: 500, remoteHost: '198.51.100.7', remotePort: 500, initiator: true, childSas: [] },
        { name: 'static', uniqueId: '4', version: 2, state: 'ESTABLISHED', localHost: '192.0.2.2', localPort: 500, remoteHost: '198.51.100.8', remotePort: 500, initiator: true, childSas: [] },
      ],
      connections: [
        { name: 'site', localAddrs: ['gw.example.net'], remoteAddrs: ['198.51.100.7'] },
        { name: 'static', localAddrs: ['192.0.2.2'], remoteAddrs: ['198.51.100.8'] },
      ],
    }),
    net: async () => ({
      links: [link(1, 'lo'), link(2, 'eth0')],
      addresses: [
        { family: 4, ifIndex: 1, address: '192.0.2.1', prefixLen: 32, scope: 'global', flags: [] },
        { family: 4, ifIndex: 1, address: '192.0.2.2', prefixLen: 32, scope: 'global', flags: [] },
        { family: 4, ifIndex: 2, address: '10.0.0.1', prefixLen: 24, scope: 'global', flags: [] },
      ],
      routes,
    }),
    kernelLookup: async () => ({ error: 'not expected' }),
  };
}

function conf(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rw-doctor-'));
  writeFileSync(join(dir, 'strongswan.conf'), text);
  return join(dir, 'strongswan.conf');
}

const viaGw = r('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 });

describe('roamwatch doctor', () => {
  it('when an SA is at risk, then the table shows it with the fix and the exit code is 1', async () => {
    const res = await runDoctor({ strongswanConf: conf('charon {\n}\n'), swanctlConf: undefined, env: {} }, sources([viaGw]));
    expect(res.sas.map((s) => [s.conn, s.verdict])).toEqual([
      ['site', 'at-risk'],
      ['static', 'immune'],
    ]);
    expect(exitCodeFor(res)).toBe(1);
    const text = formatText(res);
    expect(text).toContain('AT RISK');
    expect(text).toContain('ip route add 198.51.100.7/32 via 10.0.0.254 dev eth0 src 192.0.2.1');
    expect(text).toMatch(/next route\/address\/link change: reauth/);
  });

  it('when every SA is valid or immune, then the exit code is 0; JSON has the documented fields', async () => {
    const res = await runDoctor({ strongswanConf: conf('charon {\n}\n'), env: {} }, sources([{ ...viaGw, prefsrc: '192.0.2.1' }]));
    expect(exitCodeFor(res)).toBe(0);
    const j = JSON.parse(JSON.stringify(res)) as { sas: Record<string, unknown>[] };
    for (const k of ['conn', 'uniqueId', 'localHost', 'remoteHost', 'verdict', 'reason', 'fixes']) expect(j.sas[0]).toHaveProperty(k);
  });

  it('when roam_events is off in strongswan.conf (via STRONGSWAN_CONF), then everything is immune', async () => {
    const path = conf('charon {\n  plugins {\n    kernel-netlink {\n      roam_events = no\n    }\n  }\n}\n');
    const res = await runDoctor({ env: { STRONGSWAN_CONF: path } }, sources([viaGw]));
    expect(res.strongswanConf).toBe(path);
    expect(res.sas.every((s) => s.verdict === 'immune')).toBe(true);
  });

  it('when charon uses kernel lookups (install_routes = no), then doctor asks the kernel with the local address as source', async () => {
    const asked: string[] = [];
    const src = sources([viaGw]);
    src.kernelLookup = async (k) => {
      asked.push(`${k.dest} from ${k.candidate ?? '-'}`);
      return { route: r(`${k.dest}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, ...(k.candidate ? { src: `${k.candidate}/32` } : { prefsrc: '10.0.0.1' }) }) };
    };
    const res = await runDoctor({ strongswanConf: conf('charon {\n  install_routes = no\n}\n'), env: {} }, src);
    expect(asked).toContain('198.51.100.7 from 192.0.2.1');
    expect(res.sas.find((s) => s.conn === 'site')?.verdict).toBe('valid');
    expect(res.sas.find((s) => s.conn === 'site')?.reasonCode).toBe('kernel-route-keeps-source');
  });

  it('when the default swanctl.conf does not exist, then a warning says so (text and JSON); with the file or --assume-mobike, none', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'rw-doctor-')), 'swanctl.conf');
    const res = await runDoctor({ strongswanConf: conf('charon {\n}\n'), defaultSwanctlConf: missing, env: {} }, sources([viaGw]));
    expect(res.swanctlConf).toBeUndefined();
    expect(res.warnings).toEqual([expect.stringMatching(new RegExp(`^${missing} does not exist: each connection's mobike setting is unknown.*--swanctl-conf`))]);
    expect(formatText(res)).toContain(`warning: ${missing} does not exist`);

    const assumed = await runDoctor({ strongswanConf: conf('charon {\n}\n'), defaultSwanctlConf: missing, assumeMobike: false, env: {} }, sources([viaGw]));
    expect(assumed.warnings).toEqual([]);
    writeFileSync(missing, 'connections {\n  site {\n    mobike = no\n  }\n}\n');
    const present = await runDoctor({ strongswanConf: conf('charon {\n}\n'), defaultSwanctlConf: missing, env: {} }, sources([viaGw]));
    expect(present.swanctlConf).toBe(missing);
    expect(present.warnings).toEqual([]);
  });

  it('when the VICI socket does not exist, then it exits 2 with a clear message', async () => {
    const err: string[] = [];
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
    try {
      const code = await run({ vici: 'unix:///nonexistent/charon.vici', strongswanConf: conf(''), format: 'text' });
      expect(code).toBe(2);
    } finally {
      e.mockRestore();
    }
    expect(err.join('')).toMatch(/VICI socket \/nonexistent\/charon.vici does not exist/);
  });
});
