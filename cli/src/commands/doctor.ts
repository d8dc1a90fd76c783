/**
 * `roamwatch doctor`: one-shot check of every IKE_SA against the routing table, as
 * charon's roam() will see it on the next route, address or link change, with the fix.
 *
 * Reads: the IKE_SAs and connections over VICI (list-sas, list-conns, version), the
 * routing state of this network namespace (`ip -j`), charon's strongswan.conf (and its
 * includes) and, when given or present, swanctl.conf for `mobike` (VICI does not report
 * whether MOBIKE was negotiated). In kernel-lookup mode it asks the kernel like charon
 * does (`ip route get <peer> from <local>`). Run it in charon's network namespace.
 *
 * Exit codes: 0 nothing at risk, 1 at least one SA at risk, 2 error.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, RoamwatchError, errorMessage } from '@roamwatch/core';
import type { Connection, IkeSa } from '@roamwatch/core';
// Subpath entry points only: a one-shot command loads neither kafkajs nor the spool
// (test/integration/doctor-lean.test.ts).
import {
  analyzeAll,
  DEFAULT_SWANCTL_CONF,
  ipRunner,
  kernelRouteGet,
  loadCharonSettings,
  readNetState,
  readSwanctlMobike,
  strongswanConfPath,
  type CharonSettings,
  type NetState,
  type PathAnalysis,
} from '@roamwatch/agent/path';
import type { KernelLookupKey, KernelRouteAnswer } from '@roamwatch/agent/path';
import { ViciClient } from '@roamwatch/agent/vici';
import { connectionPayload, ikeSaPayload } from '@roamwatch/agent/contract';
import { CONFIG_KEYS as AGENT_KEYS } from '@roamwatch/agent/config';
import type { ConfigTable } from '@roamwatch/core';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { addRemedyOptions, isRemedy, remedyUsageError } from './doctor-remedy-options.js';

export interface DoctorSources {
  /** IKE_SAs, connections and the daemon version from charon. */
  charon(): Promise<{ ikeSas: IkeSa[]; connections: Connection[]; version: string | undefined; virtualIps?: string[] }>;
  net(): Promise<NetState>;
  kernelLookup(key: KernelLookupKey, links: NetState['links']): Promise<KernelRouteAnswer>;
}

export interface DoctorOptions {
  vici?: string | undefined;
  strongswanConf?: string | undefined;
  swanctlConf?: string | undefined;
  format?: 'text' | 'json' | undefined;
  /** Whether MOBIKE was negotiated (VICI does not say): overrides swanctl.conf and port evidence. */
  assumeMobike?: boolean | undefined;
  /** Overrides the version reported by charon (e.g. to model 6.x). */
  charonVersion?: string | undefined;
  /** swanctl.conf read when swanctlConf is not given (default DEFAULT_SWANCTL_CONF; tests point it elsewhere). */
  defaultSwanctlConf?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export interface DoctorResult {
  charonVersion: string | undefined;
  strongswanConf: string;
  swanctlConf: string | undefined;
  settings: Pick<CharonSettings, 'roamEvents' | 'processRoute' | 'processRules' | 'installRoutes' | 'routingTable' | 'ignoreRoutingTables' | 'makeBeforeBreak'> & {
    fwmark: string | undefined;
  };
  sas: DoctorSa[];
  warnings: string[];
}

export interface DoctorSa {
  conn: string;
  uniqueId: string;
  state: string;
  localHost: string | undefined;
  remoteHost: string | undefined;
  verdict: PathAnalysis['verdict'];
  reasonCode: string;
  reason: string;
  consequence: PathAnalysis['consequence'];
  route: string | undefined;
  triggers: PathAnalysis['triggers'];
  mobike: PathAnalysis['mobike'];
  fixes: PathAnalysis['fixes'];
  lookup: { mode: string; src: string | undefined; steps: string[] } | undefined;
  /** The version-specific rule that decided the verdict ('common' when every modelled version agrees). */
  rule: PathAnalysis['rule'];
}

/** doctor cannot check: charon unreachable, a file missing or unreadable. Retriable when its cause is (charon may come up). */
export class DoctorError extends RoamwatchError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'DOCTOR_FAILED', retriable: (opts.cause as { retriable?: unknown } | undefined)?.retriable === true, cause: opts.cause });
    this.name = 'DoctorError';
  }
}

