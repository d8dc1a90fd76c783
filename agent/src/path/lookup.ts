/**
 * charon's source address lookup, re-implemented over the mirrored routing state
 * (strongSwan 5.9.x, src/libcharon/plugins/kernel_netlink/kernel_netlink_net.c:
 * get_route(), get_matching_address(), is_address_better(), route_usable()).
 *
 * get_source_addr(dest, candidate) in "dump" mode (install_routes = yes, the default):
 *  1. every route of dest's family, from every table (the local table too), except
 *     blackhole/unreachable/prohibit/throw routes, routes in ignore_routing_tables or in
 *     charon's own routing_table, routes whose RTA_OIF is not an interface that is up
 *     (IFF_UP, not carrier) and usable (interfaces_use/ignore), routes whose destination
 *     does not contain dest, routes whose RTA_PREFSRC is a virtual IP of charon's;
 *  2. sorted by prefix length (longest first), then priority (lowest first), stable;
 *  3. for each route in that order, a source is derived from — in this order, the first
 *     that yields an address decides for this route:
 *       RTA_PREFSRC (if it is not the candidate, the candidate still wins when it is on
 *       the route's OIF), the addresses inside RTA_SRC (any usable interface), the
 *       addresses on RTA_OIF, or a recursive lookup of the gateway (max depth 2);
 *     the first route whose source equals the candidate wins ("valid"); otherwise the
 *     first route that yielded any source is the fallback (charon would move there).
 *
 * In "kernel" mode (install_routes = no, or an inverted fwmark) charon sends one
 * RTM_GETROUTE with RTA_DST = dest and RTA_SRC = candidate (and RTA_MARK) and runs the
 * kernel's single answer through the same per-route steps; that answer must be supplied
 * by the caller (see kernel-route.ts), since this module does no I/O.
 *
 * What charon's netlink parser does not see, we ignore too: RTA_MULTIPATH next hops
 * (a multipath route contributes only its RTA_PREFSRC/RTA_SRC), and link carrier state
 * (a `linkdown` route on an IFF_UP interface counts).
 */
import type { Address, Link, Route } from '@roamwatch/core';
import { addrInSubnet, formatIp, ipEquals, parseIp, parsePrefix, type IpAddr } from './ip.js';
import { isInterfaceUsable, type CharonSettings } from './settings.js';

/** The routing state the analyzer reads (the rtnetlink mirror's contents, as core types). */
export interface NetState {
  routes: readonly Route[];
  addresses: readonly Address[];
  links: readonly Link[];
}

/** The kernel's answer to `RTM_GETROUTE dst <dest> src <candidate> [mark]`. */
export type KernelRouteAnswer = { route: Route } | { error: string };

export interface KernelLookupKey {
  dest: string;
  candidate: string | undefined;
  mark: number | undefined;
}

export function kernelLookupKey(k: KernelLookupKey): string {
  return `${k.dest}|${k.candidate ?? ''}|${k.mark ?? ''}`;
}

export interface LookupOptions {
  settings: CharonSettings;
  /** 'dump' (charon searches all routes) or 'kernel' (it asks the kernel). */
  mode: 'dump' | 'kernel';
  mark?: number | undefined;
  /** Answers of the kernel, by kernelLookupKey(); missing ones are reported in `missing`. */
  kernelAnswers?: ReadonlyMap<string, KernelRouteAnswer>;
  /** Charon's virtual IPs (routes with them as prefsrc are skipped). */
  virtualIps?: readonly string[];
  /** charon.prefer_temporary_addrs (default no). */
  preferTemporaryAddrs?: boolean;
  /** strongSwan < 5.5.1 did not look at RTA_SRC. */
  considerRtaSrc?: boolean;
}

export interface LookupStep {
  depth: number;
  text: string;
}

