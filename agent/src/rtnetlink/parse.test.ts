import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatAddress, parseAll } from './parse.js';
import type { RouteMessage } from './schema.js';


function le(size: 1 | 2 | 4, v: number): number[] {
  const o: number[] = [];
  for (let i = 0; i < size; i++) o.push((v >>> (8 * i)) & 0xff);
  return o;
}
const attr = (type: number, payload: number[]): number[] => {
  const len = 4 + payload.length;
  const pad = (4 - (len % 4)) % 4;
  return [...le(2, len), ...le(2, type), ...payload, ...new Array<number>(pad).fill(0)];
};
const nlmsg = (type: number, flags: number, body: number[]): Uint8Array =>
  Uint8Array.from([...le(4, 16 + body.length), ...le(2, type), ...le(2, flags), ...le(4, 7), ...le(4, 0), ...body]);

/**
 * RTM_NEWROUTE for `10.20.0.0/16 via 10.9.0.2 dev 3 src 192.0.2.1 table 1000 proto bgp metric 20`,
 * laid out as the kernel sends it (struct rtmsg, then RTA_* attributes).
 */
const ROUTE_GOLDEN = nlmsg(24 /* RTM_NEWROUTE */, 0x600 /* NLM_F_CREATE|NLM_F_EXCL */, [
  2, // rtm_family AF_INET
  16, // rtm_dst_len
  0, // rtm_src_len
  0, // rtm_tos
  252, // rtm_table RT_TABLE_COMPAT: the real id is in RTA_TABLE
  186, // rtm_protocol RTPROT_BGP
  0, // rtm_scope RT_SCOPE_UNIVERSE
  1, // rtm_type RTN_UNICAST
  ...le(4, 0), // rtm_flags
  ...attr(15, le(4, 1000)), // RTA_TABLE 1000
  ...attr(1, [10, 20, 0, 0]), // RTA_DST
  ...attr(6, le(4, 20)), // RTA_PRIORITY
  ...attr(7, [192, 0, 2, 1]), // RTA_PREFSRC
  ...attr(5, [10, 9, 0, 2]), // RTA_GATEWAY
  ...attr(4, le(4, 3)), // RTA_OIF
]);

/** RTM_NEWROUTE with RTA_MULTIPATH: two struct rtnexthop with RTA_GATEWAY inside. */
const MULTIPATH_GOLDEN = nlmsg(24, 0, [
  2, 16, 0, 0, 254, 3, 0, 1, ...le(4, 0),
  ...attr(15, le(4, 254)),
  ...attr(1, [10, 22, 0, 0]),
  ...attr(9, [
    ...le(2, 16), 0 /* rtnh_flags */, 1 /* rtnh_hops: weight 2 */, ...le(4, 3), ...attr(5, [10, 9, 0, 2]),
    ...le(2, 16), 0, 0, ...le(4, 4), ...attr(5, [10, 9, 0, 3]),
  ]),
]);

