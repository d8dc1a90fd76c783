/**
 * Guided remediation: for each IKE_SA at risk, apply the least-change fix that does not
 * touch charon's configuration (a route with `src <local address>`, through `ip`), prove
 * it by analyzing again from the live state, and keep it only when the verdict became
 * `valid`; otherwise put back exactly what was there. Every change is journaled before it
 * is made (journal.ts), so `undo` can restore the previous routes later.
 *
 * Why re-analyze instead of trusting suggestFixes(): the fix was checked against the
 * lookup model on the state read a moment earlier, but the kernel may normalize the route
 * (scope, metric), other fixes applied in the same run change the picture (two SAs to one
 * peer), and in kernel-lookup mode (install_routes = no) only the kernel's answer decides.
 * The analysis after the change reads everything again, exactly as doctor does.
 *
 * The IKE_SA is matched by its unique id: a route change that keeps the path valid does
 * not reauthenticate, so the id stays the same (a new id means charon reauthenticated in
 * between; the change is then checked against the SA with the same name and addresses).
 *
 * No charon configuration is changed here (literal local_addrs, strongswan.conf settings
 * are config-level fixes that need a reviewed file edit and a reload: doctor prints them).
 */
import { execFile } from 'node:child_process';
import type { Fix } from '@roamwatch/core';
import type { PathAnalysis } from '../analyze.js';
import type { IpRunner } from '../ip-json.js';
import { routeFromIpJson } from '../ip-json.js';
import { ipRouteArgs, parseIpRouteCommand, routeMatchesSpec, sameRouteKey, specFromRoute, formatIpRouteCommand, type RouteOp, type RouteSpec } from './route-spec.js';
import { isRouteChange, newEntryId, type JournalEntry, type RemediationJournal } from './journal.js';

export interface PlannedChange {
  conn: string;
  uniqueId: string;
  localHost: string;
  remoteHost: string;
  verdictBefore: string;
  reasonCodeBefore: string;
  fix: Fix;
  op: RouteOp;
  route: RouteSpec;
  /** The exact `ip` command that is run. */
  command: string;
}

export type OutcomeStatus = 'fixed' | 'rolled-back' | 'failed' | 'planned' | 'declined' | 'already-valid' | 'no-route-fix' | 'gone';

export interface SaOutcome {
  conn: string;
  uniqueId: string;
  localHost?: string | undefined;
  remoteHost?: string | undefined;
  status: OutcomeStatus;
  /** One sentence: what happened and why. */
  message: string;
  change?: PlannedChange;
  entry?: JournalEntry;
  /** Config-level fixes doctor offers for this SA (never applied here). */
  configFixes?: Fix[];
}

/** What remediation needs of an analysis (PathAnalysis, or doctor's per-SA result mapped to it). */
export type RemediableSa = Pick<PathAnalysis, 'ikeSaName' | 'uniqueId' | 'localHost' | 'remoteHost' | 'verdict' | 'reasonCode' | 'fixes'>;

export interface ApplyOptions {
  /**
   * A fresh analysis of every IKE_SA, reading the live state (VICI, routes) each time, with
   * `planned` routes added to the routing state read (empty: the live state as it is).
   */
  analyze: (planned: readonly RouteSpec[]) => Promise<RemediableSa[]>;
  /** Runs `ip` (in charon's network namespace). */
  ip: IpRunner;
  /**
   * Runs several `ip` commands as one batch (`ip -force -batch -`): one process, so the
   * whole burst stays far inside charon's 100 ms ROAM_DELAY however many SAs there are.
   * Returns the failed commands by index. Without it the commands run one by one.
   */
  ipBatch?: IpBatchRunner;
  journal: RemediationJournal;
  netns?: string | undefined;
  /** Only plan: nothing is changed or journaled. */
  dryRun?: boolean;
  /** Asked before each change (interactive confirmation); false skips the SA. */
  confirm?: (change: PlannedChange) => Promise<boolean>;
  /** Only these connections (default: every IKE_SA at risk). */
  conns?: readonly string[] | undefined;
  /** Called after each SA, for progress output. */
  onOutcome?: (o: SaOutcome) => void;
}

export type IpBatchRunner = (commands: readonly string[][]) => Promise<Map<number, string>>;

/**
 * `ip [-n NETNS] -force -batch -`, one command per line (without the -4/-6 flag, which batch
 * lines do not take; the address says the family). iproute2 reports each failure as its
 * error message followed by `Command failed -:<line>`, and goes on with the next line.
 */
