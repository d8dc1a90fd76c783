/**
 * Opening the agent's own files (spool segments, state, lock, the `file:` sink) safely:
 *
 * - O_NOFOLLOW: a symlink planted where a spool file goes (by someone who can write the
 *   directory, or a mistake) is refused with ELOOP instead of being followed to, say,
 *   /etc/shadow, which the agent running as root would otherwise append to.
 * - An explicit mode set with fchmod after open, so the umask cannot widen or narrow it: spool
 *   files hold every event the gateway saw (addresses, identities), 0640 for the agent and its
 *   group (a log shipper), never world-readable, even under `umask 000`.
 *
 * A refused file is a SafeFileError naming the path: not retriable (a restart does not remove
 * a symlink).
 */
import fs from 'node:fs';
import { RoamwatchError } from '@roamwatch/core';

export class SafeFileError extends RoamwatchError {
  constructor(file: string, message: string, cause?: unknown) {
    super(`${file}: ${message}`, { code: 'FILE_UNSAFE', retriable: false, cause, context: { file } });
    this.name = 'SafeFileError';
  }
}

const { O_NOFOLLOW, O_CREAT, O_WRONLY, O_APPEND, O_TRUNC, O_EXCL, O_RDONLY } = fs.constants;

function refuse(file: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') throw new SafeFileError(file, 'is a symbolic link; refusing to follow it (remove it or point the option at the real file)', err);
  throw err;
}

/** Opens `file` for appending (created if missing) without following a symlink, mode `mode`. */
export function openAppendNoFollow(file: string, mode: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, mode);
  } catch (err) {
    refuse(file, err);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() && !st.isFIFO() && !st.isCharacterDevice()) throw new SafeFileError(file, 'is not a regular file');
    if (st.isFile()) fs.fchmodSync(fd, mode);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/** Reads `file` without following a symlink. */
export function readFileNoFollow(file: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    refuse(file, err);
  }
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `file` with `data`, mode `mode`: written to `file.tmp` (a stale or planted `.tmp` is
 * unlinked first and the new one created with O_EXCL), then renamed over `file` (rename replaces
 * a symlink itself, never its target).
 */
export function writeFileNoFollow(file: string, data: string, mode: number): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  let fd: number;
  try {
    fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW, mode);
  } catch (err) {
    refuse(tmp, err);
  }
  try {
    fs.fchmodSync(fd, mode);
    fs.writeSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Creates `dir` (mode `mode`, whatever the umask) and refuses it when it is a symlink. */
export function ensureDirNoFollow(dir: string, mode: number): void {
  let created = false;
  try {
    fs.mkdirSync(dir, { mode });
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      fs.mkdirSync(dir, { recursive: true, mode });
      created = true;
    } else if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new SafeFileError(dir, 'is a symbolic link; refusing to use it as the spool directory');
  if (!st.isDirectory()) throw new SafeFileError(dir, 'is not a directory');
  if (created) fs.chmodSync(dir, mode);
}
