/**
 * Making a route fix survive a reboot, in whatever configures the gateway's network.
 *
 * For each system a generator renders the route (a RouteSpec: destination, next hop,
 * interface, `src`, table, metric) in that system's own syntax, and a parser reads the
 * same syntax back into RouteSpecs: every generator is tested by that round trip and,
 * where Debian packages the tool, by the tool's own validator (test/integration/
 * persist-validators.test.ts). The systems and what the route becomes:
 *
 * - systemd-networkd: a drop-in `<unit>.network.d/roamwatch-<peer>.conf` beside the
 *   `.network` file that matches the interface, with a `[Route]` section
 *   (Destination, Gateway, GatewayOnLink, PreferredSource, Table, Metric, Scope;
 *   systemd.network(5)); then `networkctl reload`.
 * - ifupdown / ifupdown2: `up ip route replace …` and `down ip route del …` lines in the
 *   interface's `iface` stanza (interfaces(5); ifupdown2 reads the same lines); then they
 *   run at the next `ifup`.
 * - NetworkManager (keyfile): `routeN=<dst>[,<gw>][,<metric>]` and
 *   `routeN_options=src=<local>[,table=<t>][,onlink=true]` in the `[ipv4]`/`[ipv6]` section
 *   of the connection's `.nmconnection` (nm-settings-keyfile(5)); then
 *   `nmcli connection reload` and `nmcli connection up <id>`.
 * - netplan: a file `/etc/netplan/90-roamwatch-<dev>.yaml` (netplan merges files per
 *   interface) with `routes: [{to, via, from, on-link, table, metric, scope}]`, `from` being
 *   netplan's preferred source; then `netplan apply`.
 * - FRR: `ip route <dst> <gw|dev> [table t]` for staticd, and the preferred source, which
 *   FRR static routes cannot carry, through zebra: a prefix-list for the destination, a
 *   route-map with `set src <local>` and `ip protocol static route-map …`; then
 *   `systemctl reload frr` (frr-reload).
 * - BIRD 2: a `protocol static` with `route <dst> via <gw|"dev"> { krt_prefsrc = <local>;
 *   [krt_metric = m;] };` in `/etc/bird/roamwatch.conf`, included from bird.conf; the kernel
 *   protocol must export static routes; then `birdc configure`. Main table only (another
 *   kernel table needs its own BIRD table and kernel protocol).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatIpRouteCommand, parseIpRouteCommand, type RouteSpec } from './route-spec.js';
import { readFileNoFollow, writeFileAtomic, type PersistRecord } from './journal.js';

export const NET_SYSTEMS = ['systemd-networkd', 'ifupdown', 'networkmanager', 'netplan', 'frr', 'bird'] as const;
export type NetSystem = (typeof NET_SYSTEMS)[number];

export class PersistError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PersistError';
  }
}

const safeName = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');

// --------------------------------------------------------------------- systemd-networkd

/** The `[Route]` section of a .network file (or drop-in) for this route. */
export function renderNetworkd(s: RouteSpec): string {
  const l = ['[Route]', `Destination=${s.dst}`];
  if (s.gateway) l.push(`Gateway=${s.gateway}`);
  if (s.onlink) l.push('GatewayOnLink=yes');
  if (s.prefsrc) l.push(`PreferredSource=${s.prefsrc}`);
  if (s.from) l.push(`Source=${s.from}`);
  if (s.table !== undefined && s.table !== 254) l.push(`Table=${s.table}`);
  if (s.metric !== undefined) l.push(`Metric=${s.metric}`);
  if (s.scope) l.push(`Scope=${s.scope}`);
  else if (!s.gateway) l.push('Scope=link');
  return `# roamwatch: keeps charon's path for ${s.prefsrc ?? '?'} → ${s.dst} (see roamwatch doctor)\n${l.join('\n')}\n`;
}

