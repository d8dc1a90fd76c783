/**
 * rtnetlink source against the real kernel, in a network namespace of its own: after each
 * step done with real `ip` commands, the mirror equals what iproute2 lists
 * (compareWithIp), and the change events say what happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtnetlinkSource } from '../../agent/src/rtnetlink/source.js';
import { compareWithIp, type Comparison } from '../../agent/src/rtnetlink/compare.js';
import type { StateChange } from '../../agent/src/rtnetlink/state.js';
import { Netns, ensureHelperBuilt, requireNetnsPrivileges } from '../netns/netns.js';

let ns: Netns;
let source: RtnetlinkSource;
const changes: StateChange[] = [];

/** Waits until the mirror equals the kernel's listing (notifications are asynchronous). */
async function expectMirrorEqualsKernel(timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let c: Comparison;
  for (;;) {
    c = compareWithIp(source.mirror, ns.listings());
    if (c.equal || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect({ missing: c.missing, extra: c.extra }).toEqual({ missing: [], extra: [] });
}

function take(): StateChange[] {
  return changes.splice(0, changes.length);
}

beforeAll(async () => {
  requireNetnsPrivileges();
  const helperPath = ensureHelperBuilt();
  ns = Netns.create('it');
  ns.ip('link add v0 type veth peer name v1');
  ns.ip('link set v1 up');
  ns.ip('link set v0 up');
  ns.ip('addr add 10.9.0.1/24 dev v0');
  source = new RtnetlinkSource({ netns: ns.name, helperPath });
  source.on('change', (c) => changes.push(c));
  await source.start();
});

afterAll(async () => {
  await source?.stop();
  ns?.destroy();
});

describe('rtnetlink source in a network namespace', () => {
  it('when started, then the initial dump equals the kernel listing', async () => {
    await expectMirrorEqualsKernel();
    expect(source.counts().links).toBe(3);
    take();
  });

  it('when an address is added on lo, then an address and a local route appear', async () => {
    ns.ip('addr add 192.0.2.1/32 dev lo');
    await expectMirrorEqualsKernel();
    const c = take();
    expect(c.some((x) => x.kind === 'address' && x.op === 'added' && x.new?.local === '192.0.2.1')).toBe(true);
    expect(c.some((x) => x.kind === 'route' && x.op === 'added' && x.new?.table === 255 && x.new.dst === '192.0.2.1/32')).toBe(true);
  });

  it('when routes are added in main with and without src, via a gateway, then they are mirrored', async () => {
    ns.ip('route add 10.20.0.0/16 via 10.9.0.2 src 192.0.2.1');
    ns.ip('route add 10.21.0.0/16 dev v0');
    ns.ip('route add default via 10.9.0.254 metric 100');
    await expectMirrorEqualsKernel();
    const c = take();
    const r = c.find((x) => x.kind === 'route' && x.new?.dst === '10.20.0.0/16');
    expect(r?.op).toBe('added');
    expect(r?.new).toMatchObject({ gateway: '10.9.0.2', prefsrc: '192.0.2.1', table: 254 });
  });

  it('when routes go to other tables (incl. >= 256) and the local table, then table ids are right', async () => {
    ns.ip('route add 10.30.0.0/16 via 10.9.0.2 table 100');
    ns.ip('route add 10.31.0.0/16 via 10.9.0.2 table 1000 proto bgp metric 20');
    ns.ip('route add 10.32.0.0/16 via 10.9.0.2 table 70000');
    ns.ip('route add local 10.33.0.1 dev lo table local');
    ns.ip('route add blackhole 10.34.0.0/16 table 300');
    await expectMirrorEqualsKernel();
    const tables = take().filter((x) => x.kind === 'route').map((x) => (x.new as { table: number }).table);
    expect(tables).toEqual(expect.arrayContaining([100, 1000, 70000, 255, 300]));
  });

  it('when a multipath route is added and replaced, then nexthops and the replaced event match', async () => {
    ns.ip('route add 10.40.0.0/16 nexthop via 10.9.0.2 weight 2 nexthop via 10.9.0.3');
    await expectMirrorEqualsKernel();
    take();
    ns.ip('route replace 10.40.0.0/16 nexthop via 10.9.0.4 nexthop via 10.9.0.5 weight 3');
    await expectMirrorEqualsKernel();
    const c = take().filter((x) => x.kind === 'route' && (x.new ?? x.old)?.family === 4);
    expect(c).toHaveLength(1);
    expect(c[0]?.op).toBe('replaced');
    expect(c[0]?.new && 'nexthops' in c[0].new ? c[0].new.nexthops?.map((n) => n.gateway) : []).toEqual(['10.9.0.4', '10.9.0.5']);
  });

  it('when a route is replaced with another gateway and then deleted, then replaced then removed', async () => {
    ns.ip('route replace 10.20.0.0/16 via 10.9.0.3 src 192.0.2.1');
    await expectMirrorEqualsKernel();
    // (IPv6 link-local routes may appear meanwhile, when DAD completes on v0/v1.)
    const c1 = take().filter((x) => x.kind === 'route' && (x.new ?? x.old)?.family === 4);
    expect(c1.map((x) => x.op)).toEqual(['replaced']);
    expect(c1[0]?.old).toMatchObject({ gateway: '10.9.0.2' });
    expect(c1[0]?.new).toMatchObject({ gateway: '10.9.0.3' });
    ns.ip('route del 10.20.0.0/16');
    await expectMirrorEqualsKernel();
    expect(take().filter((x) => x.kind === 'route' && x.old?.family === 4).map((x) => x.op)).toEqual(['removed']);
  });

  it('when the same prefix is appended on two links (IPv4 duplicates), then both are mirrored', async () => {
    ns.ip('route append 10.50.0.0/16 dev v0');
    ns.ip('route append 10.50.0.0/16 dev v1');
    await expectMirrorEqualsKernel();
    ns.ip('route del 10.50.0.0/16 dev v1');
    await expectMirrorEqualsKernel();
    take();
  });

  it('when IPv6 addresses and routes change (incl. multipath, from), then they are mirrored', async () => {
    ns.ip('-6 addr add 2001:db8::1/64 dev v0 nodad');
    ns.ip('-6 route add 2001:db8:1::/48 via 2001:db8::2');
    ns.ip('-6 route add 2001:db8:2::/48 nexthop via 2001:db8::2 nexthop via 2001:db8::3');
    ns.ip('-6 route add 2001:db8:5::/48 from 2001:db8:7::/48 via 2001:db8::2');
    ns.ip('-6 route add 2001:db8:6::/48 via 2001:db8::2 table 5000');
    await expectMirrorEqualsKernel();
    ns.ip('-6 route append 2001:db8:1::/48 via 2001:db8::3');
    await expectMirrorEqualsKernel();
    ns.ip('-6 route del 2001:db8:1::/48 via 2001:db8::2');
    await expectMirrorEqualsKernel();
    ns.ip('-6 route replace 2001:db8:2::/48 via 2001:db8::4');
    await expectMirrorEqualsKernel();
    ns.ip('-6 route del 2001:db8:2::/48');
    await expectMirrorEqualsKernel();
    take();
  });

  it('when a link comes up, then its IPv6 link-local address appears as an address change', async () => {
    ns.ip('link add v2 type veth peer name v3');
    ns.ip('link set v3 up');
    await expectMirrorEqualsKernel();
    take();
    ns.ip('link set v2 up');
    await expectMirrorEqualsKernel(5000);
    const c = take();
    expect(c.some((x) => x.kind === 'address' && x.op === 'added' && x.new?.local.startsWith('fe80:'))).toBe(true);
    expect(c.some((x) => x.kind === 'link' && x.op === 'replaced')).toBe(true);
  });

  it('when a link goes down and up, then routes the kernel flushes silently are removed too', async () => {
    ns.ip('addr add 10.60.0.1/24 dev v2');
    ns.ip('route add 10.61.0.0/16 via 10.60.0.2');
    await expectMirrorEqualsKernel();
    take();
    ns.ip('link set v2 down');
    await expectMirrorEqualsKernel();
    const c = take();
    expect(c.some((x) => x.kind === 'route' && x.op === 'removed' && x.cause === 'implied' && x.old?.dst === '10.61.0.0/16')).toBe(true);
    ns.ip('link set v2 up');
    await expectMirrorEqualsKernel(5000);
    take();
  });

  it('when addresses are removed (v4 and v6), then they and their routes go away', async () => {
    ns.ip('addr del 10.60.0.1/24 dev v2');
    ns.ip('-6 addr del 2001:db8::1/64 dev v0');
    await expectMirrorEqualsKernel();
    const c = take();
    const removed = c.flatMap((x) => (x.kind === 'address' && x.op === 'removed' ? [x.old?.local] : []));
    expect(removed).toEqual(expect.arrayContaining(['10.60.0.1', '2001:db8::1']));
  });

  it('when rules are added and deleted, then they are mirrored', async () => {
    ns.ip('rule add fwmark 0x10/0xff lookup 1000 pref 100');
    ns.ip('rule add from 10.1.0.0/16 to 10.2.0.1 iif v0 lookup 300 pref 200');
    ns.ip('rule add not from 10.3.0.0/16 blackhole pref 210');
    ns.ip('-6 rule add from 2001:db8::/32 lookup 5000 pref 300');
    await expectMirrorEqualsKernel();
    expect(take().filter((x) => x.kind === 'rule' && x.op === 'added')).toHaveLength(4);
    ns.ip('rule del pref 200');
    await expectMirrorEqualsKernel();
    expect(take().map((x) => `${x.kind} ${x.op}`)).toEqual(['rule removed']);
    // The blackhole rule would make every later gateway unreachable.
    ns.ip('rule del pref 210');
    await expectMirrorEqualsKernel();
    take();
  });

  it('when a link is deleted, then the link, its addresses and its routes go away', async () => {
    ns.ip('addr add 10.70.0.1/24 dev v2');
    ns.ip('route add 10.71.0.0/16 via 10.70.0.2');
    await expectMirrorEqualsKernel();
    take();
    ns.ip('link del v2');
    await expectMirrorEqualsKernel();
    const c = take();
    expect(c.some((x) => x.kind === 'link' && x.op === 'removed')).toBe(true);
  });

  it('when nothing was lost, then no resync happened and nothing was invalid', () => {
    expect(source.stats.resyncs).toBe(0);
    expect(source.stats.invalid).toBe(0);
    expect(source.stats.overflows).toBe(0);
  });
});
