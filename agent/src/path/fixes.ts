/**
 * Fix suggestions for an IKE_SA at risk, ranked by how little they change (1 = least):
 *
 *  1. `ip route change <the existing host route to the peer> src <local>` — when a /32
 *     (/128) route to the peer already exists: one attribute of a route that only
 *     concerns this peer;
 *  2. `ip route add <peer>/32 via <gw> dev <if> src <local> [table t] [metric m]` — a new
 *     host route that forwards exactly like the route in use, and names the local
 *     address (the fix from the strongSwan mailing list);
 *  3. the same host route in a table that no rule uses (dump mode only): charon's lookup
 *     sees every table, the kernel never forwards with it;
 *  4. `local_addrs = <local>` (literal IP) for the connection, when MOBIKE is not in use —
 *     charon then skips the check (5.5.2+); applies to SAs established after the reload;
 *  5. `charon.plugins.kernel-netlink.roam_events = no` — no roam check at all;
 *  6. `charon.process_route = no` — route changes stop triggering (partial fix).
 *
 * Every route fix is checked against the lookup model first: it is only offered when the
 * path is valid with it.
 */
import type { Connection, Fix, IkeSa, Route } from '@roamwatch/core';
import { canonicalIp, hostPrefix, ipEquals, parseIp, parsePrefix } from './ip.js';
import { formatRoute, getSourceAddr, type LookupResult, type NetState } from './lookup.js';
import { isInterfaceUsable, type CharonSettings } from './settings.js';

export interface FixInput {
  net: NetState & { rules?: readonly { table?: number | undefined }[] };
  sa: IkeSa;
  conn: Connection | undefined;
  settings: CharonSettings;
  mode: 'dump' | 'kernel';
  /** Lookup with the local address as candidate. */
  lookup: LookupResult;
  /** Lookup without candidate (what charon would fall back to). */
  anyLookup: LookupResult;
  mobike: boolean;
}

interface Hop {
  gateway: string | undefined;
  oif: string | undefined;
  oifIndex: number | undefined;
  onlink: boolean;
}

function firstHop(r: Route): Hop {
  const nh = r.multipath && r.multipath.length > 0 ? r.multipath[0] : undefined;
  if (nh && r.multipath && r.multipath.length > 1) {
    return { gateway: nh.gateway, oif: nh.oif, oifIndex: nh.oifIndex, onlink: nh.flags?.includes('onlink') ?? false };
  }
  return { gateway: r.gateway ?? nh?.gateway, oif: r.oif ?? nh?.oif, oifIndex: r.oifIndex ?? nh?.oifIndex, onlink: r.flags?.includes('onlink') ?? false };
}

function ipCmd(family: 4 | 6): string {
  return family === 6 ? 'ip -6 route' : 'ip route';
}

/** Would charon keep `local` with `extra` added to the routing state? */
function worksWith(input: FixInput, extra: Route, replace?: Route): boolean {
  if (input.mode === 'kernel') return true; // the kernel decides; verified in the lab, not here
  const routes = input.net.routes.filter((r) => r !== replace).concat([extra]);
  const r = getSourceAddr({ ...input.net, routes }, input.sa.remoteHost as string, input.sa.localHost, {
    settings: input.settings,
    mode: 'dump',
  });
  return r.src !== undefined && ipEquals(r.src, input.sa.localHost);
}

function unusedTable(input: FixInput): number | undefined {
  const used = new Set<number>([0, 253, 254, 255, input.settings.routingTable, ...input.settings.ignoreRoutingTables]);
  for (const r of input.net.routes) used.add(r.table);
  for (const r of input.net.rules ?? []) if (r.table !== undefined) used.add(r.table);
  for (let t = 100; t < 253; t++) if (!used.has(t)) return t;
  return undefined;
}

