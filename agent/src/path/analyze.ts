/**
 * The path analyzer: for one IKE_SA, what charon's ike_sa.roam() will do on the next roam
 * event (strongSwan 5.9.x, src/libcharon/sa/ike_sa.c: roam(), is_current_path_valid(),
 * is_any_path_valid()), and why. Pure: the routing state, charon's settings and (in
 * kernel-lookup mode) the kernel's answers come in; a verdict goes out.
 *
 * roam(address) in 5.9.x, step by step:
 *  1. states CREATED, DELETING, DESTROYING, PASSIVE, REKEYED: nothing;
 *  2. IKEv1: nothing (no MOBIKE, reauth would not be enough);
 *  3. MOBIKE not negotiated and local_addrs contains the SA's local address as a literal
 *     IP (since 5.5.2): "keeping statically configured path", nothing;
 *  4. is_current_path_valid(): get_source_addr(peer, candidate = local address) must
 *     return the local address (with MOBIKE and prefer_best_path: get_source_addr(peer)
 *     without candidate must) → "keeping connection path" (valid);
 *  5. otherwise is_any_path_valid(): any source at all towards the peer? If not:
 *     "no route found to reach peer, MOBIKE update deferred", the SA is marked stale;
 *  6. MOBIKE: address update (initiator) / address list update (responder);
 *  7. not the original initiator: the SA is marked stale, no reauth;
 *  8. original initiator: "reauthenticating IKE_SA due to address change".
 * Roam events only fire at all when plugins.kernel-netlink.roam_events is on; route
 * changes only when process_route is on, rule changes only with process_rules.
 *
 * VICI does not say whether MOBIKE was negotiated. The best evidence available is used
 * (see mobikeEvidence()); when it cannot be decided and the outcome depends on it, the
 * verdict is `unknown` and the reason says both outcomes.
 */
import type { Connection, Fix, IkeSa, PathVerdict, Verdict } from '@roamwatch/core';
import { canonicalIp, ipEquals, isIpLiteral, parseIp } from './ip.js';
import { formatRoute, getSourceAddr, type KernelLookupKey, type KernelRouteAnswer, type LookupResult, type NetState } from './lookup.js';
import { suggestFixes } from './fixes.js';
import { parseCharonVersion, usesKernelLookup, versionAtLeast, type CharonSettings, type CharonVersion } from './settings.js';
import { decidingRule, VERSION_RULES, type VersionRule } from './version-rules.js';

export type Consequence = NonNullable<PathVerdict['consequence']>;

/** Kinds of kernel change that make charon run roam() for every IKE_SA. */
export type RoamTrigger = 'route' | 'address' | 'link' | 'rule';

export interface MobikeEvidence {
  /** true/false when known, undefined when it cannot be decided. */
  negotiated: boolean | undefined;
  evidence: string;
}

export interface AnalyzeOptions {
  /** `mobike` of this connection in swanctl.conf (default yes there), when known. */
  mobikeConfigured?: boolean | undefined;
  /** Overrides all evidence (e.g. from a log line showing N(MOBIKE_SUP) both ways). */
  mobikeNegotiated?: boolean | undefined;
  /** Kernel answers for kernel-lookup mode, keyed by kernelLookupKey(). */
  kernelAnswers?: ReadonlyMap<string, KernelRouteAnswer>;
  /** Charon's virtual IPs. */
  virtualIps?: readonly string[];
}

export interface PathAnalysis {
  ikeSaName: string;
  uniqueId: string;
  localHost: string | undefined;
  remoteHost: string | undefined;
  verdict: Verdict;
  reasonCode: string;
  reason: string;
  consequence: Consequence | undefined;
  /** The route that keeps the path valid, or the one charon would move to (`ip route` syntax). */
  route: string | undefined;
  fixes: Fix[];
  /** Which changes make charon run this check now (empty: none do). */
  triggers: RoamTrigger[];
  mobike: MobikeEvidence;
  /** How charon looks up routes and what it found. */
  lookup: { mode: 'dump' | 'kernel'; modeWhy: string; src: string | undefined; via: LookupResult['via']; steps: string[] } | undefined;
  /** Kernel lookups needed for a verdict but not supplied (kernel mode): fetch them and analyze again. */
  missingKernelLookups: KernelLookupKey[];
  charonVersion: string;
  /** The version-specific rule that decided the verdict (`common` when every modelled version agrees). */
  rule: VersionRule;
}

