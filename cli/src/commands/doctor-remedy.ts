/**
 * `roamwatch doctor --apply | --undo [ID] | --journal`: guided remediation on top of doctor's
 * analysis (docs/path-analysis.md, "Applying fixes").
 *
 * --apply   per IKE_SA at risk, the first route fix (least change, no charon config touched):
 *           confirm (terminal) or --yes, journal, `ip route …`, analyze again, keep it only
 *           when the verdict is `valid`, otherwise roll back and say why; then the snippet
 *           that makes the route survive a reboot in the gateway's network system (printed,
 *           or written with --persist, with a backup). --dry-run shows the plan only.
 * --undo    restores what a journaled change replaced (one ID, or every change in place,
 *           newest first), persisted files included, then shows the analysis again.
 * --journal lists the journal.
 *
 * The library does the work (agent/src/path/remediate/); this module wires it to doctor's
 * sources and prints.
 */
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import { EXIT, errorMessage } from '@roamwatch/core';
import {
  applyRemediation,
  DEFAULT_REMEDIATION_DIR,
  DEFAULT_SWANCTL_CONF,
  ipBatchRunner,
  newEntryId,
  planConfigEdit,
  strongswanConfPath,
  writeConfigEdit,
  detectNetSystems,
  ipRunner,
  NET_SYSTEMS,
  planPersist,
  RemediationJournal,
  revertPersist,
  undoRemediation,
  withRoutes,
  writePersist,
  type JournalEntry,
  type NetSystem,
  type PersistRecord,
  type PlannedChange,
  type RemediableSa,
  type SaOutcome,
  type Snippet,
} from '@roamwatch/agent/path';
import { exitCodeFor, formatText, realSources, runDoctor, type DoctorOptions, type DoctorResult, type DoctorSources } from './doctor.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Interactive confirmation; undefined when not on a terminal. */
  ask?: ((q: string) => Promise<boolean>) | undefined;
}

function toRemediable(r: DoctorResult): RemediableSa[] {
  return r.sas.map((s) => ({ ikeSaName: s.conn, uniqueId: s.uniqueId, localHost: s.localHost, remoteHost: s.remoteHost, verdict: s.verdict, reasonCode: s.reasonCode, fixes: s.fixes }));
}

function terminalAsk(): Io['ask'] {
  if (!process.stdin.isTTY || !process.stdout.isTTY) return undefined;
  return async (q) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question(`${q} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  };
}

function describeChange(c: PlannedChange): string {
  return `${c.conn}[${c.uniqueId}] ${c.localHost} → ${c.remoteHost}: fix ${c.fix.rank}\n    $ ${c.command}\n    ${c.fix.why}${c.fix.sideEffects ? `\n    side effects: ${c.fix.sideEffects}` : ''}`;
}

function describeOutcome(o: SaOutcome): string {
  const tag: Record<SaOutcome['status'], string> = {
    fixed: 'FIXED',
    'rolled-back': 'ROLLED BACK',
    failed: 'FAILED',
    planned: 'PLAN',
    declined: 'skipped',
    'already-valid': 'ok',
    'no-route-fix': 'NOT FIXED',
    gone: 'gone',
  };
  const lines = [`${tag[o.status]}  ${o.conn}[${o.uniqueId}]: ${o.message}`];
  for (const f of o.configFixes ?? []) if (o.status !== 'fixed') lines.push(`    config-level fix (review it; not applied): ${f.command}`);
  return lines.join('\n');
}

/** The persistence step for one fixed SA: write with --persist, else print the snippet. */
function persistFor(o: SaOutcome, opts: { persist: string | boolean | undefined; netRoot: string | undefined; journal: RemediationJournal }, io: Io): void {
  const c = o.change;
  const entry = o.entry;
  if (!c) return;
  const found = detectNetSystems(c.route.dev, { ...(opts.netRoot ? { root: opts.netRoot } : {}) });
  const wanted = typeof opts.persist === 'string' ? (opts.persist as NetSystem) : undefined;
  const target = wanted ? found.find((d) => d.system === wanted) : found[0];
  if (!target) {
    io.out(
      wanted
        ? `    persist: ${wanted} does not configure ${c.route.dev ?? 'this route'} here (detected: ${found.map((d) => d.system).join(', ') || 'none'}); the route is live only and is lost at reboot\n`
        : `    persist: no network configuration system found for ${c.route.dev ?? 'this route'} (looked for ${NET_SYSTEMS.join(', ')}); the route is live only and is lost at reboot\n`,
    );
    return;
  }
  let sn: Snippet;
  try {
    sn = planPersist(target, c.route, { name: c.conn });
  } catch (err) {
    io.out(`    persist (${target.system}, ${target.why}): ${errorMessage(err)}\n`);
    return;
  }
  if (!opts.persist) {
    io.out(`    to keep it across reboots (${target.system}: ${target.why}), add to ${sn.file}:\n${sn.text.replace(/^/gm, '      ')}    then: ${sn.then}   (or run again with --persist)\n`);
    return;
  }
  if (!entry) return;
  let rec: PersistRecord;
  try {
    rec = writePersist(sn, { backupSuffix: entry.id });
  } catch (err) {
    io.out(`    persist (${target.system}): not written: ${errorMessage(err)}\n`);
    return;
  }
  opts.journal.write({ ...entry, persisted: [...(entry.persisted ?? []), rec] }, `persisted in ${rec.file}`);
  io.out(`    persisted (${target.system}) in ${rec.file}${rec.backup ? `, backup ${rec.backup}` : ''}; then: ${sn.then}\n`);
  for (const n of sn.notes) io.out(`    note: ${n}\n`);
}

/** `swanctl --load-conns` against charon's VICI socket (what a swanctl.conf edit needs). */
export function loadConns(uri: string, swanctlConf: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('swanctl', ['--load-conns', '--uri', uri, '--file', swanctlConf], (err, stdout, stderr) => {
      if (err) reject(new Error(`swanctl --load-conns failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout).trim().split('\n').pop() ?? '');
    });
  });
}