describe('parseAll', () => {
  it('when given a route with RTA_TABLE >= 256, then the table comes from RTA_TABLE, not rtm_table 252', () => {
    const [m] = parseAll(ROUTE_GOLDEN);
    expect(m).toMatchObject({
      kind: 'route', op: 'new', family: 2, dstLen: 16, table: 1000, protocol: 186, type: 1, dst: '10.20.0.0',
      gateway: '10.9.0.2', oif: 3, prefsrc: '192.0.2.1', priority: 20, nlFlags: 0x600, seq: 7,
    });
  });

  it('when given RTA_MULTIPATH, then every nexthop has its gateway, ifindex and weight', () => {
    const [m] = parseAll(MULTIPATH_GOLDEN) as RouteMessage[];
    expect(m?.nexthops).toEqual([
      { oif: 3, weight: 2, flags: 0, gateway: '10.9.0.2', via: undefined },
      { oif: 4, weight: 1, flags: 0, gateway: '10.9.0.3', via: undefined },
    ]);
  });

  it('when given RTA_VIA (IPv6 next hop of an IPv4 route), then via is the IPv6 address', () => {
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const msg = nlmsg(24, 0, [2, 16, 0, 0, 254, 3, 0, 1, ...le(4, 0), ...attr(1, [10, 40, 0, 0]), ...attr(18, [...le(2, 10), ...v6])]);
    expect(parseAll(msg)[0]).toMatchObject({ via: '2001:db8::2' });
  });

  it('when given an address, link and rule message, then each has its kind and fields', () => {
    const addr = nlmsg(20, 0, [2, 32, 0x80, 0, ...le(4, 1), ...attr(1, [192, 0, 2, 1]), ...attr(2, [192, 0, 2, 1]),
      ...attr(3, [...Buffer.from('lo'), 0]), ...attr(8, le(4, 0x80))]);
    const link = nlmsg(16, 0, [0, 0, ...le(2, 1), ...le(4, 3), ...le(4, 0x11043), ...le(4, 0),
      ...attr(3, [...Buffer.from('v0'), 0]), ...attr(4, le(4, 1500)), ...attr(16, [6])]);
    const rule = nlmsg(32, 0, [2, 0, 16, 0, 252, 0, 0, 1, ...le(4, 0), ...attr(2, [10, 1, 0, 0]), ...attr(6, le(4, 200)),
      ...attr(10, le(4, 16)), ...attr(16, le(4, 255)), ...attr(15, le(4, 300))]);
    const all = parseAll(Uint8Array.from([...addr, ...link, ...rule]));
    expect(all.map((m) => m.kind)).toEqual(['address', 'link', 'rule']);
    expect(all[0]).toMatchObject({ local: '192.0.2.1', prefixLen: 32, index: 1, label: 'lo', flags: 0x80 });
    expect(all[1]).toMatchObject({ ifname: 'v0', mtu: 1500, operstate: 6, index: 3, flags: 0x11043 });
    expect(all[2]).toMatchObject({ src: '10.1.0.0', srcLen: 16, priority: 200, fwmark: 16, fwmask: 255, table: 300, action: 1 });
  });

  it('when an attribute overruns its message, then the message is invalid with its bytes and the next one still parses', () => {
    const bad = nlmsg(24, 0, [2, 16, 0, 0, 254, 3, 0, 1, ...le(4, 0), ...le(2, 40), ...le(2, 1), 10, 0, 0, 0]);
    const all = parseAll(Uint8Array.from([...bad, ...ROUTE_GOLDEN]));
    expect(all[0]).toMatchObject({ kind: 'invalid' });
    expect(all[0]?.kind === 'invalid' && all[0].bytes.length).toBe(bad.length);
    expect(all[1]).toMatchObject({ kind: 'route', table: 1000 });
  });

  it('when nlmsg_len is impossible, then the rest of the datagram is one invalid result', () => {
    const buf = Uint8Array.from(ROUTE_GOLDEN);
    buf[0] = 0xff;
    buf[1] = 0xff;
    expect(parseAll(buf)).toEqual([expect.objectContaining({ kind: 'invalid' })]);
  });

  it('when fed random bytes, then it never throws and every result has a kind', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
      for (const m of parseAll(b)) expect(typeof m.kind).toBe('string');
    }), { numRuns: 2000 });
  });

  it('when a valid message is mutated at random, then it never throws', () => {
    fc.assert(fc.property(fc.nat(ROUTE_GOLDEN.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const b = Uint8Array.from(MULTIPATH_GOLDEN.length > i ? MULTIPATH_GOLDEN : ROUTE_GOLDEN);
      b[i] = v;
      parseAll(b);
      const c = Uint8Array.from(ROUTE_GOLDEN);
      c[i] = v;
      parseAll(c);
    }), { numRuns: 5000 });
  });
});

describe('formatAddress', () => {
  it('when formatting IPv6, then the output follows RFC 5952 like iproute2', () => {
    const cases: [number[], string][] = [
      [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
      [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '::'],
      [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '::1'],
      [[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x14, 0xeb, 0xe7, 0xff, 0xfe, 0xd1, 0xfc, 0xa2], 'fe80::14eb:e7ff:fed1:fca2'],
      [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8:0:1::1'],
      [[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '2001:db8:1:0:1::1'],
      [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1], '::ffff:192.0.2.1'],
      [[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'ff00::'],
    ];
    for (const [b, s] of cases) expect(formatAddress(Uint8Array.from(b), 0, 16)).toBe(s);
  });
});