export interface LookupResult {
  /** The source address charon would get; undefined = "no route found". */
  src: string | undefined;
  /** The route that produced `src` (the one that keeps the candidate, or the fallback). */
  route: Route | undefined;
  /** How `src` was derived from `route`. */
  via: 'prefsrc' | 'prefsrc-oif' | 'rta-src' | 'oif' | 'gateway' | undefined;
  /** For gateway recursion: the route found for the gateway. */
  gatewayRoute?: Route | undefined;
  /** The matching routes in charon's order (after filtering). */
  candidates: Route[];
  steps: LookupStep[];
  /** Kernel lookups that were needed but not supplied (kernel mode only). */
  missing: KernelLookupKey[];
}

const MAX_ROUTE_RECURSION = 2;
const UNUSABLE_TYPES = new Set(['blackhole', 'unreachable', 'prohibit', 'throw', '6', '7', '8', '9']);

interface Iface {
  link: Link;
  usable: boolean;
  up: boolean;
  addrs: Address[];
}

interface Ctx {
  opts: LookupOptions;
  ifaces: Iface[];
  byIndex: Map<number, Iface>;
  byName: Map<string, Iface>;
  vips: IpAddr[];
  steps: LookupStep[];
  missing: KernelLookupKey[];
}

function buildCtx(state: NetState, opts: LookupOptions): Ctx {
  const ifaces: Iface[] = [...state.links]
    .sort((a, b) => a.ifIndex - b.ifIndex)
    .map((link) => ({
      link,
      usable: isInterfaceUsable(opts.settings, link.ifName),
      up: link.flags.includes('UP'),
      addrs: state.addresses.filter((a) => a.ifIndex === link.ifIndex),
    }));
  return {
    opts,
    ifaces,
    byIndex: new Map(ifaces.map((i) => [i.link.ifIndex, i])),
    byName: new Map(ifaces.map((i) => [i.link.ifName, i])),
    vips: (opts.virtualIps ?? []).map((v) => parseIp(v)).filter((v): v is IpAddr => v !== undefined),
    steps: [],
    missing: [],
  };
}

/** `ip route` text of a route, for messages and fixes. */
export function formatRoute(r: Route): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  const dst = parsePrefix(r.dst);
  parts.push(dst && dst.len === 0 ? 'default' : dst && dst.len === (dst.addr.family === 4 ? 32 : 128) ? formatIp(dst.addr) : r.dst);
  if (r.src) parts.push('from', r.src);
  if (r.gateway) parts.push('via', r.gateway);
  if (r.oif) parts.push('dev', r.oif);
  if (r.multipath?.length) parts.push(...r.multipath.flatMap((n) => ['nexthop', ...(n.gateway ? ['via', n.gateway] : []), ...(n.oif ? ['dev', n.oif] : [])]));
  if (r.table !== 254) parts.push('table', tableName(r.table));
  if (r.protocol && r.protocol !== 'boot') parts.push('proto', r.protocol);
  if (r.scope && r.scope !== 'universe') parts.push('scope', r.scope);
  if (r.priority !== undefined && r.priority !== 0) parts.push('metric', String(r.priority));
  if (r.prefsrc) parts.push('src', r.prefsrc);
  return parts.join(' ');
}

export function tableName(t: number): string {
  return t === 254 ? 'main' : t === 255 ? 'local' : t === 253 ? 'default' : String(t);
}

function routeOif(ctx: Ctx, r: Route): Iface | undefined | null {
  // null: the route carries no RTA_OIF as charon parses it
  if (r.multipath && r.multipath.length > 1) return null;
  if (r.oifIndex !== undefined) return ctx.byIndex.get(r.oifIndex);
  if (r.oif !== undefined) return ctx.byName.get(r.oif);
  return null;
}

function routeGateway(r: Route): string | undefined {
  if (r.multipath && r.multipath.length > 1) return undefined;
  return r.gateway;
}

function isVip(ctx: Ctx, a: IpAddr): boolean {
  return ctx.vips.some((v) => ipEquals(v, a));
}

// ------------------------------------------------------------ address selection

