/**
 * Frames of the rtnl-pipe helper (agent/native/rtnl-pipe.c) on its stdout:
 * an 8-byte header in host byte order (u32 payload length, u16 type, u16 reserved),
 * then the payload. The constants mirror the FRAME_* enum in the C source.
 */
import { RoamwatchError } from '@roamwatch/core/errors';
export const FRAME = {
  READY: 1,
  EVENT: 2,
  DUMP: 3,
  DUMP_DONE: 4,
  OVERFLOW: 5,
  TRUNCATED: 6,
  ERROR: 7,
  DUMP_START: 8,
} as const;
export const FRAME_HEADER_LEN = 8;
/** Upper bound on a frame payload; anything larger means the stream is corrupt. */
export const FRAME_MAX_PAYLOAD = (1 << 20) + 16;

export type Frame =
  | { type: typeof FRAME.READY; rcvbufBytes: number }
  | { type: typeof FRAME.EVENT; datagram: Uint8Array }
  | { type: typeof FRAME.DUMP; dumpId: number; datagram: Uint8Array }
  | { type: typeof FRAME.DUMP_START; dumpId: number }
  | { type: typeof FRAME.DUMP_DONE; dumpId: number }
  | { type: typeof FRAME.OVERFLOW }
  | { type: typeof FRAME.TRUNCATED; realLength: number }
  | { type: typeof FRAME.ERROR; errno: number; message: string };

/** The helper's frame stream is corrupt; the source restarts the helper and resyncs (retriable). */
export class FrameStreamError extends RoamwatchError {
  override readonly name = 'FrameStreamError';
  constructor(message: string) {
    super(message, { code: 'RTNETLINK_FRAME', retriable: true });
  }
}

/**
 * Incremental decoder: push() stdout chunks, get whole frames. Payload views point into
 * the pushed chunk (or a joined copy when a frame spans chunks); consumers that keep
 * bytes beyond the callback must copy them.
 */
export class FrameDecoder {
  private pending: Buffer | undefined;

  push(chunk: Buffer, emit: (f: Frame) => void): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    while (off + FRAME_HEADER_LEN <= buf.length) {
      const len = buf.readUInt32LE(off);
      const type = buf.readUInt16LE(off + 4);
      if (len > FRAME_MAX_PAYLOAD) throw new FrameStreamError(`frame of ${len} bytes (type ${type})`);
      if (off + FRAME_HEADER_LEN + len > buf.length) break;
      const p = off + FRAME_HEADER_LEN;
      const payload = buf.subarray(p, p + len);
      off = p + len;
      switch (type) {
        case FRAME.EVENT: emit({ type, datagram: payload }); break;
        case FRAME.DUMP: emit({ type, dumpId: payload.readUInt32LE(0), datagram: payload.subarray(4) }); break;
        case FRAME.DUMP_START: emit({ type, dumpId: payload.readUInt32LE(0) }); break;
        case FRAME.DUMP_DONE: emit({ type, dumpId: payload.readUInt32LE(0) }); break;
        case FRAME.OVERFLOW: emit({ type }); break;
        case FRAME.READY: emit({ type, rcvbufBytes: payload.readUInt32LE(0) }); break;
        case FRAME.TRUNCATED: emit({ type, realLength: payload.readUInt32LE(0) }); break;
        case FRAME.ERROR: emit({ type, errno: payload.readInt32LE(0), message: payload.subarray(4).toString('utf8') }); break;
        default: throw new FrameStreamError(`unknown frame type ${type}`);
      }
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}
