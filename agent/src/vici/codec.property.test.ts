/**
 * Property-based tests: any message within the protocol limits survives encode → decode →
 * encode unchanged, byte for byte, in both value modes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, decodePacket, encodeMessage, encodePacket } from './codec.js';
import type { ViciMessage } from './codec.js';
import { MaxFrameBytes, MaxNameBytes, MaxValueBytes, PktCmdRequest, PktEvent } from './constants.js';

type Tree = { [k: string]: Uint8Array | Uint8Array[] | Tree };

const name = fc.string({ maxLength: MaxNameBytes });
const value = fc.uint8Array({ maxLength: 64 });

const { tree } = fc.letrec<{ tree: Tree; entry: [string, Tree[string]] }>((tie) => ({
  entry: fc.tuple(name, fc.oneof({ depthSize: 'small', withCrossShrink: true }, value, fc.array(value, { maxLength: 8 }), tie('tree'))) as fc.Arbitrary<[string, Tree[string]]>,
  tree: fc
    .uniqueArray(tie('entry') as fc.Arbitrary<[string, Tree[string]]>, { maxLength: 6, selector: (e) => e[0] })
    .map((entries) => {
      const t = Object.create(null) as Tree;
      for (const [k, v] of entries) t[k] = v;
      return t;
    }),
}));

/** Buffers/Uint8Arrays to hex so that toEqual compares contents, not classes. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

describe('codec round trip (fast-check)', () => {
  it('when any message within limits is encoded and decoded (buffer values), then it comes back unchanged and re-encodes identically', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const bytes = encodeMessage(t);
        const back = decodeMessage(bytes, { values: 'buffer' });
        expect(normalize(back)).toEqual(normalize(t));
        expect(encodeMessage(back).equals(bytes)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('when values are strings, then string decoding round-trips them', () => {
    const strTree = fc.dictionary(fc.string({ maxLength: 40 }), fc.oneof(fc.string({ maxLength: 200, unit: 'grapheme' }), fc.array(fc.string({ maxLength: 40 }), { maxLength: 5 })), { maxKeys: 10, noNullPrototype: false });
    fc.assert(
      fc.property(strTree, (t) => {
        const back: ViciMessage = decodeMessage(encodeMessage(t));
        expect({ ...back }).toEqual({ ...t });
      }),
      { numRuns: 300 },
    );
  });

  it('when packets wrap messages, then name and message survive', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: MaxNameBytes }), tree, fc.constantFrom(PktCmdRequest, PktEvent), (n, t, type) => {
        const frame = encodePacket({ type, name: n, message: t });
        expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
        const p = decodePacket(frame.subarray(4), { values: 'buffer' });
        expect(p.type).toBe(type);
        expect(p.name).toBe(n);
        expect(normalize(p.message)).toEqual(normalize(t));
      }),
      { numRuns: 300 },
    );
  });

  it('when names and values sit exactly at the limits, then they round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 }), (count, fill) => {
        const t: Tree = Object.create(null) as Tree;
        for (let i = 0; i < count; i++) t[String(i).padEnd(MaxNameBytes, 'n')] = new Uint8Array(MaxValueBytes).fill(fill);
        const frame = encodePacket({ type: PktEvent, name: 'e'.repeat(MaxNameBytes), message: t });
        expect(frame.length - 4).toBeLessThanOrEqual(MaxFrameBytes);
        expect(normalize(decodePacket(frame.subarray(4), { values: 'buffer' }).message)).toEqual(normalize(t));
      }),
      { numRuns: 16 },
    );
  });
});