/** RFC 6724 scope as charon's get_scope() computes it. */
function scopeOf(a: IpAddr): number {
  const b = a.bytes;
  if (a.family === 4) {
    if (b[0] === 127) return 2;
    if (b[0] === 169 && b[1] === 254) return 2;
    return 14;
  }
  const allZeroTo15 = b.slice(0, 15).every((x) => x === 0);
  if (allZeroTo15 && b[15] === 1) return 2;
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 2;
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0xc0) return 5;
  return 14;
}

const LABELS: [string, number, number][] = [
  ['::1', 128, 0],
  ['::ffff:0:0', 96, 4],
  ['::', 96, 3],
  ['2001::', 32, 5],
  ['2002::', 16, 2],
  ['3ffe::', 16, 12],
  ['fec0::', 10, 11],
  ['fc00::', 7, 13],
];

function labelOf(a: IpAddr): number {
  for (const [net, len, label] of LABELS) {
    const n = parseIp(net) as IpAddr;
    if (addrInSubnet(a, a.bytes.length * 8, n, len)) return label;
  }
  return 1;
}

function commonPrefix(a: IpAddr, b: IpAddr): number {
  for (let byte = 0; byte < 8; byte++) {
    const x = a.bytes[byte] ?? 0;
    const y = b.bytes[byte] ?? 0;
    if (x !== y) {
      let match = x ^ y;
      let bits = 8;
      for (; match; match >>= 1) bits--;
      return byte * 8 + bits;
    }
  }
  return 64;
}

function flag(a: Address, f: string): boolean {
  return a.flags.includes(f);
}

/** is_address_better(): true when b is the better choice than a to reach d. */
function isAddressBetter(ctx: Ctx, a: Address, b: Address, d: IpAddr | undefined): boolean {
  const ai = parseIp(a.address) as IpAddr;
  const bi = parseIp(b.address) as IpAddr;
  if (d) {
    const sa = scopeOf(ai);
    const sb = scopeOf(bi);
    const sd = scopeOf(d);
    if (sa < sb) return sa < sd;
    if (sb < sa) return sb >= sd;
  }
  if (ai.family === 4) return false;
  if (flag(a, 'deprecated') !== flag(b, 'deprecated')) return flag(a, 'deprecated');
  if (d) {
    const la = labelOf(ai);
    const lb = labelOf(bi);
    const ld = labelOf(d);
    if (la === ld && lb !== ld) return false;
    if (lb === ld && la !== ld) return true;
  }
  // IFA_F_TEMPORARY is the same bit as IFA_F_SECONDARY: names differ by who decoded it
  const ta = flag(a, 'temporary') || flag(a, 'secondary');
  const tb = flag(b, 'temporary') || flag(b, 'secondary');
  if (ta !== tb) return ctx.opts.preferTemporaryAddrs ? tb : ta;
  if (d) {
    const pa = commonPrefix(ai, d);
    const pb = commonPrefix(bi, d);
    if (pa !== pb) return pb > pa;
  }
  return false;
}

/** get_matching_address(): an address on one interface (ifindex) or inside a subnet. */
function getMatchingAddress(
  ctx: Ctx,
  ifindex: number | undefined,
  family: 4 | 6,
  net: { addr: IpAddr; len: number } | undefined,
  dest: IpAddr | undefined,
  candidate: IpAddr | undefined,
): string | undefined {
  let best: Address | undefined;
  let candidateMatched = false;
  for (const iface of ctx.ifaces) {
    if (!iface.usable || (ifindex !== undefined && iface.link.ifIndex !== ifindex)) continue;
    for (const addr of iface.addrs) {
      const ip = parseIp(addr.address);
      if (!ip || ip.family !== family || isVip(ctx, ip)) continue;
      if (net && !addrInSubnet(ip, ip.bytes.length * 8, net.addr, net.len)) continue;
      if (candidate && ipEquals(candidate, ip) && !flag(addr, 'deprecated')) {
        best = addr;
        candidateMatched = true;
        break;
      }
      if (!best || isAddressBetter(ctx, best, addr, dest)) best = addr;
    }
    if (ifindex !== undefined || candidateMatched) break;
  }
  return best ? formatIp(parseIp(best.address) as IpAddr) : undefined;
}

