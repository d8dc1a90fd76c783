/**
 * The strongswan.conf settings that decide whether and how charon re-checks an IKE_SA's
 * path, with charon's defaults, read the way charon reads them (namespace `charon`,
 * kernel-netlink's `%s.plugins.kernel-netlink.*`). Sources: kernel_netlink_net.c
 * (kernel_netlink_net_create, manage_rule), kernel_interface.c (interfaces_use/ignore),
 * ike_sa.c (make_before_break, prefer_best_path, check_current_path).
 */
import { existsSync } from 'node:fs';
import { asBool, asInt, emptySection, loadStrongswanConf, lookupValue, type ConfFs, type ConfSection, type ParsedConf } from './strongswan-conf.js';

export interface CharonVersion {
  major: number;
  minor: number;
  patch: number;
  /** As given, e.g. `5.9.8` or `5.9.8-5+deb12u6`. */
  text: string;
}

/** The version we model when none is known: Debian 12's charon. */
export const DEFAULT_CHARON_VERSION = '5.9.8';

export function parseCharonVersion(text: string | undefined): CharonVersion {
  const t = text ?? DEFAULT_CHARON_VERSION;
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(t);
  if (!m) return { ...parseCharonVersion(DEFAULT_CHARON_VERSION), text: t };
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: t };
}

export function versionAtLeast(v: CharonVersion, major: number, minor: number, patch: number): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export interface Fwmark {
  value: number;
  mask: number;
  /** `!` prefix: the rule matches packets *without* the mark. */
  invert: boolean;
  text: string;
}

/** Where a setting's value came from: a file and line, or charon's built-in default. */
export type SettingOrigin = { file: string; line: number } | 'default';

export interface CharonSettings {
  /** charon.process_route (yes): react to RTM_NEWROUTE/RTM_DELROUTE. */
  processRoute: boolean;
  /** charon.plugins.kernel-netlink.roam_events (yes): fire roam events at all. */
  roamEvents: boolean;
  /** charon.plugins.kernel-netlink.process_rules (no): react to rule changes. */
  processRules: boolean;
  /** charon.routing_table (220 in strongSwan's and Debian's build; 0 = none). */
  routingTable: number;
  routingTablePrio: number;
  /** charon.ignore_routing_tables: tables skipped by the route lookup. */
  ignoreRoutingTables: number[];
  /** charon.install_routes (yes). With `no`, the source lookup asks the kernel (RTM_GETROUTE). */
  installRoutes: boolean;
  /** charon.plugins.kernel-netlink.fwmark, parsed. */
  fwmark: Fwmark | undefined;
  /** charon.interfaces_use / interfaces_ignore (use wins when both are set). */
  interfacesUse: string[] | undefined;
  interfacesIgnore: string[] | undefined;
  /** charon.make_before_break (no in 5.x, yes since 6.0). */
  makeBeforeBreak: boolean;
  /** charon.prefer_best_path (no): with MOBIKE, the path must be the *best* one. */
  preferBestPath: boolean;
  /** charon.check_current_path (no): DPD after a roam event that kept the path. */
  checkCurrentPath: boolean;
  /** charon.plugins.socket-default.use_ipv4 / use_ipv6 (yes): families is_any_path_valid() tries. */
  useIpv4: boolean;
  useIpv6: boolean;
  /** Where each of the above came from (key = strongswan.conf key). */
  origins: Record<string, SettingOrigin>;
  /** The files read (empty when only defaults are used). */
  files: string[];
  warnings: string[];
}

/** ROUTING_TABLE / ROUTING_TABLE_PRIO of strongSwan's configure default (and Debian's package). */
export const DEFAULT_ROUTING_TABLE = 220;

function parseMark(text: string): Fwmark | undefined {
  let t = text.trim();
  const invert = t.startsWith('!');
  if (invert) t = t.slice(1);
  const [v, m] = t.split('/');
  const num = (s: string | undefined): number | undefined => {
    if (s === undefined || s === '') return undefined;
    const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^0[0-7]*$/.test(s) ? parseInt(s, 8) : /^\d+$/.test(s) ? Number(s) : NaN;
    return Number.isFinite(n) ? n >>> 0 : undefined;
  };
  const value = num(v);
  if (value === undefined) return undefined;
  const mask = m === undefined ? 0xffffffff : num(m);
  if (mask === undefined) return undefined;
  return { value: value & mask, mask, invert, text };
}

function list(v: string | undefined, sep: RegExp): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(sep).filter((s) => s.length > 0);
}

export interface ResolveSettingsOptions {
  /** charon's settings namespace (lib->ns): `charon`, or e.g. `charon-systemd` (falls back to `charon`). */
  namespace?: string;
  charonVersion?: string;
  /** Overrides the compiled-in routing table default (220). */
  defaultRoutingTable?: number;
}

