/**
 * The rtnetlink adapter's mapping of the rtnetlink source's normalized changes to the
 * project's event contract (@roamwatch/core: route.*, address.*, link.*, rule.*,
 * netlink.resync payloads). It lives with the adapter, not in the rtnetlink library, so that
 * the library knows nothing of the contract.
 * Numbers become the names iproute2 prints (/etc/iproute2/rt_protos etc.), interface
 * indexes get their names from the mirror.
 */
import type { PayloadOf } from '@roamwatch/core';
import { linkFlagNames } from '../../rtnetlink/compare.js';
import type { MirrorCounts } from '../../rtnetlink/mirror.js';
import { FR_ACT, IFA_F, OPERSTATE, RTN } from '../../rtnetlink/schema.js';
import type {
  AddressState, LinkState, ResyncReport, RouteState, RuleState, StateChange,
} from '../../rtnetlink/state.js';

type Kind =
  | 'route.added' | 'route.removed' | 'route.replaced' | 'address.added' | 'address.removed'
  | 'link.added' | 'link.removed' | 'link.changed' | 'rule.added' | 'rule.removed';

/** One contract event ready for EventFactory.make(kind, payload). */
export type ContractEvent = { [K in Kind]: { kind: K; payload: PayloadOf<K> } }[Kind];

/** Resolves an interface index to its name (the mirror's link table). */
export type IfNameOf = (index: number) => string | undefined;

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RTN).map(([k, v]) => [v, k.toLowerCase()]));
/** iproute2's /etc/iproute2/rt_protos names. */
const PROTOCOL_NAMES: Record<number, string> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird',
  13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 186: 'bgp', 187: 'isis', 188: 'ospf',
  189: 'rip', 192: 'eigrp',
};
const SCOPE_NAMES: Record<number, string> = { 0: 'universe', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };
const ACTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(FR_ACT).map(([k, v]) => [v, k.toLowerCase()]));
const ADDRESS_FLAG_NAMES: [string, number][] = [
  ['secondary', IFA_F.SECONDARY], ['nodad', IFA_F.NODAD], ['optimistic', IFA_F.OPTIMISTIC], ['dadfailed', IFA_F.DADFAILED],
  ['home', IFA_F.HOMEADDRESS], ['deprecated', IFA_F.DEPRECATED], ['tentative', IFA_F.TENTATIVE], ['permanent', IFA_F.PERMANENT],
  ['mngtmpaddr', IFA_F.MANAGETEMPADDR], ['noprefixroute', IFA_F.NOPREFIXROUTE], ['autojoin', IFA_F.MCAUTOJOIN],
  ['stable-privacy', IFA_F.STABLE_PRIVACY],
];

const name = (table: Record<number, string>, n: number): string => table[n] ?? String(n);
const ifname = (names: IfNameOf, i: number | undefined): string | undefined => (i === undefined || i === 0 ? undefined : names(i));

/** The object without its undefined fields (a copy: `delete` would turn it into a slow dictionary object). */
function defined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

type RoutePayload = PayloadOf<'route.added'>['route'];

/** Route storms go through here once per change: built field by field, no undefined fields to strip. */
export function routePayload(r: RouteState, names: IfNameOf): RoutePayload {
  const out: RoutePayload = { family: r.family, table: r.table, dst: r.dst, type: name(TYPE_NAMES, r.type), protocol: name(PROTOCOL_NAMES, r.protocol), scope: name(SCOPE_NAMES, r.scope) };
  if (r.priority !== 0 && r.priority !== undefined) out.priority = r.priority;
  if (r.prefsrc !== undefined) out.prefsrc = r.prefsrc;
  if (r.src !== undefined) out.src = r.src;
  if (r.gateway !== undefined) out.gateway = r.gateway;
  if (r.via !== undefined) out.via = r.via;
  const oif = ifname(names, r.oif);
  if (oif !== undefined) out.oif = oif;
  if (r.oif !== undefined) out.oifIndex = r.oif;
  if (r.nhId !== undefined) out.nhId = r.nhId;
  if (r.mark !== undefined) out.mark = r.mark;
  if (r.tos !== 0 && r.tos !== undefined) out.tos = r.tos;
  if (r.nexthops !== undefined) out.multipath = r.nexthops.map((n) => defined({ gateway: n.gateway, via: n.via, oif: ifname(names, n.oif), oifIndex: n.oif, weight: n.weight }));
  return out;
}

