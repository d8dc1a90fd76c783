// The benchmark input: the recorded charon 5.9.8 events (recorded-frames.json) framed as on the
// wire (4-byte length + data) and repeated `repeat` times. Every client decodes these bytes.
import { readFileSync } from 'node:fs';

export const framesFile = new URL('./recorded-frames.json', import.meta.url);

export function recordedFrames() {
  return JSON.parse(readFileSync(framesFile, 'utf8')).frames.map((h) => Buffer.from(h, 'hex'));
}

/** @returns {{ stream: Buffer, messages: number, bytes: number }} */
export function buildStream(repeat) {
  const frames = recordedFrames();
  const once = Buffer.concat(
    frames.map((f) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(f.length);
      return Buffer.concat([h, f]);
    }),
  );
  const stream = Buffer.alloc(once.length * repeat);
  for (let i = 0; i < repeat; i++) once.copy(stream, i * once.length);
  return { stream, messages: frames.length * repeat, bytes: stream.length };
}
