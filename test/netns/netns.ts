/**
 * Small helpers for tests that need a network namespace of their own (prefix `rwnl-`),
 * real `ip` commands and the rtnl-pipe helper binary. Root is required (CI runs as root).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { IpListings } from '../../agent/src/rtnetlink/compare.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const HELPER_SOURCE = `${root}agent/native/rtnl-pipe.c`;
export const HELPER_PATH = `${root}agent/native/build/rtnl-pipe`;

/** Builds agent/native/build/rtnl-pipe when it is missing or older than its source. */
export function ensureHelperBuilt(): string {
  if (!existsSync(HELPER_PATH) || statSync(HELPER_PATH).mtimeMs < statSync(HELPER_SOURCE).mtimeMs) {
    const r = spawnSync('sh', [`${root}agent/native/build.sh`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building rtnl-pipe failed (needs a C compiler, e.g. apt-get install gcc):\n${r.stderr}`);
  }
  return HELPER_PATH;
}

/** Fails with a message saying what is needed, never skips. */
export function requireNetnsPrivileges(): void {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error('these tests need iproute2 (`ip`) and root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces');
}

export class Netns {
  private constructor(readonly name: string) {}

  /** Creates `rwnl-<tag>-<pid>` with lo up; removes a stale one of the same name first. */
  static create(tag: string): Netns {
    const name = `rwnl-${tag}-${process.pid}`.slice(0, 60);
    spawnSync('ip', ['netns', 'del', name]);
    execFileSync('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.ip('link set lo up');
    return ns;
  }

  /** A namespace someone else created (a lab's), for its listings; destroy() is theirs to call. */
  static existing(name: string): Netns {
    return new Netns(name);
  }

  /** Runs `ip -n NAME <args>` and returns stdout; throws with stderr on failure. */
  ip(args: string): string {
    const r = spawnSync('ip', ['-n', this.name, ...args.split(/\s+/).filter(Boolean)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Runs `ip -n NAME -batch -` with the given lines. */
  batch(lines: string, opts: { force?: boolean } = {}): void {
    const r = spawnSync('ip', ['-n', this.name, ...(opts.force ? ['-force'] : []), '-batch', '-'], {
      input: lines, encoding: 'utf8', maxBuffer: 1 << 30,
    });
    if (r.status !== 0 && !opts.force) throw new Error(`ip -batch: ${r.stderr.slice(0, 2000)}`);
  }

  /** Like batch(), but runs concurrently with the event loop (the source keeps reading). */
  batchAsync(lines: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['-n', this.name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString('utf8'); });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch exited ${code}: ${err}`))));
      p.stdin.end(lines);
    });
  }

  private json(args: string): unknown[] {
    const r = spawnSync('ip', ['-n', this.name, '-N', '-j', ...args.split(' ')], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`ip -j ${args}: ${r.stderr}`);
    return r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as unknown[]);
  }

  /** The kernel's own listings, for compareWithIp(). */
  listings(): IpListings {
    return {
      route4: this.json('-4 route show table all'),
      route6: this.json('-6 route show table all'),
      addr: this.json('addr'),
      link: this.json('link'),
      rule4: this.json('rule'),
      rule6: this.json('-6 rule'),
    };
  }

  /** Sets a sysctl inside the namespace. */
  sysctl(key: string, value: string): void {
    execFileSync('ip', ['netns', 'exec', this.name, 'sysctl', '-qw', `${key}=${value}`]);
  }

  destroy(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}