/**
 * Config-level fixes for the SAs no route fixed: the first one of each is shown as a diff of
 * the file that holds the setting; written only with --apply-config (confirmed on a terminal,
 * or --yes), journaled with a backup, then `swanctl --load-conns` (swanctl.conf) or the
 * advice to restart charon (strongswan.conf).
 */
async function configStep(
  outcomes: SaOutcome[],
  options: Record<string, unknown>,
  doctorOpts: DoctorOptions,
  journal: RemediationJournal,
  io: Io,
): Promise<{ conn: string; status: 'shown' | 'applied' | 'failed'; file?: string; diff?: string; message: string; entryId?: string }[]> {
  const out: { conn: string; status: 'shown' | 'applied' | 'failed'; file?: string; diff?: string; message: string; entryId?: string }[] = [];
  const files = {
    swanctlConf: doctorOpts.swanctlConf ?? DEFAULT_SWANCTL_CONF,
    strongswanConf: strongswanConfPath(doctorOpts.strongswanConf, doctorOpts.env ?? process.env),
  };
  const uri = String(options['vici'] ?? 'unix:///var/run/charon.vici');
  const apply = options['applyConfig'] === true && options['dryRun'] !== true;
  const done = new Set<string>();
  for (const o of outcomes) {
    const fix = ['no-route-fix', 'rolled-back', 'failed', 'declined'].includes(o.status) ? o.configFixes?.[0] : undefined;
    if (!fix || done.has(fix.command)) continue;
    done.add(fix.command);
    let edit;
    try {
      edit = planConfigEdit(fix, files);
    } catch (err) {
      out.push({ conn: o.conn, status: 'failed', message: `config-level fix ${fix.command.replace(/\s*#.*$/, '')}: ${errorMessage(err)}` });
      continue;
    }
    io.out(`\nconfig-level fix for ${o.conn}[${o.uniqueId}] (fix ${fix.rank}): ${fix.why}\n  side effects: ${fix.sideEffects ?? 'none stated'}\n${edit.diff.replace(/^/gm, '  ')}  then: ${edit.reload}${apply ? '' : '   (written only with --apply-config)'}\n`);
    if (!apply) {
      out.push({ conn: o.conn, status: 'shown', file: edit.file, diff: edit.diff, message: `review: ${edit.setting} = ${edit.value} in ${edit.file}` });
      continue;
    }
    if (options['yes'] !== true && io.ask && !(await io.ask(`Write this change to ${edit.file}?`))) {
      out.push({ conn: o.conn, status: 'shown', file: edit.file, diff: edit.diff, message: 'declined' });
      continue;
    }
    const now = new Date().toISOString();
    const id = newEntryId();
    try {
      const rec = writeConfigEdit(edit, { backupSuffix: id });
      const entry = journal.write({
        v: 1,
        id,
        createdAt: now,
        updatedAt: now,
        state: 'applied',
        ...(options['netns'] ? { netns: options['netns'] as string } : {}),
        sa: { conn: o.conn, uniqueId: o.uniqueId, localHost: o.localHost ?? '', remoteHost: o.remoteHost ?? '' },
        fix: { rank: fix.rank, command: fix.command },
        change: { op: 'config', file: edit.file, setting: edit.setting, value: edit.value, reload: edit.reload },
        previous: [],
        verdictBefore: 'at-risk',
        persisted: [rec],
        history: [],
      });
      let msg = `wrote ${edit.setting} = ${edit.value} to ${edit.file} (backup ${rec.backup ?? '-'}); journal ${entry.id}`;
      if (edit.reload === 'swanctl --load-conns') msg += `; ${await loadConns(uri, files.swanctlConf)}; applies to IKE_SAs established from now on only: the current IKE_SA and its reauthentications keep the old config until you re-initiate the connection (swanctl --terminate --ike ${o.conn}, then swanctl --initiate; a short outage), which roamwatch does not do`;
      else msg += '; restart charon to apply it (every IKE_SA is re-established): roamwatch does not restart charon';
      io.out(`  ${msg}\n`);
      out.push({ conn: o.conn, status: 'applied', file: edit.file, diff: edit.diff, message: msg, entryId: entry.id });
    } catch (err) {
      io.out(`  not written: ${errorMessage(err)}\n`);
      out.push({ conn: o.conn, status: 'failed', file: edit.file, message: errorMessage(err) });
    }
  }
  return out;
}