/** Resolves the settings from a parsed strongswan.conf (or from nothing: charon's defaults). */
export function resolveCharonSettings(conf: ParsedConf | undefined, opts: ResolveSettingsOptions = {}): CharonSettings {
  const root: ConfSection = conf?.root ?? emptySection();
  const version = parseCharonVersion(opts.charonVersion);
  const ns = opts.namespace ?? 'charon';
  const origins: Record<string, SettingOrigin> = {};
  const raw = (key: string): string | undefined => {
    const nsKeys = ns === 'charon' ? [`charon.${key}`] : [`${ns}.${key}`, `charon.${key}`];
    for (const k of nsKeys) {
      const v = lookupValue(root, k);
      if (v) {
        origins[`charon.${key}`] = { file: v.file, line: v.line };
        return v.value;
      }
    }
    origins[`charon.${key}`] = 'default';
    return undefined;
  };
  const interfacesUse = list(raw('interfaces_use'), /[ ,]+/);
  const fwmarkText = raw('plugins.kernel-netlink.fwmark');
  return {
    processRoute: asBool(raw('process_route'), true),
    roamEvents: asBool(raw('plugins.kernel-netlink.roam_events'), true),
    processRules: asBool(raw('plugins.kernel-netlink.process_rules'), false),
    routingTable: asInt(raw('routing_table'), opts.defaultRoutingTable ?? DEFAULT_ROUTING_TABLE),
    routingTablePrio: asInt(raw('routing_table_prio'), opts.defaultRoutingTable ?? DEFAULT_ROUTING_TABLE),
    ignoreRoutingTables: (list(raw('ignore_routing_tables'), / +/) ?? []).map((t) => Number(t)).filter((n) => Number.isInteger(n)),
    installRoutes: asBool(raw('install_routes'), true),
    fwmark: fwmarkText !== undefined ? parseMark(fwmarkText) : undefined,
    interfacesUse,
    // kernel_interface.c reads interfaces_ignore only when interfaces_use is absent.
    interfacesIgnore: interfacesUse === undefined ? list(raw('interfaces_ignore'), /[ ,]+/) : undefined,
    makeBeforeBreak: asBool(raw('make_before_break'), versionAtLeast(version, 6, 0, 0)),
    preferBestPath: asBool(raw('prefer_best_path'), false),
    checkCurrentPath: asBool(raw('check_current_path'), false),
    useIpv4: asBool(raw('plugins.socket-default.use_ipv4'), true),
    useIpv6: asBool(raw('plugins.socket-default.use_ipv6'), true),
    origins,
    files: conf?.files ?? [],
    warnings: conf?.warnings ?? [],
  };
}

/** charon's defaults, as if strongswan.conf were empty. */
export function defaultCharonSettings(opts: ResolveSettingsOptions = {}): CharonSettings {
  return resolveCharonSettings(undefined, opts);
}

/** The strongswan.conf charon reads: `--strongswan-conf`, else $STRONGSWAN_CONF, else /etc/strongswan.conf. */
export function strongswanConfPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env['STRONGSWAN_CONF'] ?? '/etc/strongswan.conf';
}

/**
 * Loads the settings charon uses. A missing file means charon's defaults (charon itself
 * starts without one), reported as a warning.
 */
export function loadCharonSettings(
  opts: ResolveSettingsOptions & { path?: string; env?: NodeJS.ProcessEnv; fs?: ConfFs } = {},
): CharonSettings {
  const path = strongswanConfPath(opts.path, opts.env);
  if (!opts.fs && !existsSync(path)) {
    const s = resolveCharonSettings(undefined, opts);
    s.warnings.push(`${path} does not exist: using charon's defaults`);
    return s;
  }
  return resolveCharonSettings(loadStrongswanConf(path, { fs: opts.fs }), opts);
}

/** kernel_interface.c is_interface_usable(). */
export function isInterfaceUsable(settings: CharonSettings, ifname: string): boolean {
  if (settings.interfacesUse) return settings.interfacesUse.includes(ifname);
  if (settings.interfacesIgnore) return !settings.interfacesIgnore.includes(ifname);
  return true;
}

/**
 * Whether charon's get_route() asks the kernel (RTM_GETROUTE without NLM_F_DUMP, the
 * candidate as RTA_SRC) instead of dumping and searching all routes itself:
 * - an inverted fwmark (`!mark`) on charon's routing rule (only set up when routing_table
 *   is not 0) with a non-zero value: the lookup carries RTA_MARK;
 * - install_routes = no (for IPv4 always; for IPv6 also).
 */
export function usesKernelLookup(settings: CharonSettings): { kernel: boolean; mark: number | undefined; why: string } {
  if (settings.routingTable !== 0 && settings.fwmark?.invert && settings.fwmark.value !== 0) {
    return { kernel: true, mark: settings.fwmark.value, why: `fwmark = ${settings.fwmark.text} (inverted) on charon's routing rule` };
  }
  if (!settings.installRoutes) return { kernel: true, mark: undefined, why: 'install_routes = no' };
  return { kernel: false, mark: undefined, why: 'charon dumps all routes and searches them (install_routes = yes)' };
}