/** Every `[Route]` section of a .network file or drop-in. */
export function parseNetworkdRoutes(text: string, dev?: string): RouteSpec[] {
  const out: RouteSpec[] = [];
  let cur: Record<string, string> | undefined;
  const flush = (): void => {
    if (!cur) return;
    const dst = cur['Destination'];
    if (dst) {
      const fam = dst.includes(':') ? 6 : 4;
      const s: RouteSpec = { family: fam, dst: dst.includes('/') ? dst : `${dst}/${fam === 4 ? 32 : 128}` };
      if (cur['Gateway']) s.gateway = cur['Gateway'];
      if (/^(yes|true|1|on)$/i.test(cur['GatewayOnLink'] ?? '')) s.onlink = true;
      if (cur['PreferredSource']) s.prefsrc = cur['PreferredSource'];
      if (cur['Source']) s.from = cur['Source'];
      if (cur['Table']) s.table = Number(cur['Table']);
      if (cur['Metric']) s.metric = Number(cur['Metric']);
      if (cur['Scope'] && cur['Scope'] !== 'link') s.scope = cur['Scope'];
      if (dev) s.dev = dev;
      out.push(s);
    }
    cur = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      flush();
      if (sec[1] === 'Route') cur = {};
      continue;
    }
    const kv = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new PersistError(`not a systemd.network line: ${line}`);
    if (cur) cur[kv[1] as string] = (kv[2] as string).trim();
  }
  flush();
  return out;
}

/** `Name=` of a .network file's `[Match]` section. */
export function networkdMatchNames(text: string): string[] {
  let inMatch = false;
  const names: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (/^\[.+\]$/.test(line)) inMatch = line === '[Match]';
    const m = inMatch ? /^Name\s*=\s*(.+)$/.exec(line) : null;
    if (m) names.push(...(m[1] as string).split(/\s+/));
  }
  return names;
}

// ----------------------------------------------------------------------------- ifupdown

/** The lines for the interface's stanza in /etc/network/interfaces (ifupdown and ifupdown2). */
export function renderIfupdown(s: RouteSpec): string {
  const add = formatIpRouteCommand('replace', s);
  const del = formatIpRouteCommand('del', s);
  return `    # roamwatch: keeps charon's path for ${s.prefsrc ?? '?'} → ${s.dst}\n    up ${add}\n    down ${del} || true\n`;
}

/** The routes that `up ip route add|replace …` lines of an `iface <dev>` stanza create. */
export function parseIfupdownRoutes(text: string, dev?: string): RouteSpec[] {
  const out: RouteSpec[] = [];
  let iface: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const st = /^(iface|auto|allow-\S+|mapping|source|source-directory)\s+(\S+)/.exec(line);
    if (st) {
      iface = st[1] === 'iface' ? st[2] : undefined;
      continue;
    }
    const up = /^(up|post-up)\s+(ip\s+(?:-[46]\s+)?route\s+(?:add|replace)\s+.*?)(\s*\|\|\s*true)?$/.exec(line);
    if (up && iface && (!dev || iface === dev)) out.push(parseIpRouteCommand(up[2] as string).spec);
  }
  return out;
}

/** Inserts the lines after the `iface <dev> …` line (the first stanza of the interface with this family). */
export function insertIntoIfupdown(text: string, dev: string, family: 4 | 6, lines: string): string {
  const rows = text.split('\n');
  const want = family === 6 ? 'inet6' : 'inet';
  const at = rows.findIndex((l) => new RegExp(`^\\s*iface\\s+${dev.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${want}\\s`).test(`${l} `));
  if (at < 0) throw new PersistError(`no "iface ${dev} ${want} …" stanza in the file`);
  rows.splice(at + 1, 0, ...lines.replace(/\n$/, '').split('\n'));
  return rows.join('\n');
}

// ---------------------------------------------------------------------- NetworkManager

/** `routeN` and `routeN_options` keys for the connection's [ipv4]/[ipv6] section. */
export function renderNmKeyfile(s: RouteSpec, n: number): string {
  const parts = [s.dst];
  if (s.gateway || s.metric !== undefined) parts.push(s.gateway ?? (s.family === 4 ? '0.0.0.0' : '::'));
  if (s.metric !== undefined) parts.push(String(s.metric));
  const opts: string[] = [];
  if (s.prefsrc) opts.push(`src=${s.prefsrc}`);
  if (s.table !== undefined && s.table !== 254) opts.push(`table=${s.table}`);
  if (s.onlink) opts.push('onlink=true');
  if (s.from) opts.push(`from=${s.from}`);
  return `route${n}=${parts.join(',')}\n${opts.length ? `route${n}_options=${opts.join(',')}\n` : ''}`;
}