function viciErrorMessage(uri: string, err: unknown): string {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string' && /^E[A-Z]+$/.test(c));
  const path = uri.replace(/^unix:\/\//, '');
  if (code === 'ENOENT') return `charon's VICI socket ${path} does not exist: is charon running (with the vici plugin)? Use --vici to point at it.`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied on charon's VICI socket ${path}: run roamwatch doctor as root (or as a user allowed on the socket).`;
  if (code === 'ECONNREFUSED') return `nothing listens on charon's VICI socket ${path} (charon stopped?).`;
  return `cannot talk to charon over VICI at ${uri}: ${errorMessage(err)}`;
}

export function realSources(uri: string, opts: { netns?: string | undefined } = {}): DoctorSources {
  const run = ipRunner({ netns: opts.netns });
  return {
    async charon() {
      const client = new ViciClient({ uri, reconnect: { enabled: false }, connectTimeoutMs: 3000, commandTimeoutMs: 10_000 });
      try {
        await client.connect();
        const [v, sas, conns] = [await client.version(), await client.listSas(), await client.listConns()];
        // charon's own virtual IPs (local-vips of every SA): routes naming them are skipped
        const virtualIps = sas.flatMap((sa) => sa.localVips);
        return { version: v.version, ikeSas: sas.map(ikeSaPayload), connections: conns.map(connectionPayload), virtualIps };
      } catch (err) {
        throw new DoctorError(viciErrorMessage(uri, err), { cause: err });
      } finally {
        await client.close().catch(() => undefined);
      }
    },
    net: () => readNetState(run),
    kernelLookup: (key, links) => kernelRouteGet(key, run, links),
  };
}

export async function runDoctor(opts: DoctorOptions, sources: DoctorSources): Promise<DoctorResult> {
  const env = opts.env ?? process.env;
  const confPath = strongswanConfPath(opts.strongswanConf, env);
  if (opts.strongswanConf && !existsSync(opts.strongswanConf)) throw new DoctorError(`--strongswan-conf ${opts.strongswanConf} does not exist`);
  const { ikeSas, connections, version, virtualIps } = await sources.charon();
  const charonVersion = opts.charonVersion ?? version;
  let settings: CharonSettings;
  try {
    settings = loadCharonSettings({ path: confPath, env, ...(charonVersion ? { charonVersion } : {}) });
  } catch (err) {
    throw new DoctorError(`cannot read ${confPath}: ${errorMessage(err)}`, { cause: err });
  }
  const warnings = [...settings.warnings];
  let mobike: Map<string, boolean> | undefined;
  const defaultSwanctl = opts.defaultSwanctlConf ?? DEFAULT_SWANCTL_CONF;
  const swanctl = opts.swanctlConf ?? (existsSync(defaultSwanctl) ? defaultSwanctl : undefined);
  if (opts.swanctlConf && !existsSync(opts.swanctlConf)) throw new DoctorError(`--swanctl-conf ${opts.swanctlConf} does not exist`);
  if (!swanctl && opts.assumeMobike === undefined) {
    warnings.push(`${defaultSwanctl} does not exist: each connection's mobike setting is unknown, so MOBIKE can only be told from the ports (pass --swanctl-conf <path> or --assume-mobike yes|no)`);
  }
  if (swanctl) {
    try {
      mobike = readSwanctlMobike(swanctl);
    } catch (err) {
      warnings.push(`cannot read ${swanctl} for mobike settings: ${errorMessage(err)}`);
    }
  }
  const net = await sources.net();
  const analyses = await analyzeAll({
    state: net,
    ikeSas,
    connections,
    settings,
    charonVersion,
    mobike,
    mobikeNegotiated: opts.assumeMobike,
    virtualIps,
    kernelLookup: (k) => sources.kernelLookup(k, net.links),
  });
  return {
    charonVersion,
    strongswanConf: confPath,
    swanctlConf: swanctl,
    settings: {
      roamEvents: settings.roamEvents,
      processRoute: settings.processRoute,
      processRules: settings.processRules,
      installRoutes: settings.installRoutes,
      routingTable: settings.routingTable,
      ignoreRoutingTables: settings.ignoreRoutingTables,
      makeBeforeBreak: settings.makeBeforeBreak,
      fwmark: settings.fwmark?.text,
    },
    sas: analyses.map((a, i) => ({
      conn: a.ikeSaName,
      uniqueId: a.uniqueId,
      state: ikeSas[i]?.state ?? '',
      localHost: a.localHost,
      remoteHost: a.remoteHost,
      verdict: a.verdict,
      reasonCode: a.reasonCode,
      reason: a.reason,
      consequence: a.consequence,
      route: a.route,
      triggers: a.triggers,
      mobike: a.mobike,
      fixes: a.fixes,
      lookup: a.lookup ? { mode: a.lookup.mode, src: a.lookup.src, steps: a.lookup.steps } : undefined,
      rule: a.rule,
    })),
    warnings,
  };
}

export function exitCodeFor(r: DoctorResult): number {
  return r.sas.some((s) => s.verdict === 'at-risk') ? EXIT.findings : EXIT.ok;
}

const MARK: Record<string, string> = { immune: 'immune', valid: 'valid', 'at-risk': 'AT RISK', unknown: 'unknown' };

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}

