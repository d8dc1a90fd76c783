/**
 * In-memory mirror of the kernel's routing state: routes of every table (IPv4 and IPv6),
 * addresses per interface, links and policy rules, updated from parsed rtnetlink
 * messages. Every update returns the normalized change it made (or nothing when the
 * message changed nothing, e.g. a NEWROUTE already reflected by a dump).
 *
 * Route identity follows the kernel:
 * - the base key is (family, table, dst/len, src/len, tos, priority) — what
 *   fib_table_insert (IPv4) and fib6_add_rt2node (IPv6) compare;
 * - several routes can share a base key (IPv4 `append`, prefix routes of the same subnet
 *   on two links, IPv6 device routes such as fe80::/64 on every link), so an entry holds
 *   one or more alternatives told apart by their nexthop identity (type, oif, gateway;
 *   for IPv6 all gateway routes of a key are one ECMP route);
 * - NLM_F_REPLACE replaces the alternative with the same identity, else the first one.
 *
 * Memory: a route costs its base-key string and one Map slot; everything else lives in
 * an interned attribute record shared by all routes with the same attributes (a BGP
 * table has few distinct nexthop/protocol/metric combinations). See docs/rtnetlink.md.
 */
import { AF, IFF, NLM_F, RTN, RT_SCOPE, type AddressMessage, type LinkMessage, type RouteMessage, type RuleMessage } from './schema.js';
import { RouteTable } from './route-table.js';
import type {
  AddressState, ChangeCause, LinkState, NexthopState, RouteState, RuleState, StateChange,
} from './state.js';

/** Attributes of a route other than its base key; interned and shared. */
interface RouteAttrs {
  readonly family: number;
  readonly type: number;
  readonly protocol: number;
  readonly scope: number;
  readonly oif: number | undefined;
  readonly gateway: string | undefined;
  readonly via: string | undefined;
  readonly prefsrc: string | undefined;
  readonly mark: number | undefined;
  readonly nhId: number | undefined;
  readonly pref: number | undefined;
  readonly nexthops: readonly NexthopState[] | undefined;
  /** Identity among the alternatives of one base key. */
  readonly ident: string;
  readonly internKey: string;
  /** fnv1a(internKey): a route's digest hash continues from it over the base key. */
  readonly internHash: number;
  refs: number;
}

type RouteEntry = RouteAttrs | RouteAttrs[];

function nexthopsSig(nhs: readonly NexthopState[] | undefined): string {
  if (nhs === undefined) return '';
  let s = '';
  for (const n of nhs) s += `${n.oif ?? ''},${n.gateway ?? ''},${n.via ?? ''},${n.weight};`;
  return s;
}

