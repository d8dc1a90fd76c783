/**
 * The remediation journal: one JSON file per change that `roamwatch doctor --apply` made
 * (what, when, for which IKE_SA, the state before, the state now, what was persisted and
 * where the backup is), so that `--undo` restores exactly what was there — also from
 * another process, after a reboot of roamwatch, or days later.
 *
 * Files are written safely: the directory is created 0750 and must be a real directory
 * owned by us and not writable by others (never a symlink); each entry is written to a
 * temporary file opened with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0640, fsync'ed, renamed over the entry and the
 * directory fsync'ed, so a crash leaves the old or the new entry, never half of one.
 * Entries are read with O_NOFOLLOW too. An entry is written *before* the change
 * (state `applying`), so a crash between the two is visible and undoable.
 */
import { closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { RouteOp, RouteSpec } from './route-spec.js';

/**
 * Directory 0750 and entries 0640: the agent, which may run as another user, reads the
 * journal to say who fixed an SA (give the directory its group, with the setgid bit, so new
 * entries inherit it); nobody but the owner writes. Entries hold routes and addresses, no secrets.
 */
export const JOURNAL_DIR_MODE = 0o750;
export const JOURNAL_FILE_MODE = 0o640;

/** Default state directory of the journal. */
export const DEFAULT_REMEDIATION_DIR = '/var/lib/roamwatch/remediation';

export type JournalState = 'applying' | 'applied' | 'rolled-back' | 'undone' | 'failed';

export interface PersistRecord {
  /** Network configuration system (see persist.ts). */
  system: string;
  file: string;
  /** Copy of the file before roamwatch changed it; absent when roamwatch created the file. */
  backup?: string;
  /** sha256 of the file as roamwatch left it: undo refuses to restore over later edits. */
  sha256: string;
}

export interface JournalEntry {
  v: 1;
  id: string;
  /** ISO time of the change. */
  createdAt: string;
  updatedAt: string;
  state: JournalState;
  /** Network namespace the change was made in (`ip -n`), when not the current one. */
  netns?: string;
  sa: { conn: string; uniqueId: string; localHost: string; remoteHost: string };
  /** The doctor fix that was applied. */
  fix: { rank: number; command: string };
  /** What was done: a route (routing table), or a config-level fix (a file edit; `persisted` holds the file and its backup). */
  change: JournalRouteChange | JournalConfigChange;
  /** The routes with the same kernel key before the change (empty: there was none). */
  previous: RouteSpec[];
  verdictBefore: string;
  verdictAfter?: string;
  /** Why a change was rolled back or failed. */
  note?: string;
  persisted?: PersistRecord[];
  history: { at: string; state: JournalState; note?: string }[];
}

export interface JournalRouteChange {
  op: RouteOp;
  route: RouteSpec;
}

export interface JournalConfigChange {
  op: 'config';
  file: string;
  setting: string;
  value: string;
  /** What charon needed afterwards (`swanctl --load-conns`, `restart charon`). */
  reload: string;
}

export function isRouteChange(c: JournalRouteChange | JournalConfigChange): c is JournalRouteChange {
  return c.op !== 'config';
}

export class JournalError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'JournalError';
  }
}

const ID_RE = /^[0-9]{8}T[0-9]{6}Z-[a-z0-9]{6}$/;

export function newEntryId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(4).toString('hex').slice(0, 6)}`;
}

function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: JOURNAL_DIR_MODE });
  } catch (err) {
    throw new JournalError(`cannot create the journal directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new JournalError(`${dir} is not a directory (a symlink is refused)`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new JournalError(`${dir} is not owned by this user (uid ${st.uid}): refusing to use it`);
  if ((st.mode & 0o022) !== 0) throw new JournalError(`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): refusing to use it`);
}

/** Writes `data` to `path` atomically: O_EXCL|O_NOFOLLOW temporary file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.slice(0, Math.max(path.lastIndexOf('/'), 0)) || '/';
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Reads a file without following a symlink in its last component. */
export function readFileNoFollow(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export class RemediationJournal {
  readonly dir: string;

  constructor(opts: { dir?: string } = {}) {
    this.dir = opts.dir ?? DEFAULT_REMEDIATION_DIR;
  }

  private path(id: string): string {
    if (!ID_RE.test(id)) throw new JournalError(`not a journal id: ${id} (expected e.g. 20261130T160102Z-a1b2c3)`);
    return join(this.dir, `${id}.json`);
  }

  /** Writes (creates or replaces) an entry; appends the state to its history. */
  write(entry: JournalEntry, note?: string): JournalEntry {
    ensureDir(this.dir);
    const now = new Date().toISOString();
    const last = entry.history[entry.history.length - 1];
    const history = last?.state === entry.state && last.note === note ? entry.history : [...entry.history, { at: now, state: entry.state, ...(note ? { note } : {}) }];
    const e: JournalEntry = { ...entry, updatedAt: now, history };
    writeFileAtomic(this.path(e.id), `${JSON.stringify(e, null, 2)}\n`, JOURNAL_FILE_MODE);
    return e;
  }

  get(id: string): JournalEntry {
    let text: string;
    try {
      text = readFileNoFollow(this.path(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new JournalError(`no journal entry ${id} in ${this.dir}`);
      throw new JournalError(`cannot read journal entry ${id}: ${(err as Error).message}`, { cause: err });
    }
    return parseEntry(text, id);
  }

  /** Every entry, oldest first (ids sort by time). A directory that does not exist is an empty journal. */
  list(): JournalEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new JournalError(`cannot read the journal directory ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    return names
      .filter((n) => n.endsWith('.json') && ID_RE.test(n.slice(0, -5)))
      .sort()
      .map((n) => this.get(n.slice(0, -5)));
  }

  /** Entries whose change is in place (applied, or interrupted while applying). */
  active(): JournalEntry[] {
    return this.list().filter((e) => e.state === 'applied' || e.state === 'applying');
  }
}

function parseEntry(text: string, id: string): JournalEntry {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new JournalError(`journal entry ${id} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const e = o as Partial<JournalEntry>;
  if (e.v !== 1 || e.id !== id || !e.change || !e.sa || !Array.isArray(e.previous) || !Array.isArray(e.history)) {
    throw new JournalError(`journal entry ${id} is not a roamwatch remediation entry (version 1)`);
  }
  return e as JournalEntry;
}