export function ipBatchRunner(opts: { netns?: string | undefined; bin?: string } = {}): IpBatchRunner {
  return (commands) =>
    new Promise((resolve, reject) => {
      const args = [...(opts.netns ? ['-n', opts.netns] : []), '-force', '-batch', '-'];
      const child = execFile(opts.bin ?? 'ip', args, (err, _stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(new RemediationError(`ip -batch: ${err.message}`));
          return;
        }
        resolve(parseBatchErrors(String(stderr)));
      });
      child.stdin?.end(`${commands.map((c) => c.filter((w) => w !== '-4' && w !== '-6').join(' ')).join('\n')}\n`);
    });
}

/** `…message…\nCommand failed -:N` → index N-1 → message. */
export function parseBatchErrors(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let msg: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line);
    if (m) {
      out.set(Number(m[1]) - 1, msg.join(' ').replace(/^RTNETLINK answers: /, '').trim() || 'failed');
      msg = [];
    } else if (line.trim() !== '') msg.push(line.trim());
  }
  return out;
}

export class RemediationError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'RemediationError';
  }
}

function findSa(all: RemediableSa[], ref: { uniqueId: string; conn: string; localHost: string | undefined; remoteHost: string | undefined }): RemediableSa | undefined {
  return (
    all.find((a) => a.uniqueId === ref.uniqueId) ??
    all.find((a) => a.ikeSaName === ref.conn && a.localHost === ref.localHost && a.remoteHost === ref.remoteHost)
  );
}