// ------------------------------------------------------------ the lookup

interface Entry {
  route: Route;
  dstLen: number;
  priority: number;
  srcHost: string | undefined;
}

function routeUsable(r: Route): boolean {
  return !UNUSABLE_TYPES.has(r.type);
}

function filterRoute(ctx: Ctx, r: Route, dest: IpAddr, prefix: number, depth: number): Entry | undefined {
  const s = ctx.opts.settings;
  const say = (t: string): undefined => {
    ctx.steps.push({ depth, text: `skip ${formatRoute(r)}: ${t}` });
    return undefined;
  };
  if (!routeUsable(r)) return say(`type ${r.type}`);
  if (s.ignoreRoutingTables.includes(r.table)) return say(`table ${r.table} is in ignore_routing_tables`);
  if (s.routingTable !== 0 && r.table === s.routingTable) return say(`table ${r.table} is charon's own routing_table`);
  const oif = routeOif(ctx, r);
  if (oif !== null) {
    if (!oif) return say(`interface ${r.oif ?? r.oifIndex} is unknown`);
    if (!oif.up) return say(`interface ${oif.link.ifName} is down`);
    if (!oif.usable) return say(`interface ${oif.link.ifName} is excluded by interfaces_use/interfaces_ignore`);
  }
  const dst = r.dst === 'default' ? { addr: dest, len: 0 } : parsePrefix(r.dst);
  if (!dst) return say('unparsable destination');
  if (!addrInSubnet(dest, prefix, dst.addr, dst.len)) return undefined; // silently: not for dest
  let srcHost: string | undefined;
  if (r.prefsrc) {
    const p = parseIp(r.prefsrc);
    if (p && isVip(ctx, p)) return say(`src ${r.prefsrc} is a virtual IP of charon's`);
    srcHost = p ? formatIp(p) : undefined;
  }
  return { route: r, dstLen: dst.len, priority: r.priority ?? 0, srcHost };
}

function sortEntries(list: Entry[]): Entry[] {
  const out: Entry[] = [];
  for (const e of list) {
    let i = 0;
    for (; i < out.length; i++) {
      const o = out[i] as Entry;
      if (e.dstLen > o.dstLen) break;
      if (e.dstLen === o.dstLen && e.priority < o.priority) break;
    }
    out.splice(i, 0, e);
  }
  return out;
}

interface Found {
  src: string | undefined;
  route: Route | undefined;
  via: LookupResult['via'];
  gatewayRoute: Route | undefined;
  candidates: Route[];
}