export async function runApply(
  options: Record<string, unknown>,
  doctorOpts: DoctorOptions,
  sources: DoctorSources,
  io: Io,
): Promise<number> {
  const journal = new RemediationJournal({ dir: String(options['stateDir'] ?? DEFAULT_REMEDIATION_DIR) });
  const netns = options['netns'] as string | undefined;
  const dryRun = options['dryRun'] === true;
  const json = options['format'] === 'json';
  if (!dryRun && options['yes'] !== true && !io.ask) {
    io.err('roamwatch doctor: --apply changes routes: confirm on a terminal, or pass --yes (or --dry-run to see the plan)\n');
    return EXIT.error;
  }
  if (typeof options['persist'] === 'string' && !(NET_SYSTEMS as readonly string[]).includes(options['persist'])) {
    io.err(`roamwatch doctor: --persist ${options['persist']}: not a network system (one of ${NET_SYSTEMS.join(', ')})\n`);
    return EXIT.error;
  }
  const outcomes = await applyRemediation({
    // planned routes are added to the routing state doctor reads (a simulation, nothing is changed)
    analyze: async (planned) => toRemediable(await runDoctor(doctorOpts, planned.length === 0 ? sources : { ...sources, net: async () => withRoutes(await sources.net(), planned) })),
    ip: ipRunner({ netns }),
    ipBatch: ipBatchRunner({ netns }),
    journal,
    netns,
    dryRun,
    conns: options['conn'] as string[] | undefined,
    ...(options['yes'] === true || !io.ask ? {} : { confirm: async (c: PlannedChange) => (io.out(`${describeChange(c)}\n`), (io.ask as (q: string) => Promise<boolean>)('Apply this change?')) }),
    onOutcome: (o) => {
      if (json) return;
      io.out(`${describeOutcome(o)}\n`);
      if (o.status === 'fixed' || o.status === 'planned') persistFor(o, { persist: dryRun ? false : (options['persist'] as string | boolean | undefined), netRoot: options['netRoot'] as string | undefined, journal }, io);
    },
  });
  if (json && !dryRun) for (const o of outcomes) if (o.status === 'fixed') persistFor(o, { persist: options['persist'] as string | boolean | undefined, netRoot: options['netRoot'] as string | undefined, journal }, { ...io, out: () => undefined });
  const config = await configStep(outcomes, options, doctorOpts, journal, json ? { ...io, out: () => undefined } : io);
  const after = dryRun ? undefined : await runDoctor(doctorOpts, sources);
  if (json) {
    const entries = new Map(journal.list().map((e) => [e.id, e]));
    io.out(`${JSON.stringify({ outcomes: outcomes.map((o) => ({ ...o, ...(o.entry ? { entry: entries.get(o.entry.id) ?? o.entry } : {}) })), config, after }, null, 2)}\n`);
  } else if (outcomes.length === 0) io.out('Nothing at risk: nothing to apply.\n');
  if (after && !json) io.out(`\nAfter:\n${formatText(after)}`);
  if (after) return exitCodeFor(after);
  return outcomes.some((o) => o.status === 'planned' || o.status === 'no-route-fix') ? EXIT.findings : EXIT.ok;
}