export function suggestFixes(input: FixInput): Fix[] {
  const { sa, settings } = input;
  const local = canonicalIp(sa.localHost as string);
  const peer = canonicalIp(sa.remoteHost as string);
  const family = parseIp(peer)?.family ?? 4;
  const fixes: Omit<Fix, 'rank'>[] = [];
  const host = hostPrefix(peer);
  const hostLen = family === 4 ? 32 : 128;

  // The route the traffic uses today: charon's first matching route, preferring the main table.
  const cands = input.lookup.candidates.length > 0 ? input.lookup.candidates : input.anyLookup.candidates;
  const base = cands.find((r) => r.table === 254) ?? cands[0];
  if (base) {
    const hop = firstHop(base);
    const usableIf = hop.oif === undefined || isInterfaceUsable(settings, hop.oif);
    const dst = parsePrefix(base.dst);
    const isHostRoute = dst !== undefined && dst.len === hostLen && ipEquals(dst.addr, peer);
    const tableArg = base.table !== 254 ? ` table ${base.table}` : '';
    // A host route that already names another address may serve another IKE_SA: never change it.
    const namesOther = base.prefsrc !== undefined && !ipEquals(base.prefsrc, local);
    if (isHostRoute && !namesOther && !base.multipath?.length && usableIf) {
      const changed: Route = { ...base, prefsrc: local };
      const { prefsrc: _drop, ...noSrc } = base;
      void _drop;
      if (worksWith(input, changed, base)) {
        fixes.push({
          kind: 'route',
          command: `${ipCmd(family)} change ${formatRoute(noSrc as Route)} src ${local}`,
          why: `the existing host route to ${peer} then names ${local} as preferred source, so charon's lookup keeps the path`,
          sideEffects: `locally originated traffic to ${peer} uses ${local} as source`,
        });
      }
    }
    if (usableIf && (hop.oif !== undefined || hop.gateway !== undefined)) {
      const via = hop.gateway ? ` via ${hop.gateway}` : '';
      const dev = hop.oif ? ` dev ${hop.oif}` : '';
      const onlink = hop.onlink ? ' onlink' : '';
      const extra: Route = {
        family,
        table: base.table,
        dst: host,
        type: 'unicast',
        protocol: 'static',
        scope: hop.gateway ? 'universe' : 'link',
        ...(base.priority !== undefined ? { priority: base.priority } : {}),
        prefsrc: local,
        ...(hop.gateway ? { gateway: hop.gateway } : {}),
        ...(hop.oif ? { oif: hop.oif } : {}),
        ...(hop.oifIndex !== undefined ? { oifIndex: hop.oifIndex } : {}),
      };
      // Next to a host route that names another address, add ours with the next metric:
      // the kernel keeps forwarding with the existing one, charon's lookup sees both.
      if (isHostRoute && namesOther) extra.priority = (base.priority ?? 0) + 1;
      const metric = extra.priority ? ` metric ${extra.priority}` : '';
      const sameKey = isHostRoute && !namesOther && (base.priority ?? 0) === (extra.priority ?? 0);
      if (!sameKey && worksWith(input, extra)) {
        fixes.push({
          kind: 'route',
          command: `${ipCmd(family)} add ${host}${via}${dev}${onlink} src ${local}${tableArg}${metric}`,
          why: `a host route to ${peer} that forwards like today's route (${formatRoute(base)}) and names ${local} as preferred source: charon's lookup finds it and keeps the path`,
          sideEffects: `locally originated traffic to ${peer} uses ${local} as source; make it persistent in your network configuration`,
        });
      }
      if (input.mode === 'dump') {
        const t = unusedTable(input);
        if (t !== undefined) {
          const hidden: Route = { ...extra, table: t };
          if (worksWith(input, hidden)) {
            fixes.push({
              kind: 'route',
              command: `${ipCmd(family)} add ${host}${via}${dev}${onlink} src ${local} table ${t}`,
              why: `charon's lookup reads every routing table; a route in table ${t}, which no rule uses, keeps the path without changing how the kernel forwards anything`,
              sideEffects: `none on forwarding, but the route is invisible to the kernel's decisions and easily removed by mistake; keep table ${t} unused by rules (and out of charon.ignore_routing_tables)`,
            });
          }
        }
      }
    }
  }
  const name = input.conn?.name ?? sa.name;
  if (!input.mobike) {
    fixes.push({
      kind: 'config',
      command: `connections.${name}.local_addrs = ${local}   # swanctl.conf, then: swanctl --load-conns`,
      why: 'with a literal local address and without MOBIKE, charon (5.5.2+) keeps the statically configured path and never runs the route check',
      sideEffects: 'charon always uses this address for the connection (no fallback to another local address); applies to IKE_SAs initiated after the reload: the current IKE_SA and its reauthentications keep the old config until the connection is re-initiated (swanctl --terminate, then --initiate)',
    });
  }
  fixes.push({
    kind: 'setting',
    command: 'charon.plugins.kernel-netlink.roam_events = no   # strongswan.conf, then restart charon',
    why: 'charon no longer re-checks paths on interface, address or route changes',
    sideEffects: 'for every IKE_SA: real path changes are no longer noticed (only DPD finds a dead path); MOBIKE address updates stop',
  });
  if (settings.processRoute) {
    fixes.push({
      kind: 'setting',
      command: 'charon.process_route = no   # strongswan.conf, then restart charon',
      why: 'route changes no longer trigger the check (partial: address and link changes still do, and still reauthenticate)',
      sideEffects: 'for every IKE_SA: route changes that really move a path are no longer noticed',
    });
  }
  return fixes.map((f, i) => ({ rank: i + 1, ...f }));
}