export function addressPayload(a: AddressState, names: IfNameOf): PayloadOf<'address.added'>['address'] {
  return defined({
    family: a.family, ifIndex: a.index, ifName: ifname(names, a.index), address: a.local, prefixLen: a.prefixLen,
    peer: a.peer, scope: name(SCOPE_NAMES, a.scope), flags: ADDRESS_FLAG_NAMES.filter(([, b]) => (a.flags & b) !== 0).map(([n]) => n),
    label: a.label,
  });
}

export function linkPayload(l: LinkState, names: IfNameOf): PayloadOf<'link.added'>['link'] {
  return defined({
    ifIndex: l.index, ifName: l.ifname || `if${l.index}`, flags: linkFlagNames(l.flags),
    operstate: OPERSTATE[l.operstate] ?? String(l.operstate), mtu: l.mtu, master: ifname(names, l.master),
  });
}

export function rulePayload(r: RuleState): PayloadOf<'rule.added'>['rule'] {
  return defined({
    family: r.family, priority: r.priority, table: r.action === FR_ACT.TO_TBL ? r.table : undefined,
    action: name(ACTION_NAMES, r.action), src: r.src, dst: r.dst, iif: r.iifname, oif: r.oifname, fwmark: r.fwmark,
    fwmask: r.fwmark === undefined ? undefined : r.fwmask, tos: r.tos === 0 ? undefined : r.tos,
    invert: (r.flags & 2) !== 0 ? true : undefined,
  });
}

/**
 * The contract event for one change. An address whose attributes changed (e.g. the end of
 * DAD clears `tentative`) is reported as `address.added` with its new state: the contract
 * has no `address.changed`, and RTM_NEWADDR itself means "this address, as it is now".
 */
export function toContractEvent(c: StateChange, names: IfNameOf): ContractEvent {
  switch (c.kind) {
    case 'route':
      if (c.op === 'replaced') {
        return { kind: 'route.replaced', payload: { old: routePayload(c.old as RouteState, names), route: routePayload(c.new as RouteState, names) } };
      }
      return { kind: c.op === 'added' ? 'route.added' : 'route.removed', payload: { route: routePayload((c.new ?? c.old) as RouteState, names) } };
    case 'address':
      return { kind: c.op === 'removed' ? 'address.removed' : 'address.added', payload: { address: addressPayload((c.new ?? c.old) as AddressState, names) } };
    case 'link':
      if (c.op === 'replaced') {
        return { kind: 'link.changed', payload: { old: linkPayload(c.old as LinkState, names), link: linkPayload(c.new as LinkState, names) } };
      }
      return { kind: c.op === 'added' ? 'link.added' : 'link.removed', payload: { link: linkPayload((c.new ?? c.old) as LinkState, names) } };
    case 'rule':
      return { kind: c.op === 'removed' ? 'rule.removed' : 'rule.added', payload: { rule: rulePayload((c.new ?? c.old) as RuleState) } };
  }
}

const RESYNC_REASONS: Record<ResyncReport['reason'], PayloadOf<'netlink.resync'>['reason']> = {
  overflow: 'overflow', truncated: 'sequence-gap', invalid: 'sequence-gap', 'helper-restart': 'socket-reset',
  initial: 'startup', requested: 'manual',
};

/**
 * The `netlink.resync` payload for a report. `recovered` counts the changes the resync
 * emitted, by op (pass the changes that preceded the report).
 */
export function resyncPayload(r: ResyncReport, recovered: readonly StateChange[], counts: MirrorCounts): PayloadOf<'netlink.resync'> {
  const by = { added: 0, removed: 0, replaced: 0 };
  for (const c of recovered) by[c.op]++;
  return defined({
    reason: RESYNC_REASONS[r.reason],
    gapDetectedAtUs: r.reason === 'initial' ? undefined : r.detectedAtMs * 1000,
    recovered: by,
    counts: { routes: counts.routes, addresses: counts.addresses, links: counts.links, rules: counts.rules },
    durationMs: Math.max(0, r.completedAtMs - r.detectedAtMs),
  });
}
