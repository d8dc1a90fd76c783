/**
 * Compares the mirror with the kernel's own listings as printed by iproute2 in JSON with
 * numeric names (`ip -N -j route show table all`, `ip -N -j -6 route show table all`,
 * `ip -N -j addr`, `ip -N -j link`, `ip -N -j rule`, `ip -N -j -6 rule`).
 *
 * Both sides are reduced to one canonical line per object; the result lists the lines only
 * one side has. Compared fields (everything else is ignored, see docs/rtnetlink.md):
 * - route: family, table, type, dst, src (`from`), tos, metric, protocol, scope, gateway,
 *   via, dev (as ifindex), prefsrc, nhid, and per nexthop: gateway, via, dev, weight (IPv6
 *   nexthops as a set: their order differs between notifications and dumps).
 *   Not compared: flags (linkdown/dead/onlink change without notification), pref, expires,
 *   metrics (mtu, …), cache info.
 * - address: ifindex, family, local, prefixlen, peer, scope, label, and the flags
 *   secondary, tentative, dadfailed, deprecated, nodad, noprefixroute.
 * - link: ifindex, ifname, flags (as ip prints them, without M-DOWN), operstate, mtu.
 * - rule: family, priority, table, action, src, dst, iif, oif, fwmark, fwmask, goto, tos, not.
 */
import type { Mirror } from './mirror.js';
import { IFA_F, IFF, OPERSTATE } from './schema.js';

export interface IpListings {
  route4: unknown[];
  route6: unknown[];
  addr: unknown[];
  link: unknown[];
  rule4: unknown[];
  rule6: unknown[];
}

export interface Comparison {
  equal: boolean;
  /** Canonical lines the kernel has and the mirror does not. */
  missing: string[];
  /** Canonical lines the mirror has and the kernel does not. */
  extra: string[];
}

type J = Record<string, unknown>;
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