function compareNexthops(a: NexthopState, b: NexthopState): number {
  const ka = `${a.gateway ?? ''}|${a.oif ?? 0}|${a.via ?? ''}`;
  const kb = `${b.gateway ?? ''}|${b.oif ?? 0}|${b.via ?? ''}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function fam(f: number): 4 | 6 {
  return f === AF.INET6 ? 6 : 4;
}

function cidr(addr: string | undefined, len: number, family: 4 | 6): string {
  return `${addr ?? (family === 4 ? '0.0.0.0' : '::')}/${len}`;
}

/**
 * The base key of a route: "family|table|tos|priority|src|dst", e.g. "4|254|0|20||10.1.2.0/24"
 * (dst last, so that RouteTable can split it off cheaply).
 */
export function routeBaseKey(m: RouteMessage): string {
  const f = fam(m.family);
  const src = m.srcLen === 0 && m.src === undefined ? '' : cidr(m.src, m.srcLen, f);
  return `${f}|${m.table}|${m.tos}|${m.priority ?? 0}|${src}|${cidr(m.dst, m.dstLen, f)}`;
}

export function addressKey(a: AddressState): string {
  return `${a.index}|${a.family}|${a.local}/${a.prefixLen}|${a.peer ?? ''}`;
}

export function ruleKey(r: RuleState): string {
  return [r.family, r.priority, r.table, r.action, r.src ?? '', r.dst ?? '', r.tos, r.fwmark ?? '', r.fwmask ?? '',
    r.iifname ?? '', r.oifname ?? '', r.goto ?? '', r.flags].join('|');
}

export function addressFromMessage(m: AddressMessage): AddressState {
  const family = fam(m.family);
  const local = m.local ?? m.address ?? '';
  return {
    family, index: m.index, local, prefixLen: m.prefixLen,
    peer: m.address !== undefined && m.address !== local ? m.address : undefined,
    scope: m.scope, flags: m.flags, label: m.label, broadcast: m.broadcast,
  };
}

export function linkFromMessage(m: LinkMessage, previous: LinkState | undefined): LinkState {
  return {
    index: m.index, ifname: m.ifname ?? previous?.ifname ?? '', flags: m.flags,
    operstate: m.operstate ?? previous?.operstate ?? 0, mtu: m.mtu ?? previous?.mtu, master: m.master,
    linkType: m.linkType,
  };
}

export function ruleFromMessage(m: RuleMessage): RuleState {
  const family = fam(m.family);
  return {
    family, priority: m.priority ?? 0, table: m.table, action: m.action,
    src: m.srcLen > 0 || m.src !== undefined ? cidr(m.src, m.srcLen, family) : undefined,
    dst: m.dstLen > 0 || m.dst !== undefined ? cidr(m.dst, m.dstLen, family) : undefined,
    tos: m.tos, fwmark: m.fwmark, fwmask: m.fwmask, iifname: m.iifname, oifname: m.oifname,
    goto: m.goto, flags: m.ruleFlags,
  };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface MirrorCounts {
  routes: number;
  addresses: number;
  links: number;
  rules: number;
  /** Distinct interned route attribute records. */
  routeAttrRecords: number;
}

/**
 * The mirror's route digest: the route count and an order-independent 32-bit hash (the sum of
 * FNV-1a hashes of each route's base key and attributes, mod 2^32), kept up to date on every
 * change. Two mirrors with the same routes have the same digest, however they were filled (a
 * dump, events, a resync), so the digest summarizes the routing state in a route storm (the
 * agent's route.summary events carry it) and a mirror built from a fresh dump checks it.
 */
export interface RouteDigest {
  routes: number;
  /** 8 lower-case hex digits. */
  hash: string;
}

/** FNV-1a, 32 bit, over the UTF-16 code units of `s`, continuing from `seed`. */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface MirrorOptions {
  /**
   * Build change records (default true). A mirror being filled from a dump for a resync
   * turns them off: adopt() computes the differences once at the end.
   */
  changes?: boolean;
}

export class Mirror {
  private readonly changes: boolean;

  constructor({ changes = true }: MirrorOptions = {}) {
    this.changes = changes;
  }

  private routes = new RouteTable<RouteEntry>();
  private attrs = new Map<string, RouteAttrs>();
  private routeCount = 0;
  /** Sum of the routes' hashes mod 2^32 (see RouteDigest). */
  private routeHash = 0;
  private addresses = new Map<string, AddressState>();
  private links = new Map<number, LinkState>();
  private rules = new Map<string, RuleState>();

  counts(): MirrorCounts {
    return {
      routes: this.routeCount, addresses: this.addresses.size, links: this.links.size, rules: this.rules.size,
      routeAttrRecords: this.attrs.size,
    };
  }

  /** The route digest (count and order-independent hash) of the mirrored routes. */
  digest(): RouteDigest {
    return { routes: this.routeCount, hash: this.routeHash.toString(16).padStart(8, '0') };
  }

  private hashIn(key: string, a: RouteAttrs): void {
    this.routeHash = (this.routeHash + fnv1a(key, a.internHash)) >>> 0;
  }

  private hashOut(key: string, a: RouteAttrs): void {
    this.routeHash = (this.routeHash - fnv1a(key, a.internHash)) >>> 0;
  }

  // ---------- routes ----------

  /** The last interned record: consecutive routes of a storm usually share attributes. */
  private lastAttrs: RouteAttrs | undefined;

  private intern(m: RouteMessage): RouteAttrs {
    const l = this.lastAttrs;
    if (l !== undefined && m.nexthops === undefined && l.nexthops === undefined && l.family === m.family && l.type === m.type && l.oif === m.oif &&
      l.gateway === m.gateway && l.protocol === m.protocol && l.scope === m.scope && l.prefsrc === m.prefsrc &&
      l.via === m.via && l.mark === m.mark && l.nhId === m.nhId && l.pref === m.pref && (l.refs > 0 || this.attrs.has(l.internKey))) {
      return l;
    }
    const a = this.internSlow(m);
    this.lastAttrs = a;
    return a;
  }

  private internSlow(m: RouteMessage): RouteAttrs {
    const family = fam(m.family);
    const nexthops: NexthopState[] | undefined = m.nexthops?.map((n) => ({
      oif: n.oif, gateway: n.gateway, via: n.via, weight: n.weight,
    }));
    // IPv6 notifications list the sibling that changed first, dumps list the fib order:
    // keep IPv6 nexthops in a canonical order so both give the same record.
    if (family === 6 && nexthops !== undefined) nexthops.sort(compareNexthops);
    const nhSig = nexthopsSig(nexthops);
    const key = `${m.family}|${m.type}|${m.protocol}|${m.scope}|${m.oif ?? ''}|${m.gateway ?? ''}|${m.via ?? ''}|${m.prefsrc ?? ''}|` +
      `${m.mark ?? ''}|${m.nhId ?? ''}|${m.pref ?? ''}|${nhSig}`;
    let a = this.attrs.get(key);
    if (a === undefined) {
      const ecmp6 = family === 6 && m.type === RTN.UNICAST && (m.gateway !== undefined || nexthops !== undefined);
      const ident = ecmp6 ? 'ecmp' : `${m.type}|${m.oif ?? ''}|${m.gateway ?? ''}|${m.via ?? ''}|${m.nhId ?? ''}|${nhSig}`;
      a = {
        family: m.family, type: m.type, protocol: m.protocol, scope: m.scope, oif: m.oif, gateway: m.gateway, via: m.via,
        prefsrc: m.prefsrc, mark: m.mark, nhId: m.nhId, pref: m.pref, nexthops, ident, internKey: key, internHash: fnv1a(key), refs: 0,
      };
      this.attrs.set(key, a);
    }
    return a;
  }

  private ref(a: RouteAttrs): void {
    a.refs++;
  }

  private unref(a: RouteAttrs): void {
    if (--a.refs <= 0) this.attrs.delete(a.internKey);
  }

  private static state(key: string, a: RouteAttrs): RouteState {
    const [f, table, tos, prio, src, dst] = key.split('|') as [string, string, string, string, string, string];
    return {
      family: f === '6' ? 6 : 4, table: Number(table), dst, src: src === '' ? undefined : src, tos: Number(tos),
      priority: Number(prio), type: a.type, protocol: a.protocol, scope: a.scope, oif: a.oif, gateway: a.gateway,
      via: a.via, prefsrc: a.prefsrc, mark: a.mark, nhId: a.nhId, pref: a.pref, nexthops: a.nexthops,
    };
  }

  /** The state of a route whose base key is the message's own (no key parsing). */
  private static stateOf(m: RouteMessage, a: RouteAttrs): RouteState {
    const family = fam(m.family);
    return {
      family, table: m.table, dst: cidr(m.dst, m.dstLen, family),
      src: m.srcLen === 0 && m.src === undefined ? undefined : cidr(m.src, m.srcLen, family), tos: m.tos,
      priority: m.priority ?? 0, type: a.type, protocol: a.protocol, scope: a.scope, oif: a.oif, gateway: a.gateway,
      via: a.via, prefsrc: a.prefsrc, mark: a.mark, nhId: a.nhId, pref: a.pref, nexthops: a.nexthops,
    };
  }

  /** Applies RTM_NEWROUTE / RTM_DELROUTE. Cloned (cache) routes are ignored, as `ip route` does. */
  applyRoute(m: RouteMessage, cause: ChangeCause = 'event'): StateChange | undefined {
    if (m.family !== AF.INET && m.family !== AF.INET6) return undefined;
    if ((m.rtmFlags & 0x200) !== 0) return undefined; // RTM_F_CLONED
    const key = routeBaseKey(m);
    const entry = this.routes.get(key);
    if (m.op === 'new') {
      const a = this.intern(m);
      if (entry === undefined) {
        this.ref(a);
        this.routes.set(key, a);
        this.routeCount++;
        this.hashIn(key, a);
        return this.changes ? { kind: 'route', op: 'added', cause, old: undefined, new: Mirror.stateOf(m, a) } : undefined;
      }
      const list = Array.isArray(entry) ? entry : [entry];
      let i = list.findIndex((x) => x.ident === a.ident);
      if (i < 0 && (m.nlFlags & NLM_F.REPLACE) !== 0) i = 0;
      if (i < 0) {
        this.ref(a);
        this.routes.set(key, [...list, a]);
        this.routeCount++;
        this.hashIn(key, a);
        return this.changes ? { kind: 'route', op: 'added', cause, old: undefined, new: Mirror.stateOf(m, a) } : undefined;
      }
      const old = list[i] as RouteAttrs;
      if (old === a) {
        if (a.refs === 0) this.attrs.delete(a.internKey);
        return undefined;
      }
      this.ref(a);
      this.unref(old);
      this.hashOut(key, old);
      this.hashIn(key, a);
      if (list.length === 1) this.routes.set(key, a);
      else list[i] = a;
      return this.changes ? { kind: 'route', op: 'replaced', cause, old: Mirror.stateOf(m, old), new: Mirror.stateOf(m, a) } : undefined;
    }
    // del
    if (entry === undefined) return undefined;
    const list = Array.isArray(entry) ? entry : [entry];
    const probe = this.intern(m);
    let i = list.findIndex((x) => x.ident === probe.ident);
    if (probe.refs === 0) this.attrs.delete(probe.internKey);
    if (i < 0) {
      // A delete that names no nexthop removes the first alternative (fib_table_delete).
      if (m.oif === undefined && m.gateway === undefined && m.nexthops === undefined && m.nhId === undefined) i = 0;
      else return undefined;
    }
    const old = list[i] as RouteAttrs;
    if (old.nexthops !== undefined && m.nexthops === undefined && m.gateway !== undefined && m.family === AF.INET6) {
      // Deleting one IPv6 ECMP sibling: the notification names that sibling only.
      const remaining = old.nexthops.filter((n) => !(n.gateway === m.gateway && (m.oif === undefined || n.oif === m.oif)));
      if (remaining.length > 0 && remaining.length < old.nexthops.length) {
        const single = remaining.length === 1 ? remaining[0] : undefined;
        const next = this.intern({
          ...m, op: 'new', type: old.type, protocol: old.protocol, scope: old.scope, prefsrc: old.prefsrc, mark: old.mark,
          nhId: old.nhId, pref: old.pref, via: single?.via ?? old.via, gateway: single?.gateway, oif: single?.oif,
          nexthops: single !== undefined ? undefined : remaining.map((n) => ({ ...n, flags: 0, oif: n.oif ?? 0 })),
        });
        this.ref(next);
        this.unref(old);
        this.hashOut(key, old);
        this.hashIn(key, next);
        if (list.length === 1) this.routes.set(key, next);
        else list[i] = next;
        return { kind: 'route', op: 'replaced', cause, old: Mirror.stateOf(m, old), new: Mirror.stateOf(m, next) };
      }
    }
    const rest = list.filter((_, j) => j !== i);
    if (rest.length === 0) this.routes.delete(key);
    else this.routes.set(key, rest.length === 1 ? (rest[0] as RouteAttrs) : rest);
    this.unref(old);
    this.routeCount--;
    this.hashOut(key, old);
    return this.changes ? { kind: 'route', op: 'removed', cause, old: Mirror.stateOf(m, old), new: undefined } : undefined;
  }

  /** Every route, in no particular order. */
  *routeStates(): IterableIterator<RouteState> {
    for (const [key, e] of this.routes) {
      if (Array.isArray(e)) for (const a of e) yield Mirror.state(key, a);
      else yield Mirror.state(key, e);
    }
  }

  /**
   * The kernel flushes IPv4 routes whose every nexthop uses a link that goes down or
   * away, or loses its last IPv4 address, without RTM_DELROUTE (fib_disable_ip →
   * fib_sync_down_dev + fib_flush in net/ipv4/fib_frontend.c, fib_semantics.c). Mirror that rule.
   */
  private flushIPv4RoutesOf(index: number, cause: ChangeCause, { keepHostScope }: { keepHostScope: boolean }): StateChange[] {
    const out: StateChange[] = [];
    for (const [key, e] of this.routes) {
      if (!key.startsWith('4|')) continue;
      const list = Array.isArray(e) ? e : [e];
      // Host-scope routes (local addresses) have nexthop scope NOWHERE and survive a
      // plain link down; deleting the link or its last IPv4 address flushes them too.
      const keep = list.filter((a) => (keepHostScope && a.scope === RT_SCOPE.HOST) || !(a.nexthops !== undefined
        ? a.nexthops.every((n) => n.oif === index)
        : a.oif === index));
      if (keep.length === list.length) continue;
      for (const a of list) {
        if (keep.includes(a)) continue;
        out.push({ kind: 'route', op: 'removed', cause, old: Mirror.state(key, a), new: undefined });
        this.unref(a);
        this.routeCount--;
        this.hashOut(key, a);
      }
      if (keep.length === 0) this.routes.delete(key);
      else this.routes.set(key, keep.length === 1 ? (keep[0] as RouteAttrs) : keep);
    }
    return out;
  }

  // ---------- addresses ----------

  /** Applies RTM_NEWADDR / RTM_DELADDR; may return implied IPv4 route removals too. */
  applyAddress(m: AddressMessage, cause: ChangeCause = 'event'): StateChange[] {
    if (m.family !== AF.INET && m.family !== AF.INET6) return [];
    const s = addressFromMessage(m);
    const key = addressKey(s);
    const old = this.addresses.get(key);
    if (m.op === 'del') {
      if (old === undefined) return [];
      this.addresses.delete(key);
      const out: StateChange[] = [{ kind: 'address', op: 'removed', cause, old, new: undefined }];
      if (s.family === 4 && !this.hasIPv4Address(s.index)) {
        out.push(...this.flushIPv4RoutesOf(s.index, cause === 'event' ? 'implied' : cause, { keepHostScope: false }));
      }
      return out;
    }
    this.addresses.set(key, s);
    if (old === undefined) return [{ kind: 'address', op: 'added', cause, old: undefined, new: s }];
    if (sameJson(old, s)) return [];
    return [{ kind: 'address', op: 'replaced', cause, old, new: s }];
  }

  private hasIPv4Address(index: number): boolean {
    for (const a of this.addresses.values()) if (a.index === index && a.family === 4) return true;
    return false;
  }

  *addressStates(): IterableIterator<AddressState> {
    yield* this.addresses.values();
  }

  // ---------- links ----------

  /** Applies RTM_NEWLINK / RTM_DELLINK; may return implied IPv4 route removals too. */
  applyLink(m: LinkMessage, cause: ChangeCause = 'event'): StateChange[] {
    if (m.family !== AF.UNSPEC) return []; // AF_BRIDGE port info etc. is not link state
    const old = this.links.get(m.index);
    const out: StateChange[] = [];
    if (m.op === 'del') {
      if (old === undefined) return [];
      this.links.delete(m.index);
      out.push({ kind: 'link', op: 'removed', cause, old, new: undefined });
      out.push(...this.flushIPv4RoutesOf(m.index, cause === 'event' ? 'implied' : cause, { keepHostScope: false }));
      return out;
    }
    const s = linkFromMessage(m, old);
    this.links.set(m.index, s);
    if (old === undefined) out.push({ kind: 'link', op: 'added', cause, old: undefined, new: s });
    else if (!sameJson(old, s)) out.push({ kind: 'link', op: 'replaced', cause, old, new: s });
    if (old !== undefined && (old.flags & IFF.UP) !== 0 && (s.flags & IFF.UP) === 0) {
      out.push(...this.flushIPv4RoutesOf(m.index, cause === 'event' ? 'implied' : cause, { keepHostScope: true }));
    }
    return out;
  }

  link(index: number): LinkState | undefined {
    return this.links.get(index);
  }

  *linkStates(): IterableIterator<LinkState> {
    yield* this.links.values();
  }

  // ---------- rules ----------

  applyRule(m: RuleMessage, cause: ChangeCause = 'event'): StateChange | undefined {
    if (m.family !== AF.INET && m.family !== AF.INET6) return undefined;
    const s = ruleFromMessage(m);
    const key = ruleKey(s);
    const old = this.rules.get(key);
    if (m.op === 'del') {
      if (old === undefined) return undefined;
      this.rules.delete(key);
      return { kind: 'rule', op: 'removed', cause, old, new: undefined };
    }
    this.rules.set(key, s);
    return old === undefined ? { kind: 'rule', op: 'added', cause, old: undefined, new: s } : undefined;
  }

  *ruleStates(): IterableIterator<RuleState> {
    yield* this.rules.values();
  }

  // ---------- resync ----------

  /**
   * Makes this mirror equal to `fresh` (built from a dump) and returns the differences
   * as changes with cause `resync`, links first, then addresses, rules, routes.
   */
  adopt(fresh: Mirror): StateChange[] {
    const out: StateChange[] = [];
    const cause: ChangeCause = 'resync';
    for (const [i, n] of fresh.links) {
      const o = this.links.get(i);
      if (o === undefined) out.push({ kind: 'link', op: 'added', cause, old: undefined, new: n });
      else if (!sameJson(o, n)) out.push({ kind: 'link', op: 'replaced', cause, old: o, new: n });
    }
    for (const [i, o] of this.links) if (!fresh.links.has(i)) out.push({ kind: 'link', op: 'removed', cause, old: o, new: undefined });
    for (const [k, n] of fresh.addresses) {
      const o = this.addresses.get(k);
      if (o === undefined) out.push({ kind: 'address', op: 'added', cause, old: undefined, new: n });
      else if (!sameJson(o, n)) out.push({ kind: 'address', op: 'replaced', cause, old: o, new: n });
    }
    for (const [k, o] of this.addresses) if (!fresh.addresses.has(k)) out.push({ kind: 'address', op: 'removed', cause, old: o, new: undefined });
    for (const [k, n] of fresh.rules) if (!this.rules.has(k)) out.push({ kind: 'rule', op: 'added', cause, old: undefined, new: n });
    for (const [k, o] of this.rules) if (!fresh.rules.has(k)) out.push({ kind: 'rule', op: 'removed', cause, old: o, new: undefined });
    for (const [k, ne] of fresh.routes) {
      const oe = this.routes.get(k);
      const nl = Array.isArray(ne) ? ne : [ne];
      const ol = oe === undefined ? [] : Array.isArray(oe) ? oe : [oe];
      if (nl.length === 1 && ol.length === 1) {
        // One route on each side under this key: the kernel replaced it (or nothing changed).
        const n = nl[0] as RouteAttrs;
        const o = ol[0] as RouteAttrs;
        if (o.internKey !== n.internKey) out.push({ kind: 'route', op: 'replaced', cause, old: Mirror.state(k, o), new: Mirror.state(k, n) });
        continue;
      }
      for (const n of nl) {
        const o = ol.find((x) => x.ident === n.ident);
        if (o === undefined) out.push({ kind: 'route', op: 'added', cause, old: undefined, new: Mirror.state(k, n) });
        else if (o.internKey !== n.internKey) out.push({ kind: 'route', op: 'replaced', cause, old: Mirror.state(k, o), new: Mirror.state(k, n) });
      }
      for (const o of ol) {
        if (!nl.some((x) => x.ident === o.ident)) out.push({ kind: 'route', op: 'removed', cause, old: Mirror.state(k, o), new: undefined });
      }
    }
    for (const [k, oe] of this.routes) {
      if (fresh.routes.has(k)) continue;
      for (const o of Array.isArray(oe) ? oe : [oe]) out.push({ kind: 'route', op: 'removed', cause, old: Mirror.state(k, o), new: undefined });
    }
    this.replaceWith(fresh);
    return out;
  }

  private replaceWith(fresh: Mirror): void {
    this.routes = fresh.routes;
    this.attrs = fresh.attrs;
    this.addresses = fresh.addresses;
    this.links = fresh.links;
    this.rules = fresh.rules;
    this.routeCount = fresh.routeCount;
    this.routeHash = fresh.routeHash;
  }
}
