/**
 * Event ids are UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 12 bits of
 * sub-millisecond counter (rand_a used as a monotonic counter, RFC 9562 §6.2 method 1),
 * then 62 random bits. Ids made by one process sort in creation order; ids from
 * different hosts are unique with overwhelming probability.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let poolPos = pool.length;
let lastMs = -1;
let counter = 0;

function randomBytes(n: number): Buffer {
  if (poolPos + n > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const out = pool.subarray(poolPos, poolPos + n);
  poolPos += n;
  return out;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A new UUIDv7 string, e.g. `019ac6f2-8d1e-7a3c-9b21-4f0e6d2c1a7b`. */
export function uuidv7(nowMs: number = Date.now()): string {
  let ms = Math.floor(nowMs);
  if (ms <= lastMs) {
    // Same (or an earlier, after a clock step) millisecond: keep order with the counter.
    ms = lastMs;
    counter += 1;
    if (counter > 0xfff) {
      // Counter exhausted within one millisecond: borrow the next millisecond.
      ms += 1;
      counter = 0;
    }
  } else {
    counter = randomBytes(1)[0]! & 0x7f; // random start, leaves room to count up
  }
  lastMs = ms;
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((counter >> 8) & 0x0f);
  b[7] = counter & 0xff;
  randomBytes(8).copy(b, 8);
  b[8] = (b[8]! & 0x3f) | 0x80;
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[i]!];
  }
  return s;
}

export const UUID_V7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Millis(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