const NOT_CHECKED_STATES = new Set(['CREATED', 'DELETING', 'DESTROYING', 'PASSIVE', 'REKEYED']);

/** Which kinds of change fire roam events with these settings. */
export function roamTriggers(settings: CharonSettings): RoamTrigger[] {
  if (!settings.roamEvents) return [];
  const t: RoamTrigger[] = ['address', 'link'];
  if (settings.processRoute) t.unshift('route');
  if (settings.processRules) t.push('rule');
  return t;
}

/**
 * What the SA tells about MOBIKE. Charon's initiator switches to port 4500 after
 * IKE_SA_INIT when its config enables MOBIKE (and the peer supports NAT-T), NAT or not
 * (ike_natd.c process_i); so an SA on ports 500/500 without NAT did not negotiate MOBIKE.
 */
export function mobikeEvidence(sa: IkeSa, configured: boolean | undefined): MobikeEvidence {
  const nat = sa.natLocal === true || sa.natRemote === true;
  const p500 = sa.localPort === 500 && sa.remotePort === 500;
  const p4500 = sa.localPort === 4500 && sa.remotePort === 4500;
  if (configured === false) return { negotiated: false, evidence: 'mobike = no in swanctl.conf' };
  if (p500 && !nat) {
    return { negotiated: false, evidence: 'ports 500/500 without NAT: the initiator did not enable MOBIKE (it would have moved to 4500)' };
  }
  if (configured === true && p4500 && !nat) {
    return { negotiated: true, evidence: 'mobike = yes in swanctl.conf and ports 4500/4500 without NAT (the initiator enabled MOBIKE)' };
  }
  if (configured === true) return { negotiated: undefined, evidence: 'mobike = yes in swanctl.conf, but NAT hides whether the peer agreed' };
  if (p4500 && !nat && sa.initiator === true) {
    return { negotiated: undefined, evidence: 'ports 4500/4500 without NAT: our config enables MOBIKE; whether the peer agreed is not visible over VICI' };
  }
  return { negotiated: undefined, evidence: 'VICI does not report MOBIKE and neither the config nor the ports decide it' };
}

/** ike_cfg_has_address(): is `local` one of local_addrs as a literal IP? */
export function hasStaticLocalAddress(conn: Connection | undefined, local: string): boolean {
  if (!conn) return false;
  return conn.localAddrs.some((a) => isIpLiteral(a) && ipEquals(a, local));
}

interface Branch {
  verdict: Verdict;
  reasonCode: string;
  reason: string;
  consequence: Consequence | undefined;
  route: string | undefined;
  fixes: Fix[];
  lookup: PathAnalysis['lookup'];
  missing: KernelLookupKey[];
}

function describeVia(r: LookupResult): string {
  switch (r.via) {
    case 'prefsrc':
      return 'its preferred source (src) is the local address';
    case 'prefsrc-oif':
      return 'the local address is on its interface';
    case 'rta-src':
      return 'its source prefix (from) contains the local address';
    case 'oif':
      return 'the local address is on its interface';
    case 'gateway':
      return `the route to its gateway leads to the local address${r.gatewayRoute ? ` (${formatRoute(r.gatewayRoute)})` : ''}`;
    default:
      return '';
  }
}

function validCode(r: LookupResult, mode: 'dump' | 'kernel'): string {
  if (mode === 'kernel') return 'kernel-route-keeps-source';
  switch (r.via) {
    case 'prefsrc':
    case 'prefsrc-oif':
      return r.via === 'prefsrc' ? 'route-with-prefsrc' : 'address-on-route-interface';
    case 'rta-src':
      return 'route-with-rta-src';
    case 'oif':
      return 'address-on-route-interface';
    case 'gateway':
      return 'gateway-recursion';
    default:
      return 'route-keeps-source';
  }
}

