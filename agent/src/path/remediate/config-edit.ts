/**
 * Config-level fixes as reviewed file edits: `connections.<conn>.local_addrs = <local>` in
 * swanctl.conf, or a charon setting in strongswan.conf (`roam_events = no`,
 * `process_route = no`). The edit is planned on the file that holds the setting today
 * (the parser follows includes and knows each value's file and line), shown as a unified
 * diff, and only written when the operator asks for it explicitly; then charon needs a
 * reload (`swanctl --load-conns`) or, for strongswan.conf, a restart, which roamwatch
 * never does by itself (it re-establishes every IKE_SA).
 *
 * A literal local_addrs applies to IKE_SAs *initiated* after the reload: roam() asks
 * ike_cfg_has_address() of the SA's own ike_cfg, and a reauthentication builds the new
 * IKE_SA on the old SA's peer_cfg and ike_cfg, so the connection keeps reauthenticating on
 * every unrelated change, reload or not, until it is re-initiated (observed on charon 5.9.8:
 * after `swanctl --load-conns`, 2 of 2 changes still reauthenticated; after
 * `swanctl --terminate` + `--initiate`, 0 of 2). roamwatch does not re-initiate (that takes
 * the tunnel down): it says so.
 */
import { constants, copyFileSync, lstatSync } from 'node:fs';
import type { Fix } from '@roamwatch/core';
import { loadStrongswanConf, lookupValue, type ConfValue } from '../strongswan-conf.js';
import { readFileNoFollow, writeFileAtomic, type PersistRecord } from './journal.js';
import { sha256 } from './persist.js';

export interface ConfigEdit {
  /** swanctl.conf (a connection setting) or strongswan.conf (a charon setting). */
  target: 'swanctl.conf' | 'strongswan.conf';
  file: string;
  /** Dotted setting, e.g. `connections.rw.local_addrs`, `charon.plugins.kernel-netlink.roam_events`. */
  setting: string;
  value: string;
  before: string;
  after: string;
  /** Unified diff of before → after. */
  diff: string;
  /** What charon needs afterwards. */
  reload: 'swanctl --load-conns' | 'restart charon';
}

export class ConfigEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigEditError';
  }
}

/** `connections.rw.local_addrs = 10.0.0.1   # swanctl.conf, then: …` → setting and value. */
export function parseConfigFix(fix: Pick<Fix, 'kind' | 'command'>): { target: ConfigEdit['target']; setting: string; value: string } {
  const m = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(\S+)\s*(?:#.*)?$/.exec(fix.command);
  if (!m || (fix.kind !== 'config' && fix.kind !== 'setting')) throw new ConfigEditError(`not a config-level fix: ${fix.command}`);
  const setting = m[1] as string;
  if (setting.startsWith('connections.')) return { target: 'swanctl.conf', setting, value: m[2] as string };
  if (setting.startsWith('charon.')) return { target: 'strongswan.conf', setting, value: m[2] as string };
  throw new ConfigEditError(`unknown setting ${setting}`);
}

/** A minimal unified diff (one hunk around the changed lines, 2 lines of context). */
export function unifiedDiff(file: string, before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1;
  let endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) {
    endA--;
    endB--;
  }
  const from = Math.max(0, start - 2);
  const toA = Math.min(a.length - 1, endA + 2);
  const toB = Math.min(b.length - 1, endB + 2);
  const lines = [`--- ${file}`, `+++ ${file}`, `@@ -${from + 1},${toA - from + 1} +${from + 1},${toB - from + 1} @@`];
  for (let i = from; i < start; i++) lines.push(` ${a[i]}`);
  for (let i = start; i <= endA; i++) lines.push(`-${a[i]}`);
  for (let i = start; i <= endB; i++) lines.push(`+${b[i]}`);
  for (let i = endA + 1; i <= toA; i++) lines.push(` ${a[i]}`);
  return `${lines.join('\n')}\n`;
}