export async function runUndo(options: Record<string, unknown>, doctorOpts: DoctorOptions, sources: DoctorSources | undefined, io: Io): Promise<number> {
  const journal = new RemediationJournal({ dir: String(options['stateDir'] ?? DEFAULT_REMEDIATION_DIR) });
  const id = typeof options['undo'] === 'string' ? options['undo'] : undefined;
  const res = await undoRemediation({
    journal,
    id,
    ipFor: (e: JournalEntry) => ipRunner({ netns: e.netns }),
    revertExtra: async (e) => {
      const msgs = (e.persisted ?? []).slice().reverse().map((p) => revertPersist(p));
      if (e.change.op === 'config' && e.change.reload === 'swanctl --load-conns') msgs.push(await loadConns(String(options['vici'] ?? 'unix:///var/run/charon.vici'), doctorOpts.swanctlConf ?? DEFAULT_SWANCTL_CONF));
      else if (e.change.op === 'config') msgs.push('restart charon for strongswan.conf to take effect');
      return msgs;
    },
  });
  const json = options['format'] === 'json';
  if (!json) {
    if (res.length === 0) io.out(`No change in place in the journal (${journal.dir}).\n`);
    for (const u of res) io.out(`${u.ok ? 'UNDONE' : 'NOT UNDONE'}  ${u.id} ${u.entry.sa.conn}[${u.entry.sa.uniqueId}] ${u.entry.fix.command}: ${u.message}\n`);
  }
  let after: DoctorResult | undefined;
  try {
    after = sources ? await runDoctor(doctorOpts, sources) : undefined;
  } catch (err) {
    io.err(`roamwatch doctor: undo done, but the analysis after it failed: ${errorMessage(err)}\n`);
  }
  if (json) io.out(`${JSON.stringify({ undone: res.map((u) => ({ id: u.id, ok: u.ok, message: u.message, state: u.entry.state })), after }, null, 2)}\n`);
  else if (after) io.out(`\nAfter:\n${formatText(after)}`);
  return res.some((u) => !u.ok) ? EXIT.findings : EXIT.ok;
}

export function runJournal(options: Record<string, unknown>, io: Io): number {
  const journal = new RemediationJournal({ dir: String(options['stateDir'] ?? DEFAULT_REMEDIATION_DIR) });
  const list = journal.list();
  if (options['format'] === 'json') {
    io.out(`${JSON.stringify(list, null, 2)}\n`);
    return EXIT.ok;
  }
  if (list.length === 0) io.out(`The journal (${journal.dir}) is empty.\n`);
  for (const e of list) {
    io.out(`${e.id}  ${e.state.padEnd(11)}  ${e.sa.conn}[${e.sa.uniqueId}] ${e.sa.localHost} → ${e.sa.remoteHost}  ${e.fix.command}${e.netns ? `  (netns ${e.netns})` : ''}\n`);
    if (e.note) io.out(`    ${e.note}\n`);
    for (const p of e.persisted ?? []) io.out(`    persisted (${p.system}) in ${p.file}${p.backup ? `, backup ${p.backup}` : ''}\n`);
  }
  return EXIT.ok;
}

/** Entry point from doctor's run() when --apply, --undo or --journal is given. */
export async function runRemedy(options: Record<string, unknown>, doctorOpts: DoctorOptions, uri: string): Promise<number> {
  const io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), ask: options['yes'] === true ? undefined : terminalAsk() };
  const sources = realSources(uri, { netns: options['netns'] as string | undefined });
  try {
    if (options['journal'] === true) return runJournal(options, io);
    if (options['undo'] !== undefined) return await runUndo(options, doctorOpts, sources, io);
    return await runApply(options, doctorOpts, sources, io);
  } catch (err) {
    io.err(`roamwatch doctor: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
}
