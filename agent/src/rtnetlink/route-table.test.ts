import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RouteTable } from './route-table.js';

describe('RouteTable', () => {
  it('when IPv4, IPv6 and sourced keys are set and deleted, then it behaves like a Map with the same keys', () => {
    const key = fc.oneof(
      fc.tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 }), fc.constantFrom(254, 255, 1000), fc.constantFrom(0, 20)).map(
        ([a, l, t, p]) => `4|${t}|0|${p}||${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${l}`),
      fc.constantFrom('6|254|0|1024||2001:db8::/32', '4|254|0|0|10.1.0.0/16|10.0.0.0/8', '6|255|0|0||::1/128'),
    );
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), key, fc.nat())), (ops) => {
      const t = new RouteTable<number>();
      const m = new Map<string, number>();
      for (const [set, k, v] of ops) {
        if (set) { t.set(k, v); m.set(k, v); } else { expect(t.delete(k)).toBe(m.delete(k)); }
        expect(t.get(k)).toBe(m.get(k));
      }
      expect(t.size).toBe(m.size);
      expect(new Map(t.entries())).toEqual(m);
    }), { numRuns: 300 });
  });
});