/** The routes that have the same kernel key as `spec` (prefix, table, metric, from). */
export async function readRoutesLike(ip: IpRunner, spec: RouteSpec): Promise<RouteSpec[]> {
  const args = ['-j', spec.family === 6 ? '-6' : '-4', 'route', 'show', 'table', String(spec.table ?? 254), 'exact', spec.dst];
  const r = await ip(args);
  if (r.code !== 0) throw new RemediationError(`ip ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  const text = r.stdout.trim();
  const list = text === '' ? [] : (JSON.parse(text) as Record<string, unknown>[]);
  return list
    .map((o) => specFromRoute(routeFromIpJson({ table: spec.table ?? 254, ...o }, spec.family, () => undefined)))
    .filter((s) => sameRouteKey(s, spec));
}

function routeMatches(have: RouteSpec, want: RouteSpec): boolean {
  return routeMatchesSpec(
    {
      family: have.family,
      table: have.table ?? 254,
      dst: have.dst,
      type: 'unicast',
      protocol: have.proto ?? 'boot',
      scope: have.scope ?? 'universe',
      ...(have.metric !== undefined ? { priority: have.metric } : {}),
      ...(have.prefsrc ? { prefsrc: have.prefsrc } : {}),
      ...(have.from ? { src: have.from } : {}),
      ...(have.gateway ? { gateway: have.gateway } : {}),
      ...(have.dev ? { oif: have.dev } : {}),
    },
    want,
  );
}

async function runIp(ip: IpRunner, args: string[]): Promise<void> {
  const r = await ip(args);
  if (r.code !== 0) throw new RemediationError(`ip ${args.join(' ')}: ${r.stderr.trim().replace(/^RTNETLINK answers: /, '') || `exit ${r.code}`}`);
}

/**
 * Puts the routing table back as the entry recorded it: deletes the route roamwatch added,
 * or restores the route roamwatch changed. Refuses when the route is no longer the one
 * roamwatch left (changed by hand since): the journal then says so and nothing is touched.
 */
export async function revertRouteChange(ip: IpRunner, entry: JournalEntry): Promise<string> {
  const change = entry.change;
  if (!isRouteChange(change)) return `no route to restore (a ${change.setting} edit; then: ${change.reload})`;
  const want = change.route;
  const now = await readRoutesLike(ip, want);
  const ours = now.find((r) => routeMatches(r, want));
  if (change.op === 'add') {
    if (!ours) return `the route roamwatch added (${formatIpRouteCommand('add', want)}) is no longer there: nothing to remove`;
    await runIp(ip, ipRouteArgs('del', want));
    return `removed ${formatIpRouteCommand('add', want).replace(/^ip (-6 )?route add /, '')}`;
  }
  if (!ours) throw new RemediationError(`the route roamwatch changed no longer looks as roamwatch left it (${formatIpRouteCommand(change.op, want)}): changed by hand since? Not restoring over it.`);
  const prev = entry.previous[0];
  if (!prev) {
    await runIp(ip, ipRouteArgs('del', want));
    return 'removed the route (there was none before)';
  }
  await runIp(ip, ipRouteArgs('replace', prev));
  return `restored ${formatIpRouteCommand('replace', prev).replace(/^ip (-6 )?route replace /, '')}`;
}

/**
 * Applies, verifies and journals the first route fix of every IKE_SA at risk.
 *
 * Three phases, because a fix is itself a route change and so a roam event for *every*
 * IKE_SA: applied one at a time, the fix for SA 1 makes charon re-check SA 2 (100 ms later,
 * ROAM_DELAY) while SA 2 is still at risk, and SA 2 reauthenticates — observed in the lab
 * with two connections to one peer. So:
 *  1. plan: each SA's fix is chosen on the state *with the fixes planned before it*
 *     (analyze(planned)), e.g. the second SA to the same peer gets a host route with the
 *     next metric; an SA that a planned fix already covers needs none;
 *  2. journal every planned change (state `applying`, with the routes it replaces), then
 *     run all `ip` commands back to back, well inside charon's 100 ms coalescing window,
 *     so that the roam job they cause sees every fix in place;
 *  3. verify from the live state (analyze([])): keep what made its SA `valid`, roll back
 *     the rest, newest first.
 */
export async function applyRemediation(o: ApplyOptions): Promise<SaOutcome[]> {
  const outcomes: SaOutcome[] = [];
  const done = (x: SaOutcome): void => {
    outcomes.push(x);
    o.onOutcome?.(x);
  };
  const initial = (await o.analyze([])).filter((a) => a.verdict === 'at-risk' && (!o.conns || o.conns.includes(a.ikeSaName)));
  const planned: { change: PlannedChange; configFixes: Fix[]; ref: Parameters<typeof findSa>[1] }[] = [];
  // 1. plan
  for (const first of initial) {
    const ref = { uniqueId: first.uniqueId, conn: first.ikeSaName, localHost: first.localHost, remoteHost: first.remoteHost };
    const a = planned.length === 0 ? first : findSa(await o.analyze(planned.map((p) => p.change.route)), ref);
    const base = { conn: first.ikeSaName, uniqueId: first.uniqueId, localHost: first.localHost, remoteHost: first.remoteHost };
    if (!a) {
      done({ ...base, status: 'gone', message: 'the IKE_SA is gone (closed or reauthenticated) before it could be fixed' });
      continue;
    }
    if (a.verdict !== 'at-risk') {
      done({ ...base, status: 'already-valid', message: `${a.verdict} (${a.reasonCode}) with the fixes planned before it: nothing more needed` });
      continue;
    }
    const configFixes = a.fixes.filter((f) => f.kind !== 'route');
    const fix = a.fixes.find((f) => f.kind === 'route');
    if (!fix || !a.localHost || !a.remoteHost) {
      done({ ...base, status: 'no-route-fix', message: 'no route fix applies; only config-level fixes (shown, never applied without review)', configFixes });
      continue;
    }
    let parsed: { op: RouteOp; spec: RouteSpec };
    try {
      parsed = parseIpRouteCommand(fix.command);
    } catch (err) {
      done({ ...base, status: 'failed', message: `cannot apply fix ${fix.rank}: ${(err as Error).message}`, configFixes });
      continue;
    }
    const change: PlannedChange = {
      conn: a.ikeSaName,
      uniqueId: a.uniqueId,
      localHost: a.localHost,
      remoteHost: a.remoteHost,
      verdictBefore: a.verdict,
      reasonCodeBefore: a.reasonCode,
      fix,
      op: parsed.op,
      route: parsed.spec,
      command: formatIpRouteCommand(parsed.op, parsed.spec),
    };
    if (o.dryRun) {
      done({ ...base, status: 'planned', message: `would run: ${change.command}`, change, configFixes });
      planned.push({ change, configFixes, ref });
      continue;
    }
    if (o.confirm && !(await o.confirm(change))) {
      done({ ...base, status: 'declined', message: 'not applied (declined)', change, configFixes });
      continue;
    }
    planned.push({ change, configFixes, ref });
  }
  if (o.dryRun || planned.length === 0) return outcomes;
  // 2. journal, then apply back to back
  const entries: JournalEntry[] = [];
  for (const p of planned) {
    const c = p.change;
    const previous = await readRoutesLike(o.ip, c.route);
    const now = new Date().toISOString();
    entries.push(
      o.journal.write({
        v: 1,
        id: newEntryId(),
        createdAt: now,
        updatedAt: now,
        state: 'applying',
        ...(o.netns ? { netns: o.netns } : {}),
        sa: { conn: c.conn, uniqueId: c.uniqueId, localHost: c.localHost, remoteHost: c.remoteHost },
        fix: { rank: c.fix.rank, command: c.fix.command },
        change: { op: c.op, route: c.route },
        previous,
        verdictBefore: c.verdictBefore,
        history: [],
      }),
    );
  }
  let failed = new Map<number, string>();
  if (o.ipBatch) {
    failed = await o.ipBatch(planned.map((p) => ipRouteArgs(p.change.op, p.change.route)));
  } else {
    for (const [i, p] of planned.entries()) {
      try {
        await runIp(o.ip, ipRouteArgs(p.change.op, p.change.route));
      } catch (err) {
        failed.set(i, (err as Error).message);
      }
    }
  }
  // 3. verify from the live state; roll back what did not make its SA valid (newest first)
  const after = await o.analyze([]);
  const results: SaOutcome[] = [];
  for (let i = planned.length - 1; i >= 0; i--) {
    const p = planned[i] as (typeof planned)[number];
    let entry = entries[i] as JournalEntry;
    const base = { conn: p.change.conn, uniqueId: p.change.uniqueId, localHost: p.change.localHost, remoteHost: p.change.remoteHost, change: p.change };
    const err = failed.get(i);
    if (err !== undefined) {
      entry = o.journal.write({ ...entry, state: 'failed', note: err }, err);
      results.unshift({ ...base, status: 'failed', message: err, entry, configFixes: p.configFixes });
      continue;
    }
    const sa = findSa(after, p.ref);
    if (sa?.verdict === 'valid') {
      entry = o.journal.write({ ...entry, state: 'applied', verdictAfter: sa.verdict });
      results.unshift({ ...base, status: 'fixed', message: `${p.change.command}: now valid (${sa.reasonCode}); journal ${entry.id}`, entry });
      continue;
    }
    const why = sa ? `the verdict after the change is ${sa.verdict} (${sa.reasonCode}), not valid` : 'the IKE_SA disappeared after the change';
    try {
      const undone = await revertRouteChange(o.ip, entry);
      entry = o.journal.write({ ...entry, state: 'rolled-back', ...(sa ? { verdictAfter: sa.verdict } : {}), note: `${why}; ${undone}` }, why);
      results.unshift({ ...base, status: 'rolled-back', message: `${p.change.command}: rolled back, ${why}; ${undone}`, entry, configFixes: p.configFixes });
    } catch (e) {
      entry = o.journal.write({ ...entry, state: 'failed', note: `${why}; rollback failed: ${(e as Error).message}` }, 'rollback failed');
      results.unshift({ ...base, status: 'failed', message: `${why}; rollback failed: ${(e as Error).message} (journal ${entry.id})`, entry, configFixes: p.configFixes });
    }
  }
  for (const r of results) done(r);
  return outcomes;
}

export interface UndoOutcome {
  id: string;
  ok: boolean;
  message: string;
  entry: JournalEntry;
}

/**
 * Undoes one journaled change (`id`), or every change still in place, newest first.
 * `revertExtra` reverts what else the entry records (persisted files) before the entry
 * is marked `undone`.
 */
export async function undoRemediation(o: {
  journal: RemediationJournal;
  ip?: IpRunner;
  id?: string | undefined;
  /** The `ip` runner for an entry (its network namespace); default `ip`. */
  ipFor?: (e: JournalEntry) => IpRunner;
  revertExtra?: (e: JournalEntry) => Promise<string[]> | string[];
}): Promise<UndoOutcome[]> {
  const entries = o.id ? [o.journal.get(o.id)] : o.journal.active().reverse();
  const out: UndoOutcome[] = [];
  for (const e of entries) {
    if (e.state !== 'applied' && e.state !== 'applying') {
      out.push({ id: e.id, ok: false, message: `${e.id} is ${e.state}: nothing to undo`, entry: e });
      continue;
    }
    try {
      const ip = o.ipFor?.(e) ?? o.ip;
      if (!ip) throw new RemediationError('no ip runner given for undo');
      // files first: a file edited since refuses before the live route is touched
      const extra = (await o.revertExtra?.(e)) ?? [];
      const msgs = [await revertRouteChange(ip, e), ...extra];
      const entry = o.journal.write({ ...e, state: 'undone', note: msgs.join('; ') });
      out.push({ id: e.id, ok: true, message: msgs.join('; '), entry });
    } catch (err) {
      out.push({ id: e.id, ok: false, message: (err as Error).message, entry: e });
    }
  }
  return out;
}
