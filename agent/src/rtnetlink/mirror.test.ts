import { describe, expect, it } from 'vitest';
import { Mirror } from './mirror.js';
import { NLM_F, type AddressMessage, type LinkMessage, type RouteMessage } from './schema.js';

function route(p: Partial<RouteMessage>): RouteMessage {
  return {
    kind: 'route', op: 'new', nlFlags: 0, seq: 0, pid: 0, family: 2, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 4,
    scope: 0, type: 1, rtmFlags: 0, dst: '10.0.0.0', src: undefined, oif: 2, gateway: '10.9.0.2', priority: undefined,
    prefsrc: undefined, nexthops: undefined, mark: undefined, via: undefined, pref: undefined, nhId: undefined, ...p,
  };
}

function link(p: Partial<LinkMessage>): LinkMessage {
  return {
    kind: 'link', op: 'new', nlFlags: 0, seq: 0, pid: 0, family: 0, linkType: 1, index: 2, flags: 0x11043, change: 0,
    ifname: 'v0', mtu: 1500, master: undefined, operstate: 6, ...p,
  };
}

function addr(p: Partial<AddressMessage>): AddressMessage {
  return {
    kind: 'address', op: 'new', nlFlags: 0, seq: 0, pid: 0, family: 2, prefixLen: 24, flags: 0x80, scope: 0, index: 2,
    address: '10.9.0.1', local: '10.9.0.1', label: 'v0', broadcast: undefined, rtPriority: undefined, ...p,
  };
}