function fullPrefix(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

function viaStr(v: unknown): string {
  if (v && typeof v === 'object') return str((v as J).host);
  return str(v);
}

function routeLine(p: {
  family: 4 | 6; table: number; type: number; dst: string; src: string; tos: number; metric: number; protocol: number;
  scope: number; gateway: string; via: string; oif: string; prefsrc: string; nhid: string; nexthops: string;
}): string {
  return `route ${p.family} table=${p.table} type=${p.type} dst=${p.dst} from=${p.src} tos=${p.tos} metric=${p.metric} ` +
    `proto=${p.protocol} scope=${p.scope} gw=${p.gateway} via=${p.via} oif=${p.oif} prefsrc=${p.prefsrc} nhid=${p.nhid} nh=[${p.nexthops}]`;
}

/** IPv6 nexthop order differs between notifications and dumps; it is not compared. */
function canonicalNexthops(nhs: string[], family: 4 | 6): string {
  return (family === 6 ? [...nhs].sort() : nhs).join(';');
}

function kernelRoutes(list: unknown[], family: 4 | 6, ifindex: Map<string, number>): string[] {
  const dev = (d: unknown): string => (d === undefined ? '' : String(ifindex.get(String(d)) ?? `?${String(d)}`));
  return list.map((x) => {
    const r = x as J;
    const nhs = Array.isArray(r.nexthops)
      ? canonicalNexthops((r.nexthops as J[]).map((n) => `${str(n.gateway)},${viaStr(n.via)},${dev(n.dev)},${str(n.weight ?? 1)}`), family)
      : '';
    return routeLine({
      family, table: Number(r.table ?? 254), type: Number(r.type ?? 1), dst: fullPrefix(str(r.dst), family),
      src: r.from === undefined ? '' : fullPrefix(str(r.from), family), tos: Number(r.tos ?? 0),
      metric: Number(r.metric ?? 0), protocol: Number(r.protocol ?? 3), scope: Number(r.scope ?? 0),
      gateway: str(r.gateway), via: viaStr(r.via), oif: dev(r.dev), prefsrc: str(r.prefsrc), nhid: str(r.nhid), nexthops: nhs,
    });
  });
}

function mirrorRoutes(m: Mirror): string[] {
  const out: string[] = [];
  for (const r of m.routeStates()) {
    out.push(routeLine({
      family: r.family, table: r.table, type: r.type, dst: r.dst, src: r.src ?? '', tos: r.tos, metric: r.priority,
      protocol: r.protocol, scope: r.scope, gateway: str(r.gateway), via: str(r.via), oif: str(r.oif),
      prefsrc: str(r.prefsrc), nhid: str(r.nhId),
      nexthops: canonicalNexthops((r.nexthops ?? []).map((n) => `${str(n.gateway)},${str(n.via)},${str(n.oif)},${n.weight}`), r.family),
    }));
  }
  return out;
}

const ADDR_FLAGS: [string, number][] = [
  ['secondary', IFA_F.SECONDARY], ['tentative', IFA_F.TENTATIVE], ['dadfailed', IFA_F.DADFAILED],
  ['deprecated', IFA_F.DEPRECATED], ['nodad', IFA_F.NODAD], ['noprefixroute', IFA_F.NOPREFIXROUTE],
];

function addrLine(index: number, family: string, local: string, plen: number, peer: string, scope: number, label: string, flags: string): string {
  return `addr ${index} ${family} ${local}/${plen} peer=${peer} scope=${scope} label=${label} flags=${flags}`;
}

function kernelAddrs(links: unknown[]): string[] {
  const out: string[] = [];
  for (const x of links) {
    const l = x as J;
    for (const y of (l.addr_info as J[] | undefined) ?? []) {
      const family = y.family === 'inet6' ? '6' : '4';
      const flags = ADDR_FLAGS.filter(([n]) => y[n] === true || (n === 'secondary' && y.temporary === true)).map(([n]) => n).join(',');
      out.push(addrLine(Number(l.ifindex), family, str(y.local), Number(y.prefixlen), str(y.address), Number(y.scope ?? 0),
        family === '4' ? str(y.label) : '', flags));
    }
  }
  return out;
}

function mirrorAddrs(m: Mirror): string[] {
  const out: string[] = [];
  for (const a of m.addressStates()) {
    const flags = ADDR_FLAGS.filter(([, bit]) => (a.flags & bit) !== 0).map(([n]) => n).join(',');
    out.push(addrLine(a.index, String(a.family), a.local, a.prefixLen, str(a.peer), a.scope, a.family === 4 ? str(a.label) : '', flags));
  }
  return out;
}

/** IFF_* names in the order iproute2 (print_link_flags) prints them; RUNNING is never printed. */
const LINK_FLAG_NAMES: [string, number][] = [
  ['LOOPBACK', IFF.LOOPBACK], ['BROADCAST', IFF.BROADCAST], ['POINTOPOINT', IFF.POINTOPOINT], ['MULTICAST', IFF.MULTICAST],
  ['NOARP', IFF.NOARP], ['ALLMULTI', IFF.ALLMULTI], ['PROMISC', IFF.PROMISC], ['NOTRAILERS', IFF.NOTRAILERS],
  ['DEBUG', IFF.DEBUG], ['DYNAMIC', IFF.DYNAMIC], ['AUTOMEDIA', IFF.AUTOMEDIA], ['PORTSEL', IFF.PORTSEL],
  ['MASTER', IFF.MASTER], ['SLAVE', IFF.SLAVE], ['UP', IFF.UP], ['LOWER_UP', IFF.LOWER_UP], ['DORMANT', IFF.DORMANT],
  ['ECHO', IFF.ECHO],
];

/** Link flags as `ip link` prints them (NO-CARRIER when UP without RUNNING). */
export function linkFlagNames(flags: number): string[] {
  const out: string[] = [];
  if ((flags & IFF.UP) !== 0 && (flags & IFF.RUNNING) === 0) out.push('NO-CARRIER');
  for (const [n, bit] of LINK_FLAG_NAMES) if ((flags & bit) !== 0) out.push(n);
  return out;
}

function linkLine(index: number, name: string, flags: string[], operstate: string, mtu: string): string {
  return `link ${index} ${name} flags=${[...flags].sort().join(',')} oper=${operstate} mtu=${mtu}`;
}

function kernelLinks(links: unknown[]): string[] {
  return links.map((x) => {
    const l = x as J;
    // M-DOWN is iproute2's note that the IFLA_LINK peer is down: another link's state.
    const flags = ((l.flags as string[] | undefined) ?? []).filter((f) => f !== 'M-DOWN');
    return linkLine(Number(l.ifindex), str(l.ifname), flags, str(l.operstate), str(l.mtu));
  });
}

function mirrorLinks(m: Mirror): string[] {
  return [...m.linkStates()].map((l) => linkLine(l.index, l.ifname, linkFlagNames(l.flags), OPERSTATE[l.operstate] ?? String(l.operstate), str(l.mtu)));
}

function ruleLine(p: { family: 4 | 6; priority: number; table: string; action: string; src: string; dst: string; iif: string; oif: string; fwmark: string; fwmask: string; goto: string; tos: number; not: boolean }): string {
  return `rule ${p.family} pref=${p.priority} table=${p.table} action=${p.action} from=${p.src} to=${p.dst} iif=${p.iif} oif=${p.oif} ` +
    `fwmark=${p.fwmark}/${p.fwmask} goto=${p.goto} tos=${p.tos} not=${p.not}`;
}

function kernelRules(list: unknown[], family: 4 | 6): string[] {
  const hex = (v: unknown): string => (v === undefined ? '' : String(Number(v)));
  return list.map((x) => {
    const r = x as J;
    const prefix = (a: unknown, len: unknown): string =>
      a === undefined || a === 'all' ? '' : `${str(a)}/${len === undefined ? (family === 4 ? 32 : 128) : Number(len)}`;
    const action = r.goto !== undefined ? '2' : r.action !== undefined ? str(r.action) : r.table !== undefined ? '1' : '3';
    return ruleLine({
      family, priority: Number(r.priority ?? 0), table: action === '1' ? str(r.table) : '', action,
      src: prefix(r.src, r.srclen), dst: prefix(r.dst, r.dstlen), iif: str(r.iif), oif: str(r.oif),
      fwmark: hex(r.fwmark), fwmask: r.fwmark === undefined ? '' : hex(r.fwmask ?? 0xffffffff), goto: str(r.goto),
      tos: Number(r.tos ?? 0), not: 'not' in r,
    });
  });
}

function mirrorRules(m: Mirror): string[] {
  return [...m.ruleStates()].map((r) => ruleLine({
    family: r.family, priority: r.priority, table: r.action === 1 ? String(r.table) : '', action: String(r.action),
    src: str(r.src), dst: str(r.dst), iif: str(r.iifname), oif: str(r.oifname), fwmark: str(r.fwmark),
    fwmask: r.fwmark === undefined ? '' : str(r.fwmask ?? 0xffffffff), goto: str(r.goto), tos: r.tos, not: (r.flags & 2) !== 0,
  }));
}

function diff(kernel: string[], mirror: string[]): { missing: string[]; extra: string[] } {
  const count = new Map<string, number>();
  for (const k of kernel) count.set(k, (count.get(k) ?? 0) + 1);
  const extra: string[] = [];
  for (const m of mirror) {
    const c = count.get(m);
    if (c === undefined || c === 0) extra.push(m);
    else count.set(m, c - 1);
  }
  const missing: string[] = [];
  for (const [k, c] of count) for (let i = 0; i < c; i++) missing.push(k);
  return { missing, extra };
}

/** Compares the mirror with the kernel listings; see the file comment for the fields. */
export function compareWithIp(m: Mirror, ip: IpListings): Comparison {
  const ifindex = new Map<string, number>();
  for (const x of ip.link) ifindex.set(str((x as J).ifname), Number((x as J).ifindex));
  const kernel = [
    ...kernelRoutes(ip.route4, 4, ifindex), ...kernelRoutes(ip.route6, 6, ifindex), ...kernelAddrs(ip.addr),
    ...kernelLinks(ip.link), ...kernelRules(ip.rule4, 4), ...kernelRules(ip.rule6, 6),
  ];
  const mine = [...mirrorRoutes(m), ...mirrorAddrs(m), ...mirrorLinks(m), ...mirrorRules(m)];
  const d = diff(kernel, mine);
  return { equal: d.missing.length === 0 && d.extra.length === 0, ...d };
}