function wrap(text: string, indent: string, width = 100): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - indent.length) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

export function formatText(r: DoctorResult): string {
  const out: string[] = [];
  const s = r.settings;
  out.push(
    `charon ${r.charonVersion ?? '(version unknown)'} · ${r.strongswanConf} · roam_events=${s.roamEvents ? 'yes' : 'no'} process_route=${s.processRoute ? 'yes' : 'no'} ` +
      `install_routes=${s.installRoutes ? 'yes' : 'no'} routing_table=${s.routingTable}${s.ignoreRoutingTables.length ? ` ignore_routing_tables=${s.ignoreRoutingTables.join(' ')}` : ''}` +
      `${s.fwmark ? ` fwmark=${s.fwmark}` : ''} make_before_break=${s.makeBeforeBreak ? 'yes' : 'no'}`,
  );
  if (r.sas.length === 0) {
    out.push('', 'No IKE_SAs.');
  } else {
    // RULE: the version-specific rule that decided the verdict (docs/path-analysis.md, per-version table)
    const ruleCell = (a: DoctorSa) => (a.rule.id === 'common' ? 'common' : `${a.rule.id} (${a.rule.versions})`);
    out.push('', table([['CONN', 'ID', 'LOCAL', 'REMOTE', 'VERDICT', 'WHY', 'RULE'], ...r.sas.map((a) => [a.conn, a.uniqueId, a.localHost ?? '-', a.remoteHost ?? '-', MARK[a.verdict] ?? a.verdict, a.reasonCode, ruleCell(a)])]));
    for (const a of r.sas) {
      if (a.verdict === 'immune' || a.verdict === 'valid') continue;
      out.push('', `${a.conn}[${a.uniqueId}] ${a.localHost ?? '?'} → ${a.remoteHost ?? '?'}: ${MARK[a.verdict]}${a.verdict === 'at-risk' && a.consequence ? ` (next ${a.triggers.join('/') || 'change'} change: ${a.consequence})` : ''}`);
      out.push(wrap(a.reason, '  '));
      if (a.rule.id !== 'common') out.push(wrap(`rule ${a.rule.id} (charon ${a.rule.versions}): ${a.rule.summary}`, '  '));
      if (a.fixes.length > 0) {
        out.push('  Fixes, least change first:');
        for (const f of a.fixes) {
          out.push(`  ${f.rank}. ${f.command}`);
          out.push(wrap(f.why, '       '));
          if (f.sideEffects) out.push(wrap(`side effects: ${f.sideEffects}`, '       '));
        }
      }
    }
    const ok = r.sas.filter((a) => a.verdict === 'valid' || a.verdict === 'immune');
    if (ok.length > 0) {
      out.push('');
      for (const a of ok) {
        const rule = a.rule.id === 'common' ? '' : ` [rule ${a.rule.id}, charon ${a.rule.versions}]`;
        out.push(wrap(`${a.conn}[${a.uniqueId}] ${a.verdict}: ${a.reason}${rule}`, '  ').replace(/^ {2}/, ''));
      }
    }
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}

/** doctor's keys (the same mechanism and names as the agent's: file + env + flags, cli/src/config.ts). */
export const DOCTOR_KEYS = {
  'vici.uri': AGENT_KEYS['vici.uri'],
  'path.strongswanConf': { type: 'string', default: '', flag: 'strongswan-conf', doc: "charon's strongswan.conf (\"\" = $STRONGSWAN_CONF, else /etc/strongswan.conf)." },
  'path.swanctlConf': { type: 'string', default: '', flag: 'swanctl-conf', doc: `swanctl.conf, read for each connection's mobike setting ("" = ${DEFAULT_SWANCTL_CONF}; a warning says when it does not exist).` },
  netns: { type: 'string', default: '', doc: 'Read routes and ask the kernel in this network namespace (`ip -n`), when charon runs in one.' },
  assumeMobike: { type: ['unknown', 'yes', 'no'] as const, default: 'unknown', doc: "Whether MOBIKE was negotiated (VICI does not report it; e.g. seen as N(MOBIKE_SUP) both ways in charon's log)." },
  charonVersion: { type: 'string', default: '', doc: 'Model this charon version instead of the one charon reports (e.g. 6.0.1).' },
  format: { type: ['text', 'json'] as const, default: 'text', doc: 'Output format.' },
} as const satisfies ConfigTable;

export function configure(cmd: Command): void {
  cmd.description(
    'check every IKE_SA against the routing table as charon will on the next route/address/link change: ' +
      'immune, valid (and the route that keeps it), at risk (what charon will do) with the exact fix. ' +
      "Run it in charon's network namespace.",
  );
  addConfigOptions(cmd, DOCTOR_KEYS);
  addRemedyOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 nothing at risk, 1 at least one IKE_SA at risk (after --apply: still at risk; --undo: a change not undone), 2 error.\n' +
      'Guided remediation: --apply [--dry-run] [--yes] [--persist [SYSTEM]], --undo [ID], --journal (journal in --state-dir).\nSee docs/path-analysis.md.',
  );
}

