/**
 * Fuzz: random and mutated input never makes the decoder throw anything but a
 * ViciDecodeError subclass, and never hangs (vitest's timeout catches a hang).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeMessage, decodePacket, encodePacket } from './codec.js';
import { PktCmdResponse, PktEvent } from './constants.js';
import { ViciDecodeError } from './errors.js';

function onlyTypedErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ViciDecodeError)) throw new Error(`untyped error: ${String(err)}`, { cause: err });
  }
}

const validPacket = fc
  .dictionary(
    fc.string({ maxLength: 12 }),
    fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 })),
    { maxKeys: 8 },
  )
  .chain((m) => fc.constantFrom(encodePacket({ type: PktEvent, name: 'list-sa', message: m }), encodePacket({ type: PktCmdResponse, message: m })));

type Mutation = { kind: 'flip' | 'set' | 'insert' | 'delete'; at: number; byte: number } | { kind: 'truncate'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('flip', 'set', 'insert', 'delete') as fc.Arbitrary<'flip' | 'set' | 'insert' | 'delete'>, at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(frame: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(frame);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] = b[at]! ^ (1 << (m.byte % 8));
        break;
      case 'set':
        b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.of(m.byte), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

describe('decoder fuzz', () => {
  it('when random bytes are decoded as a packet or a message, then only typed errors come out', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyTypedErrors(() => decodePacket(bytes));
        onlyTypedErrors(() => decodePacket(bytes, { values: 'buffer' }));
        onlyTypedErrors(() => decodeMessage(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('when valid frames are mutated, then only typed errors come out', () => {
    fc.assert(
      fc.property(validPacket, fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, muts) => {
        const bad = mutate(frame, muts);
        onlyTypedErrors(() => decodePacket(bad.subarray(4)));
        onlyTypedErrors(() => {
          const d = new FrameDecoder({ maxFrameBytes: 4096 });
          d.push(bad, (f) => decodePacket(f));
        });
      }),
      { numRuns: 5000 },
    );
  });

  it('when a random stream is split into random chunks, then the frame decoder only throws typed errors', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), (chunks) => {
        const d = new FrameDecoder({ maxFrameBytes: 1024 });
        onlyTypedErrors(() => {
          for (const c of chunks) d.push(c, (f) => decodePacket(f));
        });
      }),
      { numRuns: 3000 },
    );
  });

  it('when all single-byte mutations of a real-looking frame are decoded, then every one is handled', () => {
    const frame = encodePacket({ type: PktEvent, name: 'ike-updown', message: { up: 'yes', rw: { uniqueid: '1', 'tasks-active': ['IKE_REAUTH'], 'child-sas': { net: { state: 'INSTALLED' } } } } });
    let errors = 0;
    for (let at = 4; at < frame.length; at++) {
      for (let v = 0; v < 256; v++) {
        const b = Buffer.from(frame);
        b[at] = v;
        try {
          decodePacket(b.subarray(4));
        } catch (err) {
          expect(err).toBeInstanceOf(ViciDecodeError);
          errors++;
        }
      }
    }
    expect(errors).toBeGreaterThan(0);
  });
});