function evaluate(
  net: NetState,
  sa: IkeSa,
  conn: Connection | undefined,
  settings: CharonSettings,
  version: CharonVersion,
  mobike: boolean,
  opts: AnalyzeOptions,
): Branch {
  const local = canonicalIp(sa.localHost as string);
  const peer = canonicalIp(sa.remoteHost as string);
  const fam = parseIp(peer)?.family;
  if (!mobike && versionAtLeast(version, 5, 5, 2) && hasStaticLocalAddress(conn, local)) {
    return {
      verdict: 'immune',
      reasonCode: 'static-local-address',
      reason: `local_addrs lists ${local} literally and MOBIKE is not in use: charon keeps the statically configured path without looking at routes`,
      consequence: 'none',
      route: undefined,
      fixes: [],
      lookup: undefined,
      missing: [],
    };
  }
  const km = usesKernelLookup(settings);
  const mode: 'dump' | 'kernel' = km.kernel ? 'kernel' : 'dump';
  const lopts = {
    settings,
    mode,
    mark: km.mark,
    kernelAnswers: opts.kernelAnswers,
    virtualIps: opts.virtualIps,
    considerRtaSrc: versionAtLeast(version, 5, 5, 1),
  };
  const bestPath = mobike && settings.preferBestPath;
  const cur = getSourceAddr(net, peer, bestPath ? undefined : local, lopts);
  const steps = cur.steps.map((s) => `${'  '.repeat(s.depth)}${s.text}`);
  const lookupInfo = (r: LookupResult, extra: string[] = []): PathAnalysis['lookup'] => ({
    mode,
    modeWhy: km.why,
    src: r.src,
    via: r.via,
    steps: [...steps, ...extra],
  });
  if (cur.missing.length > 0) {
    return {
      verdict: 'unknown',
      reasonCode: 'kernel-lookup-unavailable',
      reason: `charon asks the kernel for the route (${km.why}); the kernel's answer for ${peer} from ${local} is needed`,
      consequence: undefined,
      route: undefined,
      fixes: [],
      lookup: lookupInfo(cur),
      missing: cur.missing,
    };
  }
  if (cur.src !== undefined && ipEquals(cur.src, local)) {
    const route = cur.route ? formatRoute(cur.route) : undefined;
    return {
      verdict: 'valid',
      reasonCode: bestPath ? 'best-path' : validCode(cur, mode),
      reason: bestPath
        ? `MOBIKE with prefer_best_path: the best route to ${peer} (${route}) uses ${local}`
        : `charon finds a route to ${peer} that leads to ${local}: ${route}${describeVia(cur) ? ` (${describeVia(cur)})` : ''}; it keeps the path on every roam event`,
      consequence: 'none',
      route,
      fixes: [],
      lookup: lookupInfo(cur),
      missing: [],
    };
  }
  // The current path is "not available anymore": what next?
  const any = bestPath || cur.src === undefined ? getSourceAddr(net, peer, undefined, lopts) : cur;
  const anySteps = any === cur ? [] : any.steps.map((s) => `(any path) ${'  '.repeat(s.depth)}${s.text}`);
  if (any.missing.length > 0) {
    return {
      verdict: 'unknown',
      reasonCode: 'kernel-lookup-unavailable',
      reason: `charon asks the kernel for the route (${km.why}); the kernel's answer for ${peer} is needed`,
      consequence: undefined,
      route: undefined,
      fixes: [],
      lookup: lookupInfo(cur, anySteps),
      missing: any.missing,
    };
  }
  const familyOk = fam === undefined || (fam === 4 ? settings.useIpv4 : settings.useIpv6);
  const why =
    mode === 'kernel'
      ? `the kernel's route to ${peer} from ${local} does not keep ${local} (${cur.src ? `it selects ${cur.src}` : 'no route'})`
      : cur.candidates.length === 0
        ? `no usable route to ${peer} in any table`
        : `no route to ${peer} leads to ${local} (no route with src ${local}, no source prefix containing it, it is not on a route's interface, no gateway recursion reaches it)` +
          (cur.src ? `; the best route gives ${cur.src}: ${cur.route ? formatRoute(cur.route) : ''}` : '');
  const fixes = suggestFixes({ net, sa, conn, settings, mode, lookup: cur, anyLookup: any, mobike });
  const route = any.route ? formatRoute(any.route) : undefined;
  const base = { route, fixes, lookup: lookupInfo(cur, anySteps), missing: [] as KernelLookupKey[] };
  if (any.src === undefined || !familyOk) {
    return {
      ...base,
      verdict: 'at-risk',
      reasonCode: 'no-route-to-peer',
      reason: `${why}; charon finds no path at all ("no route found to reach ${peer}, MOBIKE update deferred") and marks the SA stale`,
      consequence: 'mark-stale',
    };
  }
  if (mobike) {
    return {
      ...base,
      verdict: 'at-risk',
      reasonCode: bestPath ? 'mobike-path-not-best' : 'no-route-leads-to-source',
      reason: `${why}; with MOBIKE charon ${sa.initiator ? 'moves the SA to' : 'announces its addresses, implicitly requesting a move to'} ${any.src} (address update, no reauth)`,
      consequence: 'mobike-update',
    };
  }
  if (sa.initiator !== true) {
    return {
      ...base,
      verdict: 'at-risk',
      reasonCode: 'no-route-leads-to-source',
      reason: `${why}; as responder${sa.initiator === undefined ? ' (VICI did not say initiator=yes)' : ''} charon does not reauthenticate but marks the SA stale`,
      consequence: 'mark-stale',
    };
  }
  const mbb = settings.makeBeforeBreak;
  return {
    ...base,
    verdict: 'at-risk',
    reasonCode: 'no-route-leads-to-source',
    reason:
      `${why}; charon logs "old path is not available anymore" and, as original initiator without MOBIKE, ` +
      `reauthenticates the IKE_SA and its CHILD_SAs (${mbb ? 'make-before-break' : 'break-before-make: traffic stops until the new SA is up'})`,
    consequence: 'reauth',
  };
}

