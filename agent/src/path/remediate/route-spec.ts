/**
 * A route fix as data: the `ip route add|change …` commands that suggestFixes() offers,
 * parsed into a RouteSpec, and turned back into `ip` arguments to apply, delete or
 * restore a route. One spec is what the remediation journal records, what the
 * persistence generators render for each network configuration system, and what undo
 * restores, so that all of them agree on the exact same route.
 *
 * Grammar accepted (iproute2's `ip route` syntax, the subset formatRoute() and
 * suggestFixes() write): `ip [-4|-6] route add|change|replace|del PREFIX [KEY VALUE | onlink]…`
 * with KEY one of via, dev, src, from, table, metric, proto, scope. Anything else is an
 * error naming the word: a route the journal cannot describe exactly is never applied.
 */
import type { Route } from '@roamwatch/core';
import { canonicalIp, formatIp, parseIp, parsePrefix } from '../ip.js';
import { tableId } from '../ip-json.js';

export interface RouteSpec {
  family: 4 | 6;
  /** Destination prefix in canonical form (`10.231.1.2/32`, `::/0`). */
  dst: string;
  gateway?: string;
  dev?: string;
  onlink?: boolean;
  /** RTA_PREFSRC (`src`). */
  prefsrc?: string;
  /** RTA_SRC (`from`). */
  from?: string;
  /** 254 (main) when absent. */
  table?: number;
  metric?: number;
  proto?: string;
  scope?: string;
}

export type RouteOp = 'add' | 'change' | 'replace' | 'del';

export class RouteSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteSpecError';
  }
}

const KEYS = new Set(['via', 'dev', 'src', 'from', 'table', 'metric', 'proto', 'scope']);

function canonicalPrefix(text: string, family: 4 | 6 | undefined): { dst: string; family: 4 | 6 } {
  if (text === 'default') {
    const f = family ?? 4;
    return { dst: f === 4 ? '0.0.0.0/0' : '::/0', family: f };
  }
  const p = parsePrefix(text);
  if (!p) throw new RouteSpecError(`not a destination prefix: ${text}`);
  return { dst: `${formatIp(p.addr)}/${p.len}`, family: p.addr.family };
}

