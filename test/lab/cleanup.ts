// Ownership records and best-effort cleanup of labs left behind by crashed runs.
//
// Every lab writes <dir>/lab.json naming the process that owns it (pid + start time,
// so a recycled pid is not mistaken for the owner). A lab whose owner is gone is
// stale: its namespaces (and every process inside them, which can only be the lab's
// own charons and commands started there) and its directory are removed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';

export const LAB_PREFIX = 'rwlab-';
export const LAB_ID_RE = /^rwlab-[a-z0-9][a-z0-9-]{0,31}$/;
// gw/peer: a lab's two namespaces; up: a fleet's upstream router (test/lab/fleet.ts).
const NETNS_RE = /^(rwlab-[a-z0-9][a-z0-9-]{0,31})-(gw|peer|up)$/;

export interface LabOwnerRecord {
  id: string;
  ownerPid: number;
  /** /proc/<pid>/stat starttime (clock ticks since boot) of the owner. */
  ownerStart: string;
  createdAt: string;
  netns: string[];
  dir: string;
  charonPids: Record<string, number | undefined>;
}

/**
 * Writes `<dir>/lab.json`, the record that this process owns the lab (or fleet) `id` with
 * these namespaces: cleanupStaleLabs() removes them once the owner is gone.
 */
export function writeOwnerRecord(dir: string, id: string, netns: string[], charonPids: LabOwnerRecord['charonPids'] = {}): void {
  const rec: LabOwnerRecord = {
    id,
    ownerPid: process.pid,
    ownerStart: processStartTime(process.pid) ?? '',
    createdAt: new Date().toISOString(),
    netns,
    dir,
    charonPids,
  };
  writeFileSync(join(dir, 'lab.json'), `${JSON.stringify(rec, null, 2)}\n`);
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

export function ownerAlive(rec: Pick<LabOwnerRecord, 'ownerPid' | 'ownerStart'>): boolean {
  return processStartTime(rec.ownerPid) === rec.ownerStart;
}

export function readOwnerRecord(dir: string): LabOwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabOwnerRecord;
  } catch {
    return undefined;
  }
}

/** Names from `ip netns list` (which prints "name" or "name (id: N)"). */
export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { check: false });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Kills every process in a lab namespace and deletes the namespace (synchronous, best effort). */
export function destroyNetnsSync(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const p of (pids.stdout ?? '').split(/\s+/)) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

export interface CleanupOptions {
  /** Where lab directories live (default os.tmpdir()). */
  baseDir?: string;
  /** Also remove rwlab-* namespaces/dirs that have no ownership record. Default false. */
  includeUnowned?: boolean;
  /** Only consider these lab ids. */
  ids?: string[];
}

/**
 * Removes labs whose owning process is gone. Returns the ids removed.
 * Labs whose owner still runs (another test run, another engineer) are never touched.
 */
export async function cleanupStaleLabs(opts: CleanupOptions = {}): Promise<string[]> {
  const baseDir = opts.baseDir ?? tmpdir();
  const byId = new Map<string, { netns: string[]; dir?: string }>();
  const entry = (id: string) => {
    let e = byId.get(id);
    if (!e) {
      e = { netns: [] };
      byId.set(id, e);
    }
    return e;
  };
  for (const ns of await listNetns()) {
    const m = NETNS_RE.exec(ns);
    if (m?.[1]) entry(m[1]).netns.push(ns);
  }
  let names: string[] = [];
  try {
    names = readdirSync(baseDir);
  } catch {
    /* no base dir */
  }
  for (const name of names) if (LAB_ID_RE.test(name)) entry(name).dir = join(baseDir, name);

  const removed: string[] = [];
  for (const [id, e] of byId) {
    if (opts.ids && !opts.ids.includes(id)) continue;
    const rec = e.dir ? readOwnerRecord(e.dir) : undefined;
    if (rec ? ownerAlive(rec) : !opts.includeUnowned) continue;
    for (const ns of e.netns) destroyNetnsSync(ns);
    if (e.dir && existsSync(e.dir)) rmSync(e.dir, { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}
