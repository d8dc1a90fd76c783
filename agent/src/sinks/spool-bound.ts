/**
 * The spool's size policy: how many bytes its segments may take right now.
 *
 * The bound in force is the smaller of `maxBytes` and what fits while leaving `minFreeBytes`
 * free on the spool's filesystem: spool bytes + free bytes − minFreeBytes. Free space comes from
 * statfs(2) (f_bavail · f_bsize: what an unprivileged writer may still use), asked at most once
 * per `statfsIntervalMs`; in between, the spool reports what it wrote and deleted so the estimate
 * follows its own writes. When statfs fails the bound is `maxBytes` alone.
 */
import fs from 'node:fs';

export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;

export interface SpoolBoundOptions {
  dir: string;
  maxBytes: number;
  minFreeBytes?: number;
  /** Free bytes of the filesystem holding `dir` (default: statfs(2)); for tests. */
  freeBytes?: (dir: string) => number;
  statfsIntervalMs?: number;
}

function statfsFree(dir: string): number {
  const st = fs.statfsSync(dir);
  return Number(st.bavail) * Number(st.bsize);
}

export class SpoolBound {
  private readonly o: Required<Omit<SpoolBoundOptions, 'freeBytes'>> & { freeBytes: (dir: string) => number };
  private free: { bytes: number; atMs: number; delta: number } | undefined;

  constructor(o: SpoolBoundOptions) {
    this.o = {
      dir: o.dir,
      maxBytes: o.maxBytes,
      minFreeBytes: o.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES,
      freeBytes: o.freeBytes ?? statfsFree,
      statfsIntervalMs: o.statfsIntervalMs ?? 1000,
    };
  }

  get maxBytes(): number {
    return this.o.maxBytes;
  }

  /** The bound in force, given the bytes the spool's segments take now. */
  limit(diskBytes: number): number {
    const free = this.freeBytes();
    if (free === undefined) return this.o.maxBytes;
    return Math.max(0, Math.min(this.o.maxBytes, diskBytes + free - this.o.minFreeBytes));
  }

  /** The spool wrote (positive) or deleted (negative) this many bytes. */
  used(bytes: number): void {
    if (this.free) this.free.delta += bytes;
  }

  /** Forget the estimate: the next limit() asks the filesystem (after a write error, say). */
  refresh(): void {
    this.free = undefined;
  }

  private freeBytes(): number | undefined {
    const now = Date.now();
    if (!this.free || now - this.free.atMs >= this.o.statfsIntervalMs) {
      try {
        this.free = { bytes: this.o.freeBytes(this.o.dir), atMs: now, delta: 0 };
      } catch {
        return undefined;
      }
    }
    return this.free.bytes - this.free.delta;
  }
}
