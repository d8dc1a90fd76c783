/**
 * A Map from route base keys ("4|254|0|20||10.1.2.0/24", see routeBaseKey in mirror.ts) to
 * values, stored compactly: IPv4 routes without a source selector (nearly all of a large
 * table) live in inner Maps, one per (table, tos, priority) and prefix length, keyed by the
 * destination address as a signed 32-bit integer (a V8 small integer: no allocation, no
 * string), so a route costs a Map slot instead of a ~25-character key string. Other keys
 * (IPv6, IPv4 with `from`) use the string as is.
 */
export class RouteTable<V> {
  /** bucket "4|table|tos|priority|" → inner maps by prefix length. */
  private readonly v4 = new Map<string, (Map<number, V> | undefined)[]>();
  private readonly other = new Map<string, V>();
  private count = 0;
  // The last bucket used: storms hit the same bucket again and again.
  private lastBucket = '';
  private lastInner: (Map<number, V> | undefined)[] | undefined;

  get size(): number {
    return this.count;
  }

  // Results of the last split() (no array allocation per call).
  private sLen = 0;
  private sAddr = 0;
  private sBucket = '';

  /**
   * For an IPv4 key without source: sets sBucket, sLen (prefix length) and sAddr (address as
   * int32) and returns true; false for any other key.
   */
  private split(key: string): boolean {
    if (key.charCodeAt(0) !== 52 /* '4' */) return false;
    const bar = key.lastIndexOf('|');
    if (key.charCodeAt(bar - 1) !== 124 /* '|': empty src */) return false;
    let n = 0;
    let octet = 0;
    let i = bar + 1;
    const end = key.length;
    for (; i < end; i++) {
      const c = key.charCodeAt(i);
      if (c === 46 /* . */) {
        n = ((n << 8) | octet) | 0;
        octet = 0;
      } else if (c === 47 /* / */) {
        break;
      } else {
        octet = octet * 10 + (c - 48);
      }
    }
    n = ((n << 8) | octet) | 0;
    let len = 0;
    for (i++; i < end; i++) len = len * 10 + (key.charCodeAt(i) - 48);
    this.sLen = len;
    this.sAddr = n;
    // Storms hit one bucket again and again: reuse the last bucket string when it matches.
    const last = this.lastBucket;
    this.sBucket = last.length === bar + 1 && key.startsWith(last) ? last : key.slice(0, bar + 1);
    return true;
  }

  private static join(bucket: string, len: number, n: number): string {
    return `${bucket}${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${len}`;
  }

  private inner(bucket: string, create: boolean): (Map<number, V> | undefined)[] | undefined {
    if (bucket === this.lastBucket && this.lastInner !== undefined) return this.lastInner;
    let byLen = this.v4.get(bucket);
    if (byLen === undefined) {
      if (!create) return undefined;
      byLen = [];
      this.v4.set(bucket, byLen);
    }
    this.lastBucket = bucket;
    this.lastInner = byLen;
    return byLen;
  }

  get(key: string): V | undefined {
    if (!this.split(key)) return this.other.get(key);
    return this.inner(this.sBucket, false)?.[this.sLen]?.get(this.sAddr);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    if (!this.split(key)) {
      if (!this.other.has(key)) this.count++;
      this.other.set(key, value);
      return;
    }
    const byLen = this.inner(this.sBucket, true) as (Map<number, V> | undefined)[];
    const len = this.sLen;
    const addr = this.sAddr;
    let m = byLen[len];
    if (m === undefined) {
      m = new Map();
      byLen[len] = m;
    }
    const before = m.size;
    m.set(addr, value);
    if (m.size !== before) this.count++;
  }

  delete(key: string): boolean {
    if (!this.split(key)) {
      const had = this.other.delete(key);
      if (had) this.count--;
      return had;
    }
    const m = this.inner(this.sBucket, false)?.[this.sLen];
    if (m === undefined || !m.delete(this.sAddr)) return false;
    this.count--;
    return true;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [bucket, byLen] of this.v4) {
      for (let len = 0; len < byLen.length; len++) {
        const m = byLen[len];
        if (m !== undefined) for (const [n, v] of m) yield [RouteTable.join(bucket, len, n), v];
      }
    }
    yield* this.other.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
