// `roamwatch watch` under a VICI event flood: resident memory at rest, at its peak during the
// flood, and after the flood stopped (issue #14 point 7). A fake charon (unix socket) answers
// every command with an empty response, confirms every event registration, and once `log` is
// registered writes `log` events as fast as the socket drains for FLOOD_S seconds, then goes
// quiet. The watch process runs with --no-rtnetlink (nothing else feeds it) and its findings
// go to /dev/null; its RSS is sampled from /proc/<pid>/status every 200 ms.
//
// Usage: node bench/watch/flood.mjs [floodSeconds=10] [restSeconds=10]
// Prints one JSON object: restMB, peakMB, afterMB (after restSeconds of quiet), events sent.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FLOOD_S = Number(process.argv[2] ?? 10);
const REST_S = Number(process.argv[3] ?? 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-watch-flood-'));
const sock = path.join(dir, 'charon.vici');

// vici wire format (strongSwan src/libcharon/plugins/vici/README.md): u32 BE length, u8 packet
// type, then for named packets u8 name length + name, then the message's elements.
const seg = (body) => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
};
const kv = (k, v) => {
  const vb = Buffer.from(v);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(vb.length);
  return Buffer.concat([Buffer.from([3, k.length]), Buffer.from(k), l, vb]);
};
const CONFIRM = seg(Buffer.from([5]));
const EMPTY_RESPONSE = seg(Buffer.from([1]));
const logEvent = (i) =>
  seg(Buffer.concat([Buffer.from([7, 3]), Buffer.from('log'), kv('group', 'IKE'), kv('level', '1'), kv('thread', '7'), kv('msg', `flood ${i} ${'x'.repeat(80)}`)]));

let sent = 0;
let flooding = false;
const server = net.createServer((s) => {
  let buf = Buffer.alloc(0);
  s.on('error', () => undefined);
  s.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      const pkt = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      const type = pkt[0];
      const name = pkt.subarray(2, 2 + pkt[1]).toString();
      if (type === 3 || type === 4) s.write(CONFIRM);
      else if (type === 0) s.write(EMPTY_RESPONSE);
      if (type === 3 && name === 'log' && !flooding) startFlood(s);
    }
  });
});

let phase = 'rest';
function startFlood(s) {
  flooding = true;
  // Let the rest sample settle first.
  setTimeout(() => {
    phase = 'flood';
    const until = Date.now() + FLOOD_S * 1000;
    const pump = () => {
      while (Date.now() < until) {
        let chunk = [];
        for (let i = 0; i < 256; i++) chunk.push(logEvent(sent++));
        if (!s.write(Buffer.concat(chunk))) return void s.once('drain', pump);
      }
      phase = 'after';
    };
    pump();
  }, 3000);
}

await new Promise((r) => server.listen(sock, r));
const child = spawn(process.execPath, [path.join(ROOT, 'cli/bin/roamwatch.js'), 'watch', '--vici', `unix://${sock}`, '--no-rtnetlink', '--format', 'json', '--log-level', 'error', '--host-id', 'flood'], {
  stdio: ['ignore', fs.openSync('/dev/null', 'w'), 'inherit'],
  env: { ...process.env, NODE_OPTIONS: process.env.RW_BENCH_CHILD_NODE_OPTIONS ?? '' },
});
const rssMB = () => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};
const samples = { rest: [], flood: [], after: [] };
let afterSince = 0;
await new Promise((resolve) => {
  const t = setInterval(() => {
    samples[phase].push(rssMB());
    if (phase === 'after') {
      afterSince ||= Date.now();
      if (Date.now() - afterSince >= REST_S * 1000) {
        clearInterval(t);
        resolve();
      }
    }
  }, 200);
});
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
server.close();
fs.rmSync(dir, { recursive: true, force: true });
const round = (x) => Math.round(x * 10) / 10;
console.log(
  JSON.stringify({
    floodS: FLOOD_S,
    eventsSent: sent,
    restMB: round(samples.rest.at(-1) ?? 0),
    peakMB: round(Math.max(...samples.flood, ...samples.after)),
    afterMB: round(samples.after.at(-1) ?? 0),
  }),
);
