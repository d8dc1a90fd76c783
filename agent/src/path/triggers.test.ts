import { describe, expect, it } from 'vitest';
import { addr, gateway, link, route } from './fixtures.js';
import { defaultCharonSettings, resolveCharonSettings } from './settings.js';
import { parseStrongswanConf } from './strongswan-conf.js';
import { changeFiresRoam } from './triggers.js';

const S = defaultCharonSettings();
const st = gateway([], { links: [link(9, 'bare'), link(8, 'off', false)] });

describe('changeFiresRoam', () => {
  it('a route on an up interface with an address (or with src) fires; charon\'s own and the local table do not', () => {
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'eth0', oifIndex: 2 }) }, st, S)).toBe(true);
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'eth0', oifIndex: 2, table: 220 }) }, st, S)).toBe(false);
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'lo', oifIndex: 1, table: 255 }) }, st, S)).toBe(false);
  });

  it('a route via an interface without address of the family does not fire, unless it has src', () => {
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'bare', oifIndex: 9 }) }, st, S)).toBe(false);
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'bare', oifIndex: 9, prefsrc: '192.0.2.1' }) }, st, S)).toBe(true);
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'off', oifIndex: 8, prefsrc: '192.0.2.1' }) }, st, S)).toBe(false);
  });

  it('process_route = no silences routes but not addresses; roam_events = no silences everything', () => {
    const pr = resolveCharonSettings(parseStrongswanConf('charon { process_route = no }'));
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: route('203.0.113.0/24', { oif: 'eth0', oifIndex: 2 }) }, st, pr)).toBe(false);
    expect(changeFiresRoam({ kind: 'address', op: 'added', address: addr(1, '198.19.0.1', 32) }, st, pr)).toBe(true);
    const off = resolveCharonSettings(parseStrongswanConf('charon { plugins { kernel-netlink { roam_events = no } } }'));
    expect(changeFiresRoam({ kind: 'address', op: 'added', address: addr(1, '198.19.0.1', 32) }, st, off)).toBe(false);
  });

  it('links fire on IFF_UP transitions and removal; rules only with process_rules', () => {
    expect(changeFiresRoam({ kind: 'link', op: 'replaced', old: link(2, 'eth0'), link: link(2, 'eth0', false) }, st, S)).toBe(true);
    expect(changeFiresRoam({ kind: 'link', op: 'replaced', old: link(2, 'eth0'), link: { ...link(2, 'eth0'), operstate: 'DOWN' } }, st, S)).toBe(false);
    const rule = { family: 4 as const, priority: 100, table: 100, action: 'to_tbl' };
    expect(changeFiresRoam({ kind: 'rule', op: 'added', rule }, st, S)).toBe(false);
    expect(changeFiresRoam({ kind: 'rule', op: 'added', rule }, st, resolveCharonSettings(parseStrongswanConf('charon { plugins { kernel-netlink { process_rules = yes } } }')))).toBe(true);
  });
});
