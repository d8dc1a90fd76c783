/**
 * Reads the routing state and asks kernel route lookups through iproute2's JSON output
 * (`ip -j`), in the network namespace of the caller (or `ip -n <netns>`). This is the
 * one-shot path `roamwatch doctor` uses; the agent uses the rtnetlink mirror instead.
 *
 * Kernel lookups: charon's RTM_GETROUTE (kernel-lookup mode) carries RTA_DST, RTA_SRC
 * (the current local address) and RTA_MARK; `ip route get <dst> from <src> mark <m>`
 * sends the same request (an output-route lookup: no iif). Observed answers:
 * - IPv4 with a local source: `from <src>` (RTA_SRC, /32) and no prefsrc — the kernel
 *   keeps the hint; charon then finds the address through RTA_SRC;
 * - IPv6: `from <src>` and `prefsrc <kernel-selected source>` — the kernel's own source
 *   selection, which charon compares first;
 * - no route / a non-local IPv4 source: an error.
 */
import { execFile } from 'node:child_process';
import type { Address, Link, Route, Rule } from '@roamwatch/core';
import { canonicalIp, formatIp, parseIp } from './ip.js';
import { kernelLookupKey, type KernelLookupKey, type KernelRouteAnswer, type NetState } from './lookup.js';

export interface IpRunner {
  (args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
}

export function ipRunner(opts: { netns?: string | undefined; bin?: string } = {}): IpRunner {
  return (args) =>
    new Promise((resolve) => {
      const full = opts.netns ? ['-n', opts.netns, ...args] : args;
      execFile(opts.bin ?? 'ip', full, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr) || (err && code === 127 ? err.message : ''), code });
      });
    });
}

type J = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);

export function tableId(t: unknown): number {
  if (t === undefined) return 254;
  if (t === 'main') return 254;
  if (t === 'local') return 255;
  if (t === 'default') return 253;
  const n = num(t);
  return n ?? 254;
}