/** Parses `ip route add|change … ` (one command line, as doctor prints it). */
export function parseIpRouteCommand(command: string): { op: RouteOp; spec: RouteSpec } {
  const words = command.replace(/#.*$/, '').trim().split(/\s+/);
  if (words[0] !== 'ip') throw new RouteSpecError(`not an ip command: ${command}`);
  let i = 1;
  let family: 4 | 6 | undefined;
  while (words[i] === '-4' || words[i] === '-6') family = words[i++] === '-6' ? 6 : 4;
  if (words[i] !== 'route') throw new RouteSpecError(`not an ip route command: ${command}`);
  const op = words[i + 1];
  if (op !== 'add' && op !== 'change' && op !== 'replace' && op !== 'del') throw new RouteSpecError(`unsupported ip route operation "${op ?? ''}" in: ${command}`);
  const dstWord = words[i + 2];
  if (dstWord === undefined) throw new RouteSpecError(`no destination in: ${command}`);
  const d = canonicalPrefix(dstWord, family);
  const spec: RouteSpec = { family: d.family, dst: d.dst };
  for (let j = i + 3; j < words.length; j++) {
    const k = words[j] as string;
    if (k === 'onlink') {
      spec.onlink = true;
      continue;
    }
    if (!KEYS.has(k)) throw new RouteSpecError(`unsupported word "${k}" in: ${command}`);
    const v = words[++j];
    if (v === undefined) throw new RouteSpecError(`"${k}" without a value in: ${command}`);
    switch (k) {
      case 'via':
      case 'src': {
        const a = parseIp(v);
        if (!a || a.family !== spec.family) throw new RouteSpecError(`${k} ${v} is not an IPv${spec.family} address in: ${command}`);
        if (k === 'via') spec.gateway = formatIp(a);
        else spec.prefsrc = formatIp(a);
        break;
      }
      case 'from':
        spec.from = canonicalPrefix(v, spec.family).dst;
        break;
      case 'dev':
        if (!/^[^\s/]{1,15}$/.test(v)) throw new RouteSpecError(`not an interface name: ${v}`);
        spec.dev = v;
        break;
      case 'table':
        spec.table = tableId(v);
        if (!/^(main|local|default|\d+)$/.test(v)) throw new RouteSpecError(`not a table: ${v}`);
        break;
      case 'metric':
        if (!/^\d+$/.test(v)) throw new RouteSpecError(`not a metric: ${v}`);
        spec.metric = Number(v);
        break;
      case 'proto':
        spec.proto = v;
        break;
      case 'scope':
        spec.scope = v;
        break;
    }
  }
  return { op, spec };
}

/** `ip` arguments (after `ip`) for an operation on this route. */
export function ipRouteArgs(op: RouteOp, s: RouteSpec): string[] {
  const out = [s.family === 6 ? '-6' : '-4', 'route', op, s.dst];
  if (s.from) out.push('from', s.from);
  if (s.gateway) out.push('via', s.gateway);
  if (s.dev) out.push('dev', s.dev);
  if (s.onlink) out.push('onlink');
  if (s.table !== undefined && s.table !== 254) out.push('table', String(s.table));
  if (s.proto && op !== 'del') out.push('proto', s.proto);
  if (s.scope && op !== 'del') out.push('scope', s.scope);
  if (s.metric !== undefined) out.push('metric', String(s.metric));
  if (s.prefsrc && op !== 'del') out.push('src', s.prefsrc);
  return out;
}

/** The command line, as an operator would type it. */
export function formatIpRouteCommand(op: RouteOp, s: RouteSpec): string {
  const args = ipRouteArgs(op, s);
  if (args[0] === '-4') args.shift();
  return `ip ${args.join(' ')}`;
}

/** A route read from the kernel (`ip -j`), as a spec that recreates it. */
export function specFromRoute(r: Route): RouteSpec {
  const s: RouteSpec = { family: r.family, dst: canonicalPrefix(r.dst, r.family).dst };
  if (r.src) s.from = r.src;
  if (r.gateway) s.gateway = canonicalIp(r.gateway);
  if (r.oif) s.dev = r.oif;
  if (r.flags?.includes('onlink')) s.onlink = true;
  if (r.table !== 254) s.table = r.table;
  if (r.priority !== undefined && r.priority !== 0) s.metric = r.priority;
  if (r.protocol && r.protocol !== 'boot') s.proto = r.protocol;
  if (r.scope && r.scope !== 'universe') s.scope = r.scope;
  if (r.prefsrc) s.prefsrc = canonicalIp(r.prefsrc);
  return s;
}

/** The kernel's identity of a route (what `ip route change/del` addresses): prefix, table, metric (tos). */
export function sameRouteKey(a: RouteSpec, b: RouteSpec): boolean {
  return a.family === b.family && a.dst === b.dst && (a.table ?? 254) === (b.table ?? 254) && (a.metric ?? 0) === (b.metric ?? 0) && (a.from ?? '') === (b.from ?? '');
}

/** Does a route read back from the kernel carry everything the spec asked for? */
export function routeMatchesSpec(r: Route, s: RouteSpec): boolean {
  const k = specFromRoute(r);
  if (!sameRouteKey(k, s)) return false;
  if ((s.gateway ?? '') !== (k.gateway ?? '')) return false;
  if (s.dev !== undefined && s.dev !== k.dev) return false;
  if ((s.prefsrc ?? '') !== (k.prefsrc ?? '')) return false;
  return true;
}

/** The core Route the kernel would hold for this spec (interface index from `links`). */
export function routeFromSpec(s: RouteSpec, links: readonly { ifIndex: number; ifName: string }[] = []): Route {
  const oifIndex = s.dev !== undefined ? links.find((l) => l.ifName === s.dev)?.ifIndex : undefined;
  return {
    family: s.family,
    table: s.table ?? 254,
    dst: s.dst,
    type: 'unicast',
    protocol: s.proto ?? 'boot',
    scope: s.scope ?? (s.gateway ? 'universe' : 'link'),
    ...(s.metric !== undefined ? { priority: s.metric } : {}),
    ...(s.prefsrc ? { prefsrc: s.prefsrc } : {}),
    ...(s.from ? { src: s.from } : {}),
    ...(s.gateway ? { gateway: s.gateway } : {}),
    ...(s.dev ? { oif: s.dev } : {}),
    ...(oifIndex !== undefined ? { oifIndex } : {}),
    ...(s.onlink ? { flags: ['onlink'] } : {}),
  };
}

/** The routing state with these routes in place (each replaces a route with the same kernel key). */
export function withRoutes<S extends { routes: readonly Route[]; links: readonly { ifIndex: number; ifName: string }[] }>(state: S, specs: readonly RouteSpec[]): S {
  if (specs.length === 0) return state;
  const routes = state.routes.filter((r) => !specs.some((s) => sameRouteKey(specFromRoute(r), s)));
  return { ...state, routes: [...routes, ...specs.map((s) => routeFromSpec(s, state.links))] };
}
