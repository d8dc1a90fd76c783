/**
 * A small tmpfs that a test creates and removes: a real filesystem that really fills up
 * (ENOSPC from the kernel, not a mock). Mounting needs root (CAP_SYS_ADMIN); without it the
 * test fails and says so: it never skips.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Fills the filesystem to the last byte with a file `filler`; returns its size. */
  fill(): number;
  /** Removes the filler file. */
  unfill(): void;
  freeBytes(): number;
  remove(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmdirSync(dir);
    throw new Error(
      `cannot mount a ${sizeBytes}-byte tmpfs for the disk-full tests (${(r.stderr || r.error?.message || '').trim()}): ` +
        'these tests need root (CAP_SYS_ADMIN); run the integration tests as root, as .ci/run does',
    );
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(4096, 0x78);
      let n = 0;
      try {
        for (;;) n += fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last partial block.
      try {
        for (;;) n += fs.writeSync(fd, chunk, 0, 1);
      } catch {
        /* full */
      }
      fs.closeSync(fd);
      return n;
    },
    unfill() {
      fs.rmSync(filler, { force: true });
    },
    freeBytes() {
      const st = fs.statfsSync(dir);
      return st.bavail * st.bsize;
    },
    remove() {
      spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