function replaceValue(text: string, v: ConfValue, key: string, value: string): string {
  const rows = text.split('\n');
  const i = v.line - 1;
  const row = rows[i];
  const re = new RegExp(`^(\\s*${key.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}\\s*=\\s*)([^#]*?)(\\s*(#.*)?)$`);
  if (row === undefined || !re.test(row)) throw new ConfigEditError(`${v.file}:${v.line} does not hold ${key} as expected`);
  rows[i] = row.replace(re, `$1${value}$3`);
  return rows.join('\n');
}

/**
 * Plans the edit of one config-level fix: the file that holds the setting today (or the
 * main file, where the setting is added), its content before and after, and the diff.
 */
export function planConfigEdit(fix: Pick<Fix, 'kind' | 'command'>, files: { swanctlConf: string; strongswanConf: string }): ConfigEdit {
  const { target, setting, value } = parseConfigFix(fix);
  const main = target === 'swanctl.conf' ? files.swanctlConf : files.strongswanConf;
  const conf = loadStrongswanConf(main);
  const parts = setting.split('.');
  const key = parts[parts.length - 1] as string;
  const reload = target === 'swanctl.conf' ? 'swanctl --load-conns' : 'restart charon';
  // a value inherited from a template section (`conn : template`) is not edited there (that
  // would change every connection using it): the setting is added to the connection instead
  const found =
    target === 'swanctl.conf'
      ? conf.root.sections.get('connections')?.sections.get(parts[1] as string)?.kv.get(key)
      : lookupValue(conf.root, setting);
  if (found) {
    const before = readFileNoFollow(found.file);
    const after = replaceValue(before, found, key, value);
    return { target, file: found.file, setting, value, before, after, diff: unifiedDiff(found.file, before, after), reload };
  }
  if (target === 'swanctl.conf') {
    // add it to the connection's section, in the file that opens it
    const conn = parts[1] as string;
    for (const f of conf.files) {
      const before = readFileNoFollow(f);
      const rows = before.split('\n');
      const at = rows.findIndex((r) => new RegExp(`^\\s*${conn.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}\\s*\\{\\s*(#.*)?$`).test(r));
      if (at < 0) continue;
      const indent = `${/^\s*/.exec(rows[at] as string)?.[0] ?? ''}    `;
      rows.splice(at + 1, 0, `${indent}${key} = ${value}`);
      const after = rows.join('\n');
      return { target, file: f, setting, value, before, after, diff: unifiedDiff(f, before, after), reload };
    }
    throw new ConfigEditError(`connection ${conn} not found in ${main} or its includes`);
  }
  // strongswan.conf: append the nested sections (charon merges sections of the same name)
  const before = readFileNoFollow(main);
  const path = parts.slice(0, -1);
  const open = path.map((p, i) => `${'    '.repeat(i)}${p} {`);
  const close = path.map((_, i) => `${'    '.repeat(path.length - 1 - i)}}`);
  const block = [...open, `${'    '.repeat(path.length)}${key} = ${value}`, ...close].join('\n');
  const after = `${before.replace(/\n*$/, '\n')}\n# roamwatch doctor --apply-config\n${block}\n`;
  return { target, file: main, setting, value, before, after, diff: unifiedDiff(main, before, after), reload };
}

/**
 * Writes a planned edit: refuses when the file changed since it was planned, backs it up
 * to `<file>.roamwatch-<suffix>.bak`, writes atomically with the file's mode. The record
 * goes into the journal entry (`persisted`), so `--undo` restores the backup.
 */
export function writeConfigEdit(edit: ConfigEdit, opts: { backupSuffix: string }): PersistRecord {
  if (lstatSync(edit.file).isSymbolicLink()) throw new ConfigEditError(`${edit.file} is a symlink: refusing to write through it`);
  if (readFileNoFollow(edit.file) !== edit.before) throw new ConfigEditError(`${edit.file} changed since the diff was shown: run doctor again`);
  const backup = `${edit.file}.roamwatch-${opts.backupSuffix}.bak`;
  copyFileSync(edit.file, backup, constants.COPYFILE_EXCL);
  writeFileAtomic(edit.file, edit.after, lstatSync(edit.file).mode & 0o777);
  return { system: edit.target, file: edit.file, backup, sha256: sha256(edit.after) };
}
