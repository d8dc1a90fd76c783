/**
 * A Map from route base keys ("4|254|10.1.2.0/24||0|20", see mirror.ts) to values, stored
 * compactly: IPv4 routes without a source selector (nearly all of a large table) live in
 * one inner Map per (table, tos, priority) keyed by a number, dst * 64 + prefix length,
 * so a route costs a Map slot and a number instead of a ~25-character string. Other keys
 * (IPv6, IPv4 with `from`) use the string as is.
 */
export class RouteTable<V> {
  private readonly v4 = new Map<string, Map<number, V>>();
  private readonly other = new Map<string, V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Splits an IPv4 key without source into [bucket, numeric key], or undefined. */
  private static split(key: string): [string, number] | undefined {
    if (key.charCodeAt(0) !== 52 /* '4' */) return undefined;
    const p1 = key.indexOf('|', 2);
    const p2 = key.indexOf('|', p1 + 1);
    if (key.charCodeAt(p2 + 1) !== 124 /* '|': empty src */) return undefined;
    // dst "a.b.c.d/len" between p1 and p2
    let n = 0;
    let octet = 0;
    let i = p1 + 1;
    for (; i < p2; i++) {
      const c = key.charCodeAt(i);
      if (c === 46 /* . */) {
        n = n * 256 + octet;
        octet = 0;
      } else if (c === 47 /* / */) {
        break;
      } else {
        octet = octet * 10 + (c - 48);
      }
    }
    n = n * 256 + octet;
    const len = Number(key.slice(i + 1, p2));
    return [`${key.slice(2, p1)}|${key.slice(p2 + 2)}`, n * 64 + len];
  }

  private static join(bucket: string, k: number): string {
    const bar = bucket.indexOf('|');
    const len = k % 64;
    const n = (k - len) / 64;
    return `4|${bucket.slice(0, bar)}|${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${len}||${bucket.slice(bar + 1)}`;
  }

  get(key: string): V | undefined {
    const s = RouteTable.split(key);
    if (s === undefined) return this.other.get(key);
    return this.v4.get(s[0])?.get(s[1]);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    const s = RouteTable.split(key);
    if (s === undefined) {
      if (!this.other.has(key)) this.count++;
      this.other.set(key, value);
      return;
    }
    let inner = this.v4.get(s[0]);
    if (inner === undefined) {
      inner = new Map();
      this.v4.set(s[0], inner);
    }
    if (!inner.has(s[1])) this.count++;
    inner.set(s[1], value);
  }

  delete(key: string): boolean {
    const s = RouteTable.split(key);
    if (s === undefined) {
      const had = this.other.delete(key);
      if (had) this.count--;
      return had;
    }
    const inner = this.v4.get(s[0]);
    if (inner === undefined || !inner.delete(s[1])) return false;
    this.count--;
    if (inner.size === 0) this.v4.delete(s[0]);
    return true;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [bucket, inner] of this.v4) for (const [k, v] of inner) yield [RouteTable.join(bucket, k), v];
    yield* this.other.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