function getRoute(ctx: Ctx, state: NetState, destText: string, candidateText: string | undefined, recursion: number): Found {
  const none: Found = { src: undefined, route: undefined, via: undefined, gatewayRoute: undefined, candidates: [] };
  if (recursion > MAX_ROUTE_RECURSION) {
    ctx.steps.push({ depth: recursion, text: `recursion limit (${MAX_ROUTE_RECURSION}) reached at ${destText}` });
    return none;
  }
  const dest = parseIp(destText);
  if (!dest) return none;
  const candidate = candidateText ? parseIp(candidateText) : undefined;
  const prefix = dest.bytes.length * 8;
  let raw: Route[];
  if (ctx.opts.mode === 'kernel') {
    const key: KernelLookupKey = { dest: formatIp(dest), candidate: candidate ? formatIp(candidate) : undefined, mark: ctx.opts.mark };
    const ans = ctx.opts.kernelAnswers?.get(kernelLookupKey(key));
    if (!ans) {
      ctx.missing.push(key);
      ctx.steps.push({ depth: recursion, text: `kernel lookup for ${key.dest} from ${key.candidate ?? '-'} not available` });
      return none;
    }
    if ('error' in ans) {
      ctx.steps.push({ depth: recursion, text: `kernel: no route to ${key.dest} from ${key.candidate ?? '-'} (${ans.error})` });
      return none;
    }
    raw = [ans.route];
    ctx.steps.push({ depth: recursion, text: `kernel answered: ${formatRoute(ans.route)}` });
  } else {
    raw = state.routes.filter((r) => r.family === dest.family);
  }
  const entries = sortEntries(raw.map((r) => filterRoute(ctx, r, dest, prefix, recursion)).filter((e): e is Entry => e !== undefined));
  const found: Found = { ...none, candidates: entries.map((e) => e.route) };
  let best: { e: Entry; via: LookupResult['via']; gw?: Route | undefined } | undefined;
  const take = (e: Entry, src: string, via: LookupResult['via'], gw?: Route): boolean => {
    e.srcHost = src;
    const match = !candidate || ipEquals(candidate, src);
    ctx.steps.push({ depth: recursion, text: `${formatRoute(e.route)} → ${src} (${via})${match && candidate ? ' = current address' : ''}` });
    if (match) {
      best = { e, via, gw };
      return true;
    }
    best = best ?? { e, via, gw };
    return false;
  };
  for (const e of entries) {
    const r = e.route;
    const oif = routeOif(ctx, r);
    if (e.srcHost) {
      if (!candidate || ipEquals(candidate, e.srcHost)) {
        if (take(e, e.srcHost, 'prefsrc')) break;
        continue;
      }
      if (oif) {
        const src = getMatchingAddress(ctx, oif.link.ifIndex, dest.family, undefined, dest, candidate);
        if (src && ipEquals(src, candidate)) {
          if (take(e, src, 'prefsrc-oif')) break;
        }
      }
      take(e, e.srcHost, 'prefsrc');
      continue;
    }
    if (r.src && ctx.opts.considerRtaSrc !== false) {
      const net = parsePrefix(r.src);
      if (net) {
        const src = getMatchingAddress(ctx, undefined, dest.family, net, dest, candidate);
        if (src) {
          if (take(e, src, 'rta-src')) break;
          continue;
        }
      }
    }
    if (oif) {
      const src = getMatchingAddress(ctx, oif.link.ifIndex, dest.family, undefined, dest, candidate);
      if (src) {
        if (take(e, src, 'oif')) break;
        continue;
      }
    }
    const gw = routeGateway(r);
    if (gw) {
      const g = parseIp(gw);
      if (g && !ipEquals(g, dest)) {
        ctx.steps.push({ depth: recursion, text: `${formatRoute(r)}: no address on its interface, looking up gateway ${gw}` });
        const sub = getRoute(ctx, state, formatIp(g), candidateText, recursion + 1);
        if (sub.src) {
          if (take(e, sub.src, 'gateway', sub.route)) break;
        }
      }
    }
  }
  if (best) {
    const b = best as { e: Entry; via: LookupResult['via']; gw?: Route | undefined };
    found.src = b.e.srcHost;
    found.route = b.e.route;
    found.via = b.via;
    found.gatewayRoute = b.gw;
  } else if (recursion === 0) {
    ctx.steps.push({ depth: 0, text: `no address found to reach ${formatIp(dest)}` });
  }
  return found;
}

/**
 * kernel_net_t.get_source_addr(dest, candidate) as charon 5.9.x computes it. Pure: in
 * kernel mode the kernel's answers come in `opts.kernelAnswers`.
 */
export function getSourceAddr(state: NetState, dest: string, candidate: string | undefined, opts: LookupOptions): LookupResult {
  const ctx = buildCtx(state, opts);
  const f = getRoute(ctx, state, dest, candidate, 0);
  return { src: f.src, route: f.route, via: f.via, gatewayRoute: f.gatewayRoute, candidates: f.candidates, steps: ctx.steps, missing: ctx.missing };
}