type DoctorValues = { 'vici.uri': string; 'path.strongswanConf': string; 'path.swanctlConf': string; charonVersion: string; assumeMobike: 'unknown' | 'yes' | 'no'; format: 'text' | 'json' };

/** The analysis options from doctor's loaded configuration (file + env + flags). */
export function doctorOptions(v: DoctorValues): DoctorOptions {
  return {
    vici: v['vici.uri'],
    strongswanConf: v['path.strongswanConf'] || undefined,
    swanctlConf: v['path.swanctlConf'] || undefined,
    charonVersion: v.charonVersion || undefined,
    assumeMobike: v.assumeMobike === 'unknown' ? undefined : v.assumeMobike === 'yes',
    format: v.format,
  };
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const usage = remedyUsageError(options);
  if (usage) {
    process.stderr.write(`roamwatch doctor: ${usage}\n`);
    return EXIT.error;
  }
  const cfg = loadCommandConfig('doctor', DOCTOR_KEYS, options, () => ({}));
  if (cfg.exit !== undefined) return cfg.exit;
  const v = cfg.loaded.values;
  const uri = v['vici.uri'];
  if (isRemedy(options)) {
    const { runRemedy } = await import('./doctor-remedy.js');
    // The remediation code reads the connection settings by their option names: give it
    // the loaded values, so that settings from the environment or a config file count too.
    return runRemedy({ ...options, vici: uri, netns: v.netns || undefined, format: v.format }, doctorOptions(v), uri);
  }
  try {
    const r = await runDoctor(
      doctorOptions(v),
      realSources(uri, { netns: v.netns || undefined }),
    );
    process.stdout.write(v.format === 'json' ? `${JSON.stringify(r, null, 2)}\n` : formatText(r));
    return exitCodeFor(r);
  } catch (err) {
    process.stderr.write(`roamwatch doctor: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
}
