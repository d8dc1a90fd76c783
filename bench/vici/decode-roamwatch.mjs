// In-memory decode (no socket): FrameDecoder + decodePacket over the recorded stream.
// Usage: node decode-roamwatch.mjs <repeat> <rounds>
import { performance } from 'node:perf_hooks';
import { FrameDecoder, decodePacket } from '../../agent/dist/vici/index.js';
import { buildStream } from './stream.mjs';

const [repeatArg, roundsArg] = process.argv.slice(2);
const { stream, messages } = buildStream(Number(repeatArg));
const times = [];
const cpuTimes = [];
for (let r = 0; r < Number(roundsArg); r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let got = 0;
  const d = new FrameDecoder();
  // Feed 64 KiB chunks, as a socket would.
  for (let off = 0; off < stream.length; off += 65536) {
    d.push(stream.subarray(off, off + 65536), (f) => {
      if (decodePacket(f).message) got++;
    });
  }
  if (got !== messages) throw new Error(`decoded ${got} of ${messages}`);
  times.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpuTimes.push((c.user + c.system) / 1000);
}
console.log(JSON.stringify({ messages, times, cpuTimes }));
