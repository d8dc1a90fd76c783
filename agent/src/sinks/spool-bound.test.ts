import { describe, expect, it } from 'vitest';
import { SpoolBound } from './spool-bound.js';

describe('SpoolBound', () => {
  it('when the disk has room, then the bound is maxBytes; when it nears full, then what fits above minFreeBytes', () => {
    let free = 10_000;
    const b = new SpoolBound({ dir: '/x', maxBytes: 5000, minFreeBytes: 1000, freeBytes: () => free, statfsIntervalMs: 0 });
    expect(b.limit(0)).toBe(5000);
    free = 2000;
    expect(b.limit(3000)).toBe(4000); // 3000 used + 2000 free − 1000 reserved
    free = 500;
    expect(b.limit(0)).toBe(0);
  });

  it('between two statfs calls, the estimate follows what the spool wrote and deleted', () => {
    let calls = 0;
    const b = new SpoolBound({ dir: '/x', maxBytes: 1 << 30, minFreeBytes: 0, freeBytes: () => (calls++, 10_000), statfsIntervalMs: 60_000 });
    expect(b.limit(0)).toBe(10_000);
    b.used(4000);
    expect(b.limit(4000)).toBe(10_000); // 4000 on disk + 6000 still free
    b.used(-4000);
    expect(b.limit(0)).toBe(10_000);
    expect(calls).toBe(1);
    b.refresh();
    b.limit(0);
    expect(calls).toBe(2);
  });

  it('when statfs fails, then the bound is maxBytes alone', () => {
    const b = new SpoolBound({ dir: '/x', maxBytes: 777, freeBytes: () => {
      throw new Error('ENOSYS');
    } });
    expect(b.limit(0)).toBe(777);
  });
});
