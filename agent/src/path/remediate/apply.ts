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
import type { Fix } from '@roamwatch/core';
import type { PathAnalysis } from '../analyze.js';
import type { IpRunner } from '../ip-json.js';
import { routeFromIpJson } from '../ip-json.js';
import { ipRouteArgs, parseIpRouteCommand, routeMatchesSpec, sameRouteKey, specFromRoute, formatIpRouteCommand, type RouteOp, type RouteSpec } from './route-spec.js';
import { newEntryId, type JournalEntry, type RemediationJournal } from './journal.js';

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
  /** A fresh analysis of every IKE_SA, reading the live state (VICI, routes) each time. */
  analyze: () => Promise<RemediableSa[]>;
  /** Runs `ip` (in charon's network namespace). */
  ip: IpRunner;
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
  const want = entry.change.route;
  const now = await readRoutesLike(ip, want);
  const ours = now.find((r) => routeMatches(r, want));
  if (entry.change.op === 'add') {
    if (!ours) return `the route roamwatch added (${formatIpRouteCommand('add', want)}) is no longer there: nothing to remove`;
    await runIp(ip, ipRouteArgs('del', want));
    return `removed ${formatIpRouteCommand('add', want).replace(/^ip (-6 )?route add /, '')}`;
  }
  if (!ours) throw new RemediationError(`the route roamwatch changed no longer looks as roamwatch left it (${formatIpRouteCommand(entry.change.op, want)}): changed by hand since? Not restoring over it.`);
  const prev = entry.previous[0];
  if (!prev) {
    await runIp(ip, ipRouteArgs('del', want));
    return 'removed the route (there was none before)';
  }
  await runIp(ip, ipRouteArgs('replace', prev));
  return `restored ${formatIpRouteCommand('replace', prev).replace(/^ip (-6 )?route replace /, '')}`;
}

/** Applies, verifies and journals the first route fix of every IKE_SA at risk. */
export async function applyRemediation(o: ApplyOptions): Promise<SaOutcome[]> {
  const outcomes: SaOutcome[] = [];
  const done = (x: SaOutcome): void => {
    outcomes.push(x);
    o.onOutcome?.(x);
  };
  const initial = (await o.analyze()).filter((a) => a.verdict === 'at-risk' && (!o.conns || o.conns.includes(a.ikeSaName)));
  for (const first of initial) {
    const ref = { uniqueId: first.uniqueId, conn: first.ikeSaName, localHost: first.localHost, remoteHost: first.remoteHost };
    // analyze again: an earlier fix in this run may already cover this SA (same local address and peer)
    const a = o.dryRun ? first : findSa(await o.analyze(), ref);
    const base = { conn: first.ikeSaName, uniqueId: first.uniqueId };
    if (!a) {
      done({ ...base, status: 'gone', message: 'the IKE_SA is gone (closed or reauthenticated) before it could be fixed' });
      continue;
    }
    if (a.verdict !== 'at-risk') {
      done({ ...base, status: 'already-valid', message: `now ${a.verdict} (${a.reasonCode}) after the changes before it` });
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
      continue;
    }
    if (o.confirm && !(await o.confirm(change))) {
      done({ ...base, status: 'declined', message: 'not applied (declined)', change, configFixes });
      continue;
    }
    const previous = await readRoutesLike(o.ip, parsed.spec);
    const now = new Date().toISOString();
    let entry: JournalEntry = o.journal.write({
      v: 1,
      id: newEntryId(),
      createdAt: now,
      updatedAt: now,
      state: 'applying',
      ...(o.netns ? { netns: o.netns } : {}),
      sa: { conn: a.ikeSaName, uniqueId: a.uniqueId, localHost: a.localHost, remoteHost: a.remoteHost },
      fix: { rank: fix.rank, command: fix.command },
      change: { op: parsed.op, route: parsed.spec },
      previous,
      verdictBefore: a.verdict,
      history: [],
    });
    try {
      await runIp(o.ip, ipRouteArgs(parsed.op, parsed.spec));
    } catch (err) {
      entry = o.journal.write({ ...entry, state: 'failed', note: (err as Error).message }, (err as Error).message);
      done({ ...base, status: 'failed', message: (err as Error).message, change, entry, configFixes });
      continue;
    }
    const after = findSa(await o.analyze(), ref);
    if (after?.verdict === 'valid') {
      entry = o.journal.write({ ...entry, state: 'applied', verdictAfter: after.verdict });
      done({ ...base, status: 'fixed', message: `${change.command}: now valid (${after.reasonCode}); journal ${entry.id}`, change, entry });
      continue;
    }
    const why = after ? `the verdict after the change is ${after.verdict} (${after.reasonCode}), not valid` : 'the IKE_SA disappeared after the change';
    try {
      const undone = await revertRouteChange(o.ip, entry);
      entry = o.journal.write({ ...entry, state: 'rolled-back', ...(after ? { verdictAfter: after.verdict } : {}), note: `${why}; ${undone}` }, why);
      done({ ...base, status: 'rolled-back', message: `${change.command}: rolled back, ${why}`, change, entry, configFixes });
    } catch (err) {
      entry = o.journal.write({ ...entry, state: 'failed', note: `${why}; rollback failed: ${(err as Error).message}` }, 'rollback failed');
      done({ ...base, status: 'failed', message: `${why}; rollback failed: ${(err as Error).message} (journal ${entry.id})`, change, entry, configFixes });
    }
  }
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
