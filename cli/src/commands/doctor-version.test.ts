// doctor shows the charon version and, per SA, the version-specific rule that decided the
// verdict (agent/src/path/version-rules.ts; proven in the lab by path-matrix.test.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Route } from '@roamwatch/core';
import { formatText, runDoctor, type DoctorSources } from './doctor.js';

const link = (ifIndex: number, ifName: string) => ({ ifIndex, ifName, flags: ['UP', 'LOWER_UP'], operstate: 'UP' });
const viaGw: Route = { family: 4, table: 254, dst: '0.0.0.0/0', type: 'unicast', protocol: 'boot', scope: 'universe', gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 };

function sources(version: string): DoctorSources {
  const sa = (name: string, uniqueId: string, localHost: string, ikeVersion: 1 | 2) => ({
    name, uniqueId, version: ikeVersion, state: 'ESTABLISHED', localHost, localPort: 500, remoteHost: '198.51.100.7', remotePort: 500, initiator: true, childSas: [],
  });
  return {
    charon: async () => ({
      version,
      ikeSas: [sa('site', '3', '192.0.2.1', 2), sa('v1', '4', '192.0.2.3', 1), sa('static', '5', '192.0.2.2', 2)],
      connections: [
        { name: 'site', localAddrs: ['gw.example.net'], remoteAddrs: ['198.51.100.7'] },
        { name: 'v1', localAddrs: ['gw1.example.net'], remoteAddrs: ['198.51.100.7'], version: 'IKEv1' },
        { name: 'static', localAddrs: ['192.0.2.2'], remoteAddrs: ['198.51.100.7'] },
      ],
    }),
    net: async () => ({
      links: [link(1, 'lo'), link(2, 'eth0')],
      addresses: ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((address) => ({ family: 4 as const, ifIndex: 1, address, prefixLen: 32, scope: 'global', flags: [] }))
        .concat([{ family: 4, ifIndex: 2, address: '10.0.0.1', prefixLen: 24, scope: 'global', flags: [] }]),
      routes: [viaGw],
    }),
    kernelLookup: async () => ({ error: 'not expected' }),
  };
}

function emptyConf(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rw-doctor-version-'));
  writeFileSync(join(dir, 'strongswan.conf'), 'charon {\n}\n');
  return join(dir, 'strongswan.conf');
}

describe('roamwatch doctor: charon version and the deciding rule', () => {
  it('when charon is 5.9.8, then the header names it, the at-risk SA is decided by break-before-make-default and IKEv1 by ikev1-ignored', async () => {
    const res = await runDoctor({ strongswanConf: emptyConf(), env: {} }, sources('5.9.8'));
    expect(res.charonVersion).toBe('5.9.8');
    expect(res.settings.makeBeforeBreak).toBe(false);
    expect(res.sas.map((s) => [s.conn, s.verdict, s.rule.id])).toEqual([
      ['site', 'at-risk', 'break-before-make-default'],
      ['v1', 'immune', 'ikev1-ignored'],
      ['static', 'immune', 'static-path-kept'],
    ]);
    const text = formatText(res);
    expect(text.split('\n')[0]).toMatch(/^charon 5\.9\.8 · .* make_before_break=no$/);
    expect(text).toMatch(/VERDICT +WHY +RULE/);
    expect(text).toMatch(/site +3 .*AT RISK +no-route-leads-to-source +break-before-make-default \(< 6\.0\.0\)/);
    expect(text).toMatch(/v1 +4 .*immune +ikev1 +ikev1-ignored \(>= 5\.6\.3\)/);
    expect(text).toContain('rule break-before-make-default (charon < 6.0.0): charon.make_before_break defaults to no');
  });

  it('when charon is 6.0.6, then the same SA is decided by make-before-break-default; the other rules hold on both', async () => {
    const res = await runDoctor({ strongswanConf: emptyConf(), env: {} }, sources('6.0.6'));
    expect(res.charonVersion).toBe('6.0.6');
    expect(res.settings.makeBeforeBreak).toBe(true);
    expect(res.sas.map((s) => [s.conn, s.rule.id])).toEqual([
      ['site', 'make-before-break-default'],
      ['v1', 'ikev1-ignored'],
      ['static', 'static-path-kept'],
    ]);
    const j = JSON.parse(JSON.stringify(res)) as { sas: { rule: Record<string, unknown> }[] };
    expect(Object.keys(j.sas[0]!.rule).sort()).toEqual(['id', 'source', 'summary', 'versions']);
    expect(formatText(res)).toMatch(/site +3 .*make-before-break-default \(>= 6\.0\.0\)/);
  });

  it('when --charon-version overrides what charon reports, then the rules follow the override', async () => {
    const res = await runDoctor({ strongswanConf: emptyConf(), env: {}, charonVersion: '6.0.6' }, sources('5.9.8'));
    expect(res.charonVersion).toBe('6.0.6');
    expect(res.sas[0]?.rule.id).toBe('make-before-break-default');
  });
});