/** Routes of a keyfile's [ipv4]/[ipv6] sections. */
export function parseNmKeyfileRoutes(text: string, dev?: string): RouteSpec[] {
  const routes = new Map<string, RouteSpec>();
  let fam: 4 | 6 | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      fam = sec[1] === 'ipv4' ? 4 : sec[1] === 'ipv6' ? 6 : undefined;
      continue;
    }
    if (!fam) continue;
    const m = /^route(\d+)(_options)?\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = `${fam}/${m[1]}`;
    const r = routes.get(key) ?? { family: fam, dst: '' };
    if (m[2]) {
      for (const kv of (m[3] as string).split(',')) {
        const [k, v] = kv.split('=');
        if (k === 'src' && v) r.prefsrc = v;
        else if (k === 'table' && v) r.table = Number(v);
        else if (k === 'onlink' && v === 'true') r.onlink = true;
        else if (k === 'from' && v) r.from = v;
      }
    } else {
      const [dst, gw, metric] = (m[3] as string).split(',');
      r.dst = dst ?? '';
      if (gw && gw !== '0.0.0.0' && gw !== '::') r.gateway = gw;
      if (metric !== undefined && metric !== '') r.metric = Number(metric);
      if (dev) r.dev = dev;
    }
    routes.set(key, r);
  }
  return [...routes.values()].filter((r) => r.dst !== '');
}

/** Adds the route to a keyfile's section, numbered after the routes already there. */
export function insertIntoNmKeyfile(text: string, s: RouteSpec): string {
  const section = s.family === 6 ? '[ipv6]' : '[ipv4]';
  const rows = text.split('\n');
  let at = rows.findIndex((l) => l.trim() === section);
  if (at < 0) {
    rows.push('', section);
    at = rows.length - 1;
  }
  let end = at + 1;
  let maxN = 0;
  while (end < rows.length && !/^\s*\[.+\]\s*$/.test(rows[end] as string)) {
    const m = /^\s*route(\d+)/.exec(rows[end] as string);
    if (m) maxN = Math.max(maxN, Number(m[1]));
    end++;
  }
  while (end > at + 1 && (rows[end - 1] as string).trim() === '') end--;
  rows.splice(end, 0, ...renderNmKeyfile(s, maxN + 1).replace(/\n$/, '').split('\n'));
  return rows.join('\n');
}

// ------------------------------------------------------------------------------ netplan

export function renderNetplan(s: RouteSpec, opts: { dev: string; kind?: string }): string {
  const route: Record<string, unknown> = { to: s.dst };
  if (s.gateway) route['via'] = s.gateway;
  if (s.prefsrc) route['from'] = s.prefsrc;
  if (s.onlink) route['on-link'] = true;
  if (!s.gateway) route['scope'] = 'link';
  if (s.table !== undefined && s.table !== 254) route['table'] = s.table;
  if (s.metric !== undefined) route['metric'] = s.metric;
  const doc = { network: { version: 2, [opts.kind ?? 'ethernets']: { [opts.dev]: { routes: [route] } } } };
  return `# roamwatch: keeps charon's path for ${s.prefsrc ?? '?'} → ${s.dst} (see roamwatch doctor)\n${stringifyYaml(doc)}`;
}

