import { describe, expect, it } from 'vitest';
import { validatePayload } from '@roamwatch/core';
import { resyncPayload, toContractEvent } from './rtnetlink-contract.js';
import type { RouteState, StateChange } from '../../rtnetlink/state.js';

const names = (i: number): string | undefined => ({ 1: 'lo', 3: 'v0' } as Record<number, string>)[i];

const route: RouteState = {
  family: 4, table: 1000, dst: '10.20.0.0/16', src: undefined, tos: 0, priority: 20, type: 1, protocol: 186, scope: 0,
  oif: 3, gateway: '10.9.0.2', via: undefined, prefsrc: '192.0.2.1', mark: undefined, nhId: undefined, pref: undefined,
  nexthops: undefined,
};

describe('toContractEvent', () => {
  it('when a route is replaced, then the payload validates against the contract with names', () => {
    const c: StateChange = { kind: 'route', op: 'replaced', cause: 'event', old: route, new: { ...route, gateway: '10.9.0.3' } };
    const e = toContractEvent(c, names);
    expect(e.kind).toBe('route.replaced');
    expect(validatePayload(e.kind, e.payload)).toMatchObject({
      old: { gateway: '10.9.0.2' }, route: { gateway: '10.9.0.3', protocol: 'bgp', type: 'unicast', scope: 'universe', oif: 'v0', table: 1000 },
    });
  });

  it('when address, link and rule changes convert, then each payload validates', () => {
    const cs: StateChange[] = [
      { kind: 'address', op: 'added', cause: 'event', old: undefined, new: { family: 6, index: 3, local: 'fe80::1', prefixLen: 64, peer: undefined, scope: 253, flags: 0xc0, label: undefined, broadcast: undefined } },
      { kind: 'link', op: 'replaced', cause: 'event', old: { index: 3, ifname: 'v0', flags: 0x1003, operstate: 2, mtu: 1500, master: undefined, linkType: 1 }, new: { index: 3, ifname: 'v0', flags: 0x11043, operstate: 6, mtu: 1500, master: undefined, linkType: 1 } },
      { kind: 'rule', op: 'removed', cause: 'resync', new: undefined, old: { family: 4, priority: 100, table: 1000, action: 1, src: '10.1.0.0/16', dst: undefined, tos: 0, fwmark: 16, fwmask: 255, iifname: 'v0', oifname: undefined, goto: undefined, flags: 0 } },
    ];
    const es = cs.map((c) => toContractEvent(c, names));
    expect(es.map((e) => e.kind)).toEqual(['address.added', 'link.changed', 'rule.removed']);
    for (const e of es) expect(() => validatePayload(e.kind, e.payload)).not.toThrow();
    expect(es[0]?.payload).toMatchObject({ address: { flags: ['tentative', 'permanent'], scope: 'link', ifName: 'v0' } });
  });

  it('when a resync report converts, then reason, gap time and recovered counts are set', () => {
    const p = resyncPayload(
      { kind: 'resync', reason: 'overflow', detectedAtMs: 1000, completedAtMs: 1250, changesRecovered: 2, overflows: 3 },
      [{ kind: 'route', op: 'added', cause: 'resync', old: undefined, new: route }, { kind: 'route', op: 'removed', cause: 'resync', old: route, new: undefined }],
      { routes: 5, addresses: 1, links: 2, rules: 3, routeAttrRecords: 1 },
    );
    expect(validatePayload('netlink.resync', p)).toEqual({
      reason: 'overflow', gapDetectedAtUs: 1_000_000, recovered: { added: 1, removed: 1, replaced: 0 },
      counts: { routes: 5, addresses: 1, links: 2, rules: 3 }, durationMs: 250,
    });
  });
});