describe('Mirror', () => {
  it('when the same NEWROUTE arrives twice (dump then event), then the second changes nothing', () => {
    const m = new Mirror();
    expect(m.applyRoute(route({}))?.op).toBe('added');
    expect(m.applyRoute(route({}))).toBeUndefined();
    expect(m.counts().routes).toBe(1);
  });

  it('when NLM_F_REPLACE changes the gateway, then one replaced change carries old and new', () => {
    const m = new Mirror();
    m.applyRoute(route({}));
    const c = m.applyRoute(route({ gateway: '10.9.0.3', nlFlags: NLM_F.REPLACE }));
    expect(c).toMatchObject({ op: 'replaced', old: { gateway: '10.9.0.2' }, new: { gateway: '10.9.0.3', dst: '10.0.0.0/24' } });
    expect(m.counts()).toMatchObject({ routes: 1, routeAttrRecords: 1 });
  });

  it('when IPv4 appends the same prefix on another link, then both alternatives exist and delete removes the named one', () => {
    const m = new Mirror();
    m.applyRoute(route({ gateway: undefined, oif: 2 }));
    expect(m.applyRoute(route({ gateway: undefined, oif: 3, nlFlags: NLM_F.APPEND }))?.op).toBe('added');
    expect(m.counts().routes).toBe(2);
    expect(m.applyRoute(route({ op: 'del', gateway: undefined, oif: 3 }))).toMatchObject({ op: 'removed', old: { oif: 3 } });
    expect([...m.routeStates()].map((r) => r.oif)).toEqual([2]);
  });

  it('when a delete names no nexthop, then the first alternative goes (as fib_table_delete does)', () => {
    const m = new Mirror();
    m.applyRoute(route({}));
    expect(m.applyRoute(route({ op: 'del', gateway: undefined, oif: undefined }))?.op).toBe('removed');
    expect(m.counts().routes).toBe(0);
  });

  it('when many routes share attributes, then they share one interned record, released when all are gone', () => {
    const m = new Mirror();
    for (let i = 0; i < 100; i++) m.applyRoute(route({ dst: `10.1.${i}.0` }));
    expect(m.counts()).toMatchObject({ routes: 100, routeAttrRecords: 1 });
    for (let i = 0; i < 100; i++) m.applyRoute(route({ op: 'del', dst: `10.1.${i}.0` }));
    expect(m.counts()).toMatchObject({ routes: 0, routeAttrRecords: 0 });
  });

  it('when a link goes down, then IPv4 routes through it are removed as implied, host-scope ones stay', () => {
    const m = new Mirror();
    m.applyLink(link({}));
    m.applyRoute(route({ dst: '10.5.0.0' }));
    m.applyRoute(route({ dst: '10.9.0.1', dstLen: 32, table: 255, type: 2, scope: 254, gateway: undefined }));
    m.applyRoute(route({ family: 10, dst: '2001:db8::', dstLen: 64, gateway: undefined }));
    const cs = m.applyLink(link({ flags: 0x1002 }));
    expect(cs.map((c) => `${c.kind} ${c.op} ${c.cause}`)).toEqual(['link replaced event', 'route removed implied']);
    expect(m.counts().routes).toBe(2);
  });

  it('when the last IPv4 address of a link goes, then every IPv4 route through it is removed', () => {
    const m = new Mirror();
    m.applyAddress(addr({}));
    m.applyRoute(route({ dst: '10.9.0.1', dstLen: 32, table: 255, type: 2, scope: 254, gateway: undefined }));
    const cs = m.applyAddress(addr({ op: 'del' }));
    expect(cs.map((c) => `${c.kind} ${c.op}`)).toEqual(['address removed', 'route removed']);
  });

  it('when an IPv6 ECMP sibling is deleted, then the route keeps the other nexthop', () => {
    const m = new Mirror();
    m.applyRoute(route({
      family: 10, dst: '2001:db8:1::', dstLen: 48, gateway: undefined, oif: undefined, priority: 1024,
      nexthops: [{ oif: 3, weight: 1, flags: 0, gateway: '2001:db8::3', via: undefined }, { oif: 3, weight: 1, flags: 0, gateway: '2001:db8::2', via: undefined }],
    }));
    const c = m.applyRoute(route({ op: 'del', family: 10, dst: '2001:db8:1::', dstLen: 48, gateway: '2001:db8::2', oif: 3, priority: 1024 }));
    expect(c).toMatchObject({ op: 'replaced', new: { gateway: '2001:db8::3', oif: 3, nexthops: undefined } });
  });

  it('when adopting a fresh dump, then the differences come out as resync changes and the mirror equals the dump', () => {
    const m = new Mirror();
    m.applyRoute(route({ dst: '10.1.0.0' }));
    m.applyRoute(route({ dst: '10.2.0.0' }));
    const fresh = new Mirror();
    fresh.applyRoute(route({ dst: '10.2.0.0', gateway: '10.9.0.9' }));
    fresh.applyRoute(route({ dst: '10.3.0.0' }));
    const cs = m.adopt(fresh);
    expect(cs.map((c) => `${c.op} ${((c.new ?? c.old) as { dst: string }).dst} ${c.cause}`).sort()).toEqual([
      'added 10.3.0.0/24 resync', 'removed 10.1.0.0/24 resync', 'replaced 10.2.0.0/24 resync',
    ]);
    expect([...m.routeStates()].map((r) => r.dst).sort()).toEqual(['10.2.0.0/24', '10.3.0.0/24']);
  });

  it('when two mirrors hold the same routes, filled in different orders and with detours, then their digests are equal; a different route set differs', () => {
    const a = new Mirror();
    const b = new Mirror();
    const routes = Array.from({ length: 50 }, (_, i) => route({ dst: `10.${i}.0.0`, gateway: i % 2 ? '10.9.0.2' : '10.9.0.3' }));
    for (const r of routes) a.applyRoute(r);
    for (const r of [...routes].reverse()) b.applyRoute(r);
    b.applyRoute(route({ dst: '172.16.0.0' }));
    b.applyRoute(route({ dst: '172.16.0.0', op: 'del' }));
    b.applyRoute(route({ dst: '10.1.0.0', gateway: '10.9.0.7', nlFlags: NLM_F.REPLACE }));
    expect(b.digest()).not.toEqual(a.digest());
    b.applyRoute(route({ dst: '10.1.0.0', gateway: '10.9.0.2', nlFlags: NLM_F.REPLACE }));
    expect(b.digest()).toEqual(a.digest());
    expect(a.digest().routes).toBe(50);
    expect(a.digest().hash).toMatch(/^[0-9a-f]{8}$/);
    const fresh = new Mirror({ changes: false });
    for (const r of routes) fresh.applyRoute(r);
    a.adopt(fresh);
    expect(a.digest()).toEqual(b.digest());
    expect(new Mirror().digest()).toEqual({ routes: 0, hash: '00000000' });
  });
});