/**
 * Analyzes one IKE_SA. `state` is the mirrored routing state; `connection` the SA's
 * configured connection (list-conns), when known; `charonVersion` e.g. `5.9.8`.
 */
export function analyze(
  state: NetState & { rules?: readonly unknown[] },
  ikeSa: IkeSa,
  connection: Connection | undefined,
  settings: CharonSettings,
  charonVersion?: string,
  opts: AnalyzeOptions = {},
): PathAnalysis {
  const version = parseCharonVersion(charonVersion);
  const a = strandedIfAddressMissing(analyzeSa(state, ikeSa, connection, settings, version, opts), state, settings);
  return { ...a, rule: decidingRule(a, settings, version) };
}

/**
 * The SA's local address is on no interface of this host (removed, or the routing state is
 * not charon's network namespace). Every roam event then finds the old path invalid and, as
 * original initiator without MOBIKE, charon reauthenticates from that address — which
 * cannot work: break-before-make (5.x default) deletes the IKE_SA first and the tunnel is
 * down; make-before-break (6.x default) fails the new IKE_SA after its retransmits and, as
 * the old one is only deleted once the new one is up, keeps this IKE_SA ESTABLISHED on the
 * missing address (seen in the lab on 6.0.6: test/fixtures/scenarios/charon-6.0.6/
 * address-removed.jsonl; ike_sa.c retransmit(): "establishing IKE_SA failed", 6.0.6 line
 * 2540). No route fix applies: a route cannot name a missing address as `src`.
 */
function strandedIfAddressMissing(a: PathAnalysis, state: NetState, settings: CharonSettings): PathAnalysis {
  if (a.verdict !== 'at-risk' || a.consequence !== 'reauth' || !a.localHost || state.addresses.length === 0) return a;
  const local = a.localHost;
  if (state.addresses.some((x) => ipEquals(x.address, local))) return a;
  const what = settings.makeBeforeBreak
    ? `charon's reauthentication (make-before-break) cannot send the new IKE_SA from ${local}, gives up after its retransmits and keeps this IKE_SA ESTABLISHED on the missing address: the tunnel carries nothing while charon reports it up`
    : `charon's reauthentication (break-before-make) deletes this IKE_SA and cannot send the new one from ${local}: the tunnel is down until the address returns`;
  return {
    ...a,
    reasonCode: 'local-address-missing',
    reason: `${local} is on no interface of this host (removed, or this is not charon's network namespace); ${what}`,
    fixes: [],
  };
}

