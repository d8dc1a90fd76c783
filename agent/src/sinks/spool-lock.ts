/**
 * The spool's owner lock: one agent per spool directory, and a lock that cannot go stale.
 *
 * A pid alone goes stale: after a reboot (or a long uptime) an unrelated process can carry the
 * pid that the last agent wrote, and `kill(pid, 0)` then says "alive" for ever. So the lock file
 * names the owner by three things, read from procfs (proc(5)):
 *
 *   {"pid": 4242, "startTicks": 123456, "bootId": "…"}
 *
 * - `startTicks`: field 22 of /proc/<pid>/stat, the process's start time in clock ticks since
 *   boot. A reused pid has another start time.
 * - `bootId`: /proc/sys/kernel/random/boot_id, new on every boot (start times restart at 0).
 *
 * The lock is held only if a process with that pid exists *and* has that start time on this
 * boot. A lock written by an older agent (the pid alone) is held only if a process with that
 * pid exists and was started before the lock file was last written: a process started after the
 * lock was written cannot be the one that wrote it.
 *
 * Why not flock(2): Node has no flock binding, and a native addon for one call is more to build
 * and audit than two procfs reads. The lock file is written with O_NOFOLLOW and mode 0640 (see
 * safe-file.ts), never through a planted symlink.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileNoFollow } from './safe-file.js';

export interface ProcessIdentity {
  pid: number;
  startTicks: number;
  bootId: string;
}

/** The owner of a spool, or undefined when the lock is free or stale. */
export interface LockHolder {
  pid: number;
  /** Why the lock was judged held (for the error message). */
  how: 'pid-and-start-time' | 'legacy-pid';
}

function readBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined when there is no such process. */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may itself contain spaces and ')': split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const ticks = Number(rest[19]);
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

/** Seconds since the epoch when the system booted (btime in /proc/stat). */
function bootTimeS(): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second for /proc/<pid>/stat times (sysconf(_SC_CLK_TCK); 100 on Linux). */
const CLK_TCK = 100;

export function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0, bootId: readBootId() };
}

/** Who holds the lock file `file` right now (never this process itself). */
export function lockHolder(file: string): LockHolder | undefined {
  let text: string;
  let mtimeMs: number;
  try {
    const st = fs.lstatSync(file);
    // A symlink is no lock of ours (it is replaced by rename, never followed).
    if (!st.isFile()) return undefined;
    mtimeMs = st.mtimeMs;
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (text.startsWith('{')) {
    let id: Partial<ProcessIdentity>;
    try {
      id = JSON.parse(text) as Partial<ProcessIdentity>;
    } catch {
      return undefined;
    }
    const pid = id.pid;
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
    if (id.bootId !== readBootId()) return undefined;
    const ticks = processStartTicks(pid);
    return ticks !== undefined && ticks === id.startTicks ? { pid, how: 'pid-and-start-time' } : undefined;
  }
  // An older agent's lock: the pid alone.
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  const ticks = processStartTicks(pid);
  if (ticks === undefined) return undefined;
  const btime = bootTimeS();
  if (btime === undefined) return { pid, how: 'legacy-pid' };
  const startedMs = (btime + ticks / CLK_TCK) * 1000;
  // A process started after the lock was written did not write it (1 s for clock granularity).
  return startedMs <= mtimeMs + 1000 ? { pid, how: 'legacy-pid' } : undefined;
}

/** Writes this process's identity into `dir/lock` (0640, never through a symlink). */
export function writeLock(dir: string): void {
  writeFileNoFollow(path.join(dir, 'lock'), JSON.stringify(selfIdentity()) + '\n', 0o640);
}

export function removeLock(dir: string): void {
  fs.rmSync(path.join(dir, 'lock'), { force: true });
}
