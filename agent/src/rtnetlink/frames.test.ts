import { describe, expect, it } from 'vitest';
import { FRAME, FrameDecoder, FrameStreamError, type Frame } from './frames.js';

function frame(type: number, payload: number[]): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt32LE(payload.length, 0);
  b.writeUInt16LE(type, 4);
  Buffer.from(payload).copy(b, 8);
  return b;
}

describe('FrameDecoder', () => {
  it('when frames arrive split at every byte, then they come out whole and in order', () => {
    const stream = Buffer.concat([
      frame(FRAME.READY, [0, 0, 0, 4]),
      frame(FRAME.EVENT, [1, 2, 3, 4, 5]),
      frame(FRAME.OVERFLOW, []),
      frame(FRAME.DUMP_START, [9, 0, 0, 0]),
      frame(FRAME.DUMP, [9, 0, 0, 0, 7, 7]),
      frame(FRAME.DUMP_DONE, [9, 0, 0, 0]),
      frame(FRAME.ERROR, [...Buffer.from([0xf4, 0xff, 0xff, 0xff]), ...Buffer.from('recv: x')]),
    ]);
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) d.push(stream.subarray(i, i + 1), (f) => out.push(f));
    expect(out.map((f) => f.type)).toEqual([FRAME.READY, FRAME.EVENT, FRAME.OVERFLOW, FRAME.DUMP_START, FRAME.DUMP, FRAME.DUMP_DONE, FRAME.ERROR]);
    expect(out[0]).toEqual({ type: FRAME.READY, rcvbufBytes: 0x04000000 });
    expect(out[1]?.type === FRAME.EVENT && [...out[1].datagram]).toEqual([1, 2, 3, 4, 5]);
    expect(out[4]?.type === FRAME.DUMP && [out[4].dumpId, [...out[4].datagram]]).toEqual([9, [7, 7]]);
    expect(out[6]).toEqual({ type: FRAME.ERROR, errno: -12, message: 'recv: x' });
  });

  it('when the stream is corrupt, then a named error says so', () => {
    const d = new FrameDecoder();
    expect(() => d.push(frame(99, []), () => undefined)).toThrow(FrameStreamError);
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0x7fffffff, 0);
    expect(() => new FrameDecoder().push(huge, () => undefined)).toThrow(/frame of/);
  });
});