function analyzeSa(
  state: NetState,
  ikeSa: IkeSa,
  connection: Connection | undefined,
  settings: CharonSettings,
  version: CharonVersion,
  opts: AnalyzeOptions,
): PathAnalysis {
  const mob: MobikeEvidence =
    opts.mobikeNegotiated !== undefined
      ? { negotiated: opts.mobikeNegotiated, evidence: 'given by the caller' }
      : mobikeEvidence(ikeSa, opts.mobikeConfigured);
  const out: PathAnalysis = {
    ikeSaName: ikeSa.name,
    uniqueId: ikeSa.uniqueId,
    localHost: ikeSa.localHost !== undefined ? canonicalIp(ikeSa.localHost) : undefined,
    remoteHost: ikeSa.remoteHost !== undefined ? canonicalIp(ikeSa.remoteHost) : undefined,
    verdict: 'unknown',
    reasonCode: 'unknown',
    reason: '',
    consequence: undefined,
    route: undefined,
    fixes: [],
    triggers: roamTriggers(settings),
    mobike: mob,
    lookup: undefined,
    missingKernelLookups: [],
    charonVersion: version.text,
    rule: VERSION_RULES.common,
  };
  const state_ = ikeSa.state.toUpperCase();
  if (NOT_CHECKED_STATES.has(state_)) {
    return { ...out, verdict: 'immune', reasonCode: 'sa-state-not-checked', reason: `IKE_SA in state ${state_}: roam events are ignored`, consequence: 'none' };
  }
  const isV1 = ikeSa.version === 1 || /^ikev1$/i.test(connection?.version ?? '');
  if (isV1) {
    // ike_sa.c roam(): `if (this->version == IKEV1) return SUCCESS;` (6.0.6 line 2770, and
    // 5.9.8), since 5.6.3 (NEWS: "Roam events are now completely ignored for IKEv1 SAs").
    if (!versionAtLeast(version, 5, 6, 3)) {
      return {
        ...out,
        verdict: 'unknown',
        reasonCode: 'ikev1-before-5.6.3',
        reason: `IKEv1 SA on charon ${version.text}: roam events are only ignored completely for IKEv1 since 5.6.3; roamwatch does not model older versions`,
      };
    }
    return { ...out, verdict: 'immune', reasonCode: 'ikev1', reason: 'IKEv1 SA: charon ignores roam events for IKEv1 (no MOBIKE, reauth would not be enough)', consequence: 'none' };
  }
  if (!settings.roamEvents) {
    return {
      ...out,
      verdict: 'immune',
      reasonCode: 'roam-events-disabled',
      reason: 'charon.plugins.kernel-netlink.roam_events = no: charon never re-checks paths on interface, address or route changes',
      consequence: 'none',
    };
  }
  if (!out.localHost || !out.remoteHost || !parseIp(out.localHost) || !parseIp(out.remoteHost)) {
    return { ...out, verdict: 'unknown', reasonCode: 'no-addresses', reason: 'VICI reported no local or remote address for this IKE_SA' };
  }
  const pick = (b: Branch): PathAnalysis => ({
    ...out,
    verdict: b.verdict,
    reasonCode: b.reasonCode,
    reason: b.reason + (b.verdict === 'at-risk' && !out.triggers.includes('route') ? ` (process_route = no: only ${out.triggers.join(' and ')} changes trigger the check)` : ''),
    consequence: b.consequence,
    route: b.route,
    fixes: b.fixes,
    lookup: b.lookup,
    missingKernelLookups: b.missing,
  });
  if (mob.negotiated !== undefined) {
    return pick(evaluate(state, ikeSa, connection, settings, version, mob.negotiated, opts));
  }
  const without = evaluate(state, ikeSa, connection, settings, version, false, opts);
  const withM = evaluate(state, ikeSa, connection, settings, version, true, opts);
  if (without.verdict === withM.verdict && without.consequence === withM.consequence) {
    const r = pick(without);
    return { ...r, reason: `${r.reason} (whether or not MOBIKE was negotiated: ${mob.evidence})` };
  }
  const worst = without.verdict === 'at-risk' ? without : withM;
  return {
    ...pick(worst),
    consequence: undefined,
    verdict: 'unknown',
    reasonCode: 'mobike-unknown',
    reason:
      `the outcome depends on MOBIKE, which VICI does not report (${mob.evidence}). ` +
      `Without MOBIKE: ${without.verdict} — ${without.reason}. With MOBIKE: ${withM.verdict} — ${withM.reason}. ` +
      'Pass the connection\'s swanctl.conf (--swanctl-conf) to decide.',
  };
}

/** The core PathVerdict payload for an analysis (the agent emits it as path.verdict). */
export function toPathVerdict(a: PathAnalysis, previous?: Verdict): PathVerdict {
  return {
    ikeSaName: a.ikeSaName,
    uniqueId: a.uniqueId,
    ...(a.localHost ? { localHost: a.localHost } : {}),
    ...(a.remoteHost ? { remoteHost: a.remoteHost } : {}),
    verdict: a.verdict,
    ...(previous ? { previous } : {}),
    reasonCode: a.reasonCode,
    reason: a.reason.slice(0, 4096),
    ...(a.consequence ? { consequence: a.consequence } : {}),
    ...(a.route ? { route: a.route.slice(0, 1024) } : {}),
    fixes: a.fixes,
  };
}