function prefixOf(dst: string | undefined, family: 4 | 6): string {
  if (dst === undefined || dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  if (dst.includes('/')) {
    const [a, l] = dst.split('/');
    return `${canonicalIp(a ?? '')}/${l}`;
  }
  return `${canonicalIp(dst)}/${family === 4 ? 32 : 128}`;
}

/** One `ip -j route` object as a core Route. */
export function routeFromIpJson(o: J, family: 4 | 6, ifIndex: (name: string) => number | undefined): Route {
  const dev = str(o['dev']);
  const nexthops = Array.isArray(o['nexthops']) ? (o['nexthops'] as J[]) : undefined;
  const r: Route = {
    family,
    table: tableId(o['table']),
    dst: prefixOf(str(o['dst']), family),
    type: str(o['type']) ?? 'unicast',
    protocol: str(o['protocol']) ?? 'boot',
    scope: str(o['scope']) ?? 'universe',
  };
  const metric = num(o['metric']);
  if (metric !== undefined) r.priority = metric;
  const prefsrc = str(o['prefsrc']);
  if (prefsrc) r.prefsrc = canonicalIp(prefsrc);
  const from = str(o['from']);
  if (from && from !== 'all' && from !== '::' && from !== '0.0.0.0') {
    const p = prefixOf(from, family);
    if (!/^(0\.0\.0\.0|::)\/0$/.test(p)) r.src = p;
  }
  const gw = str(o['gateway']);
  if (gw) r.gateway = canonicalIp(gw);
  if (dev) {
    r.oif = dev;
    const i = ifIndex(dev);
    if (i !== undefined) r.oifIndex = i;
  }
  const nhid = num(o['nhid']);
  if (nhid !== undefined) r.nhId = nhid;
  const mark = num(o['mark']);
  if (mark !== undefined) r.mark = mark;
  if (Array.isArray(o['flags']) && (o['flags'] as unknown[]).length > 0) r.flags = (o['flags'] as unknown[]).map(String);
  if (nexthops) {
    r.multipath = nexthops.map((n) => {
      const d = str(n['dev']);
      const g = str(n['gateway']);
      const idx = d ? ifIndex(d) : undefined;
      return {
        ...(g ? { gateway: canonicalIp(g) } : {}),
        ...(d ? { oif: d } : {}),
        ...(idx !== undefined ? { oifIndex: idx } : {}),
        weight: num(n['weight']) ?? 1,
        ...(Array.isArray(n['flags']) && (n['flags'] as unknown[]).length ? { flags: (n['flags'] as unknown[]).map(String) } : {}),
      };
    });
  }
  return r;
}

const ADDR_FLAGS = ['secondary', 'temporary', 'tentative', 'deprecated', 'dadfailed', 'noprefixroute', 'dynamic', 'optimistic', 'home', 'nodad', 'mngtmpaddr', 'stable-privacy'];

function parseJson(text: string, what: string): J[] {
  const t = text.trim();
  if (t === '') return [];
  try {
    return JSON.parse(t) as J[];
  } catch (e) {
    throw new Error(`cannot parse \`ip -j ${what}\` output: ${(e as Error).message}`);
  }
}

/** Reads links, addresses, routes (all tables, both families) and rules with `ip -j`. */
export async function readNetState(run: IpRunner = ipRunner()): Promise<NetState & { rules: Rule[] }> {
  const must = async (args: string[]): Promise<J[]> => {
    const r = await run(['-j', ...args]);
    if (r.code !== 0) throw new Error(`ip -j ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    return parseJson(r.stdout, args.join(' '));
  };
  const [linksJ, addrsJ, r4, r6, ru4, ru6] = await Promise.all([
    must(['-d', 'link', 'show']),
    must(['addr', 'show']),
    must(['-4', 'route', 'show', 'table', 'all']),
    // IPv6 may be disabled: an error there means no IPv6 routes
    run(['-j', '-6', 'route', 'show', 'table', 'all']).then((r) => (r.code === 0 ? parseJson(r.stdout, '-6 route') : [])),
    must(['-4', 'rule', 'show']),
    run(['-j', '-6', 'rule', 'show']).then((r) => (r.code === 0 ? parseJson(r.stdout, '-6 rule') : [])),
  ]);
  const links: Link[] = linksJ.map((l) => {
    const info = (l['linkinfo'] as J | undefined)?.['info_kind'];
    return {
      ifIndex: num(l['ifindex']) ?? 0,
      ifName: str(l['ifname']) ?? '?',
      flags: Array.isArray(l['flags']) ? (l['flags'] as unknown[]).map(String) : [],
      operstate: str(l['operstate']) ?? 'UNKNOWN',
      ...(num(l['mtu']) !== undefined ? { mtu: num(l['mtu']) } : {}),
      ...(typeof info === 'string' ? { kind: info } : {}),
      ...(str(l['link_type']) ? { linkType: str(l['link_type']) } : {}),
    };
  });
  const byName = new Map(links.map((l) => [l.ifName, l.ifIndex]));
  const idx = (n: string): number | undefined => byName.get(n);
  const addresses: Address[] = [];
  for (const l of addrsJ) {
    const ifIndex = num(l['ifindex']) ?? 0;
    for (const a of (Array.isArray(l['addr_info']) ? l['addr_info'] : []) as J[]) {
      const fam = a['family'] === 'inet6' ? 6 : a['family'] === 'inet' ? 4 : undefined;
      const local = str(a['local']);
      if (!fam || !local) continue;
      const peer = str(a['address']);
      addresses.push({
        family: fam,
        ifIndex,
        ifName: str(l['ifname']),
        address: canonicalIp(local),
        prefixLen: num(a['prefixlen']) ?? (fam === 4 ? 32 : 128),
        ...(peer && peer !== local ? { peer: canonicalIp(peer) } : {}),
        scope: str(a['scope']) ?? 'global',
        flags: ADDR_FLAGS.filter((f) => a[f] === true).concat(num(a['valid_life_time']) === 4294967295 ? ['permanent'] : []),
        ...(str(a['label']) ? { label: str(a['label']) } : {}),
      });
    }
  }
  const routes = [...r4.map((o) => routeFromIpJson(o, 4, idx)), ...r6.map((o) => routeFromIpJson(o, 6, idx))];
  const rules: Rule[] = [
    ...ru4.map((o) => ruleFromIpJson(o, 4)),
    ...ru6.map((o) => ruleFromIpJson(o, 6)),
  ];
  return { links, addresses, routes, rules };
}

function ruleFromIpJson(o: J, family: 4 | 6): Rule {
  const fw = str(o['fwmark']);
  return {
    family,
    priority: num(o['priority']) ?? 0,
    ...(o['table'] !== undefined ? { table: tableId(o['table']) } : {}),
    action: str(o['action']) ?? 'to_tbl',
    ...(fw ? { fwmark: parseInt(fw, 16) } : {}),
    ...(o['not'] === true || o['not'] === null ? { invert: true } : {}),
  };
}

/** Asks the kernel what charon's RTM_GETROUTE would get (`ip -j route get`). */
export async function kernelRouteGet(key: KernelLookupKey, run: IpRunner = ipRunner(), links?: readonly Link[]): Promise<KernelRouteAnswer> {
  const d = parseIp(key.dest);
  if (!d) return { error: `not an address: ${key.dest}` };
  const args = ['-j', d.family === 6 ? '-6' : '-4', 'route', 'get', formatIp(d)];
  if (key.candidate) args.push('from', key.candidate);
  if (key.mark !== undefined) args.push('mark', `0x${key.mark.toString(16)}`);
  const r = await run(args);
  if (r.code !== 0) return { error: r.stderr.trim().replace(/^RTNETLINK answers: /, '') || `exit ${r.code}` };
  const arr = parseJson(r.stdout, args.join(' '));
  const o = arr[0];
  if (!o) return { error: 'empty answer' };
  const byName = new Map((links ?? []).map((l) => [l.ifName, l.ifIndex]));
  const route = routeFromIpJson(o, d.family, (n) => byName.get(n));
  // route get prints the looked-up host as dst; `from <src>` is RTA_SRC with a host length
  return { route };
}

/** Fetches every missing kernel answer into a new map. */
export async function fetchKernelAnswers(
  keys: readonly KernelLookupKey[],
  known: ReadonlyMap<string, KernelRouteAnswer> = new Map(),
  run: IpRunner = ipRunner(),
  links?: readonly Link[],
): Promise<Map<string, KernelRouteAnswer>> {
  const out = new Map(known);
  for (const k of keys) {
    const id = kernelLookupKey(k);
    if (!out.has(id)) out.set(id, await kernelRouteGet(k, run, links));
  }
  return out;
}
