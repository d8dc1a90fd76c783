/**
 * Analyzes a set of IKE_SAs, fetching the kernel route lookups that kernel-lookup mode
 * needs (the analyzer itself is pure and reports what it is missing), and reads the
 * one piece of evidence VICI does not give: `mobike` per connection from swanctl.conf.
 */
import type { Connection, IkeSa } from '@roamwatch/core';
import { analyze, type AnalyzeOptions, type PathAnalysis } from './analyze.js';
import type { KernelLookupKey, KernelRouteAnswer, NetState } from './lookup.js';
import { kernelLookupKey } from './lookup.js';
import type { CharonSettings } from './settings.js';
import { asBool, loadStrongswanConf, type ConfFs } from './strongswan-conf.js';

export type KernelLookupFn = (key: KernelLookupKey) => Promise<KernelRouteAnswer>;

export interface AnalyzeAllInput {
  state: NetState;
  ikeSas: readonly IkeSa[];
  connections: readonly Connection[];
  settings: CharonSettings;
  charonVersion?: string | undefined;
  /** `mobike` per connection name, from swanctl.conf (see readSwanctlMobike). */
  mobike?: ReadonlyMap<string, boolean> | undefined;
  /** Whether MOBIKE was negotiated, when the caller knows it (e.g. from charon's log): overrides all evidence. */
  mobikeNegotiated?: boolean | undefined;
  /** Needed when charon uses kernel lookups; without it such SAs stay `unknown`. */
  kernelLookup?: KernelLookupFn | undefined;
  /** Answers already known (cached between runs). */
  kernelAnswers?: Map<string, KernelRouteAnswer> | undefined;
  virtualIps?: readonly string[] | undefined;
}

export async function analyzeAll(input: AnalyzeAllInput): Promise<PathAnalysis[]> {
  const answers = input.kernelAnswers ?? new Map<string, KernelRouteAnswer>();
  const byName = new Map(input.connections.map((c) => [c.name, c]));
  const out: PathAnalysis[] = [];
  for (const sa of input.ikeSas) {
    const conn = byName.get(sa.name);
    const opts: AnalyzeOptions = {
      mobikeConfigured: input.mobike?.get(sa.name),
      ...(input.mobikeNegotiated !== undefined ? { mobikeNegotiated: input.mobikeNegotiated } : {}),
      kernelAnswers: answers,
      ...(input.virtualIps ? { virtualIps: input.virtualIps } : {}),
    };
    let a = analyze(input.state, sa, conn, input.settings, input.charonVersion, opts);
    // each round can reveal one more level (gateway recursion): at most depth + fallback
    for (let round = 0; round < 4 && a.missingKernelLookups.length > 0 && input.kernelLookup; round++) {
      for (const k of a.missingKernelLookups) {
        const id = kernelLookupKey(k);
        if (!answers.has(id)) answers.set(id, await input.kernelLookup(k));
      }
      a = analyze(input.state, sa, conn, input.settings, input.charonVersion, opts);
    }
    out.push(a);
  }
  return out;
}

/** swanctl.conf's default location (swanctl's SWANCTLDIR). */
export const DEFAULT_SWANCTL_CONF = '/etc/swanctl/swanctl.conf';

/**
 * `connections.<name>.mobike` of every connection in a swanctl.conf (default yes, as
 * swanctl applies it). The file uses strongswan.conf syntax; includes are followed.
 */
export function readSwanctlMobike(path: string = DEFAULT_SWANCTL_CONF, opts: { fs?: ConfFs } = {}): Map<string, boolean> {
  const conf = loadStrongswanConf(path, opts);
  const out = new Map<string, boolean>();
  const conns = conf.root.sections.get('connections');
  for (const [name, sec] of conns?.sections ?? []) out.set(name, asBool(sec.kv.get('mobike')?.value, true));
  return out;
}