export function parseNetplanRoutes(text: string): RouteSpec[] {
  const doc = parseYaml(text) as { network?: Record<string, unknown> } | undefined;
  const out: RouteSpec[] = [];
  for (const [kind, devs] of Object.entries(doc?.network ?? {})) {
    if (kind === 'version' || typeof devs !== 'object' || devs === null) continue;
    for (const [dev, cfg] of Object.entries(devs as Record<string, { routes?: Record<string, unknown>[] }>)) {
      for (const r of cfg?.routes ?? []) {
        const to = String(r['to']);
        const fam = to.includes(':') ? 6 : 4;
        const s: RouteSpec = { family: fam, dst: to === 'default' ? (fam === 4 ? '0.0.0.0/0' : '::/0') : to, dev };
        if (r['via']) s.gateway = String(r['via']);
        if (r['from']) s.prefsrc = String(r['from']);
        if (r['on-link'] === true) s.onlink = true;
        if (r['table'] !== undefined) s.table = Number(r['table']);
        if (r['metric'] !== undefined) s.metric = Number(r['metric']);
        if (r['scope'] !== undefined && r['scope'] !== 'link') s.scope = String(r['scope']);
        out.push(s);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------- FRR

export function renderFrr(s: RouteSpec, opts: { name: string }): string {
  const v = s.family === 6 ? 'ipv6' : 'ip';
  const nh = s.gateway ? `${s.gateway}${s.dev ? ` ${s.dev}` : ''}${s.onlink ? ' onlink' : ''}` : (s.dev ?? '');
  if (!nh) throw new PersistError('FRR needs a next hop or an interface for the static route');
  const n = safeName(opts.name);
  const lines = [
    `! roamwatch: keeps charon's path for ${s.prefsrc ?? '?'} → ${s.dst} (see roamwatch doctor)`,
    // a number after the next hop would be FRR's administrative distance, not the kernel
    // metric; zebra installs static routes with its own metric, so the metric is left out
    `${v} route ${s.dst} ${nh}${s.table !== undefined && s.table !== 254 ? ` table ${s.table}` : ''}`,
  ];
  if (s.metric !== undefined) lines.splice(1, 0, `! kernel metric ${s.metric} cannot be set on an FRR static route: zebra installs it with its own metric`);
  if (s.prefsrc) {
    lines.push(
      `${v} prefix-list roamwatch-${n} seq 5 permit ${s.dst}`,
      `route-map roamwatch-src permit 10`,
      ` match ${v} address prefix-list roamwatch-${n}`,
      ` set src ${s.prefsrc}`,
      'exit',
      'route-map roamwatch-src permit 65535',
      'exit',
      `${v} protocol static route-map roamwatch-src`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Static routes of an FRR config, with the `set src` that zebra's route-map gives them. */
export function parseFrrRoutes(text: string): RouteSpec[] {
  const lines = text.split('\n').map((l) => l.trim());
  const prefixLists = new Map<string, string>();
  const mapSrc = new Map<string, { list: string | undefined; src: string | undefined }[]>();
  const protoMap: Record<4 | 6, string | undefined> = { 4: undefined, 6: undefined };
  const routes: RouteSpec[] = [];
  let rm: { list: string | undefined; src: string | undefined } | undefined;
  for (const line of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^(ip|ipv6) prefix-list (\S+) seq \d+ permit (\S+)$/.exec(line))) prefixLists.set(m[2] as string, m[3] as string);
    else if ((m = /^route-map (\S+) permit \d+$/.exec(line))) {
      rm = { list: undefined, src: undefined };
      mapSrc.set(m[1] as string, [...(mapSrc.get(m[1] as string) ?? []), rm]);
    } else if (rm && (m = /^match (?:ip|ipv6) address prefix-list (\S+)$/.exec(line))) rm.list = m[1];
    else if (rm && (m = /^set src (\S+)$/.exec(line))) rm.src = m[1];
    else if ((m = /^(ip|ipv6) protocol static route-map (\S+)$/.exec(line))) protoMap[m[1] === 'ipv6' ? 6 : 4] = m[2];
    else if ((m = /^(ip|ipv6) route (\S+) (.+)$/.exec(line))) {
      const fam: 4 | 6 = m[1] === 'ipv6' ? 6 : 4;
      const s: RouteSpec = { family: fam, dst: m[2] as string };
      const w = (m[3] as string).split(/\s+/);
      for (let i = 0; i < w.length; i++) {
        const x = w[i] as string;
        if (x === 'table') s.table = Number(w[++i]);
        else if (x === 'onlink') s.onlink = true;
        else if (/^\d+$/.test(x)) continue; // administrative distance
        else if (x.includes(fam === 4 ? '.' : ':')) s.gateway = x;
        else s.dev = x;
      }
      routes.push(s);
    } else if (line === 'exit' || line === '!') rm = undefined;
  }
  for (const s of routes) {
    const map = protoMap[s.family];
    for (const e of (map && mapSrc.get(map)) || []) {
      if (e.src && e.list && prefixLists.get(e.list) === s.dst) s.prefsrc = e.src;
    }
  }
  return routes;
}

// --------------------------------------------------------------------------------- BIRD

export function renderBird(s: RouteSpec, opts: { name: string }): string {
  if (s.table !== undefined && s.table !== 254) throw new PersistError(`BIRD: a route in kernel table ${s.table} needs its own BIRD table and kernel protocol; use a main-table fix (or another system)`);
  // `gw%iface` only parses for names that are BIRD symbols (no dash); otherwise BIRD finds the
  // interface from the gateway's neighbour entry, which an onlink gateway does not have.
  const symbolIf = s.dev !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s.dev);
  if (s.gateway && s.onlink && !symbolIf) throw new PersistError(`BIRD: an onlink next hop needs "gw%iface", which BIRD cannot parse for the interface name ${s.dev ?? '(none)'}`);
  const via = s.gateway ? `${s.gateway}${symbolIf ? `%${s.dev}` : ''}${s.onlink ? ' onlink' : ''}` : s.dev ? `"${s.dev}"` : '';
  if (!via) throw new PersistError('BIRD needs a next hop or an interface for the static route');
  const attrs = [s.prefsrc ? `krt_prefsrc = ${s.prefsrc};` : '', s.metric !== undefined ? `krt_metric = ${s.metric};` : ''].filter(Boolean).join(' ');
  return [
    `# roamwatch: keeps charon's path for ${s.prefsrc ?? '?'} → ${s.dst}; the kernel protocol must export it (export all, or a filter that accepts it)`,
    `protocol static roamwatch_${safeName(opts.name).replace(/[.-]/g, '_')} {`,
    `  ${s.family === 6 ? 'ipv6' : 'ipv4'};`,
    `  route ${s.dst} via ${via}${attrs ? ` { ${attrs} }` : ''};`,
    '}',
    '',
  ].join('\n');
}

export function parseBirdRoutes(text: string): RouteSpec[] {
  const out: RouteSpec[] = [];
  const re = /route\s+(\S+)\s+via\s+("([^"]+)"|(\S+?)(?:%(\S+?))?)(\s+onlink)?\s*(?:\{([^}]*)\})?\s*;/g;
  for (const m of text.matchAll(re)) {
    const dst = m[1] as string;
    const s: RouteSpec = { family: dst.includes(':') ? 6 : 4, dst };
    if (m[3]) s.dev = m[3];
    if (m[4]) s.gateway = m[4];
    if (m[5]) s.dev = m[5];
    if (m[6]) s.onlink = true;
    const src = /krt_prefsrc\s*=\s*([^;\s]+)/.exec(m[7] ?? '');
    if (src) s.prefsrc = src[1];
    const metric = /krt_metric\s*=\s*(\d+)/.exec(m[7] ?? '');
    if (metric) s.metric = Number(metric[1]);
    out.push(s);
  }
  return out;
}

// ---------------------------------------------------------------- detection and writing

/** Where the network configuration lives; `root` prefixes every path (tests, chroots). */
export interface PersistContext {
  root?: string;
}

export interface DetectedSystem {
  system: NetSystem;
  /** netplan: the device type key that defines the interface (ethernets, bonds, vlans, …). */
  netplanKind?: string;
  /** The file that holds (or would hold) the interface's configuration. */
  file: string;
  why: string;
}

function ls(dir: string, re: RegExp): string[] {
  try {
    return readdirSync(dir).filter((n) => re.test(n)).sort().map((n) => join(dir, n));
  } catch {
    return [];
  }
}

function readSafe(path: string): string | undefined {
  try {
    return readFileNoFollow(path);
  } catch {
    return undefined;
  }
}

/**
 * Which systems configure `dev` on this machine (several can: e.g. ifupdown for the
 * interface and BIRD for routes). Order: the ones that own the interface first
 * (netplan, NetworkManager, systemd-networkd, ifupdown), then routing daemons.
 */
export function detectNetSystems(dev: string | undefined, ctx: PersistContext = {}): DetectedSystem[] {
  const r = (p: string): string => join(ctx.root ?? '/', p);
  const out: DetectedSystem[] = [];
  const plans = ls(r('etc/netplan'), /\.ya?ml$/);
  if (plans.length > 0 && dev) {
    let owner: { file: string; kind: string } | undefined;
    for (const f of plans) {
      const kind = parseNetplanDevs(readSafe(f) ?? '').find((x) => x.dev === dev)?.kind;
      if (kind) owner = { file: f, kind };
    }
    out.push({
      system: 'netplan',
      file: r(`etc/netplan/90-roamwatch-${safeName(dev)}.yaml`),
      ...(owner ? { netplanKind: owner.kind } : {}),
      why: owner ? `${owner.file} configures ${dev} (${owner.kind})` : `${plans.length} netplan file(s) in /etc/netplan`,
    });
  }
  const nm = ls(r('etc/NetworkManager/system-connections'), /\.nmconnection$/).find((f) => new RegExp(`^interface-name=${dev ?? '\\0'}$`, 'm').test(readSafe(f) ?? ''));
  if (nm) out.push({ system: 'networkmanager', file: nm, why: `${nm} has interface-name=${dev}` });
  const nw = ls(r('etc/systemd/network'), /\.network$/).find((f) => dev !== undefined && networkdMatchNames(readSafe(f) ?? '').some((n) => globMatch(n, dev)));
  if (nw && plans.length === 0) out.push({ system: 'systemd-networkd', file: join(`${nw}.d`, `roamwatch.conf`), why: `${nw} matches ${dev}` });
  const ifs = [r('etc/network/interfaces'), ...ls(r('etc/network/interfaces.d'), /^[A-Za-z0-9_-]+$/)].find((f) => dev !== undefined && new RegExp(`^\\s*iface\\s+${dev}\\s`, 'm').test(readSafe(f) ?? ''));
  if (ifs) out.push({ system: 'ifupdown', file: ifs, why: `${ifs} has an iface ${dev} stanza${existsSync(r('usr/share/ifupdown2')) ? ' (ifupdown2)' : ''}` });
  if (existsSync(r('etc/frr/frr.conf'))) out.push({ system: 'frr', file: r('etc/frr/frr.conf'), why: '/etc/frr/frr.conf exists' });
  const bird = [r('etc/bird/bird.conf'), r('etc/bird.conf')].find((f) => existsSync(f));
  if (bird) out.push({ system: 'bird', file: join(dirname(bird), 'roamwatch.conf'), why: `${bird} exists` });
  return out;
}

function parseNetplanDevs(text: string): { kind: string; dev: string }[] {
  try {
    const doc = parseYaml(text) as { network?: Record<string, unknown> } | undefined;
    return Object.entries(doc?.network ?? {}).flatMap(([k, v]) => (k === 'version' || typeof v !== 'object' || v === null ? [] : Object.keys(v).map((dev) => ({ kind: k, dev }))));
  } catch {
    return [];
  }
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

export interface Snippet {
  system: NetSystem;
  file: string;
  /** The text to add (the whole file for new files). */
  text: string;
  /** The file's complete new content, when roamwatch would write it. */
  content: string;
  /** What to run so the system picks it up (roamwatch does not run it: the live route is already in place). */
  then: string;
  notes: string[];
}

/** The snippet for one system, and the file content it results in. */
export function planPersist(d: DetectedSystem, s: RouteSpec, opts: { name: string }): Snippet {
  const existing = readSafe(d.file);
  switch (d.system) {
    case 'systemd-networkd': {
      const text = renderNetworkd(s);
      return { system: d.system, file: d.file, text, content: existing ? `${existing.replace(/\n*$/, '\n\n')}${text}` : text, then: 'networkctl reload', notes: [] };
    }
    case 'netplan': {
      if (!s.dev) throw new PersistError('netplan needs the interface (dev) of the route');
      const kind = d.netplanKind ?? 'ethernets';
      const text = renderNetplan(s, { dev: s.dev, kind });
      const content = existing ? mergeNetplan(existing, s, s.dev, kind) : text;
      return { system: d.system, file: d.file, text, content, then: 'netplan apply', notes: ['netplan merges this file with the one that defines the interface; keep the interface under the same key (ethernets, bonds, …)'] };
    }
    case 'networkmanager': {
      const text = renderNmKeyfile(s, 1);
      if (existing === undefined) throw new PersistError(`${d.file} cannot be read`);
      return { system: d.system, file: d.file, text, content: insertIntoNmKeyfile(existing, s), then: `nmcli connection reload && nmcli connection up <this connection>`, notes: ['the route number is the next free one in that section'] };
    }
    case 'ifupdown': {
      if (!s.dev) throw new PersistError('ifupdown needs the interface (dev) of the route');
      const text = renderIfupdown(s);
      if (existing === undefined) throw new PersistError(`${d.file} cannot be read`);
      return { system: d.system, file: d.file, text, content: insertIntoIfupdown(existing, s.dev, s.family, text), then: `nothing now (the lines run at the next ifup ${s.dev})`, notes: [] };
    }
    case 'frr': {
      const text = renderFrr(s, opts);
      if (existing !== undefined && /^(ip|ipv6) protocol static route-map /m.test(existing)) {
        throw new PersistError(`${d.file} already sets a route-map for static routes: add "match … / set src ${s.prefsrc ?? ''}" to it by hand (snippet printed)`);
      }
      return { system: d.system, file: d.file, text, content: `${(existing ?? '').replace(/\n*$/, '\n')}${text}`, then: 'systemctl reload frr', notes: [] };
    }
    case 'bird': {
      const text = renderBird(s, opts);
      return {
        system: d.system,
        file: d.file,
        text,
        content: `${existing ? existing.replace(/\n*$/, '\n') : ''}${text}`,
        then: `add include "${basename(d.file)}"; to bird.conf once, then: birdc configure`,
        notes: ['the kernel protocol must export static routes (export all, or a filter that accepts them)'],
      };
    }
  }
}

function mergeNetplan(existing: string, s: RouteSpec, dev: string, kind: string): string {
  const doc = (parseYaml(existing) as { network?: Record<string, Record<string, { routes?: unknown[] }>> }) ?? {};
  const gen = parseYaml(renderNetplan(s, { dev, kind })) as { network: Record<string, Record<string, { routes: unknown[] }>> };
  doc.network ??= {};
  const devs = (doc.network[kind] ??= {});
  const d = (devs[dev] ??= {});
  d.routes = [...(d.routes ?? []), ...(gen.network[kind]?.[dev]?.routes ?? [])];
  return `# roamwatch: routes that keep charon's paths (see roamwatch doctor)\n${stringifyYaml({ network: { version: 2, ...doc.network } })}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Writes the snippet (backing up the file first); the record goes into the journal. */
export function writePersist(sn: Snippet, opts: { backupSuffix: string }): PersistRecord {
  let backup: string | undefined;
  if (existsSync(sn.file)) {
    if (lstatSync(sn.file).isSymbolicLink()) throw new PersistError(`${sn.file} is a symlink: refusing to write through it`);
    backup = `${sn.file}.roamwatch-${opts.backupSuffix}.bak`;
    copyFileSync(sn.file, backup, constants.COPYFILE_EXCL);
  }
  if (sn.system === 'systemd-networkd') mkdirSync(dirname(sn.file), { recursive: true, mode: 0o755 });
  const mode = sn.system === 'netplan' ? 0o600 : existsSync(sn.file) ? lstatSync(sn.file).mode & 0o777 : 0o644;
  try {
    writeFileAtomic(sn.file, sn.content, mode);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new PersistError(`cannot write ${sn.file}: its directory does not exist (${dirname(sn.file)})`);
    throw err;
  }
  return { system: sn.system, file: sn.file, ...(backup ? { backup } : {}), sha256: sha256(sn.content) };
}

/** Puts the file back as it was (backup, or removes the file roamwatch created); refuses over later edits. */
export function revertPersist(rec: PersistRecord): string {
  const now = readSafe(rec.file);
  if (now === undefined) return `${rec.file} is gone already`;
  if (sha256(now) !== rec.sha256) throw new PersistError(`${rec.file} was edited after roamwatch wrote it: not restoring ${rec.backup ?? '(no backup: roamwatch created it)'} over it`);
  if (rec.backup) {
    writeFileAtomic(rec.file, readFileNoFollow(rec.backup), lstatSync(rec.file).mode & 0o777);
    unlinkSync(rec.backup);
    return `restored ${rec.file} from its backup`;
  }
  unlinkSync(rec.file);
  return `removed ${rec.file}`;
}

/** Reads back the routes a system's file defines (the round trip every generator is tested with). */
export function parsePersisted(system: NetSystem, text: string, dev?: string): RouteSpec[] {
  switch (system) {
    case 'systemd-networkd':
      return parseNetworkdRoutes(text, dev);
    case 'ifupdown':
      return parseIfupdownRoutes(text, dev);
    case 'networkmanager':
      return parseNmKeyfileRoutes(text, dev);
    case 'netplan':
      return parseNetplanRoutes(text);
    case 'frr':
      return parseFrrRoutes(text);
    case 'bird':
      return parseBirdRoutes(text);
  }
}
