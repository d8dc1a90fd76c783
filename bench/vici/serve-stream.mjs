// A minimal vici endpoint for the benchmark: confirms event (de)registrations and, once both
// list-sa and ike-updown are registered, writes the whole recorded stream (stream.mjs) as fast
// as the client reads it. Usage: node serve-stream.mjs <socket path> <repeat>
import net from 'node:net';
import { rmSync } from 'node:fs';
import { buildStream } from './stream.mjs';

const [path, repeatArg] = process.argv.slice(2);
const { stream } = buildStream(Number(repeatArg));
const confirm = Buffer.from([0, 0, 0, 1, 5]);
const unknown = Buffer.from([0, 0, 0, 1, 6]);
rmSync(path, { force: true });
const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  const registered = new Set();
  let sent = false;
  sock.on('error', () => undefined);
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      const pkt = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      const type = pkt[0];
      const name = pkt.subarray(2, 2 + pkt[1]).toString();
      if (type === 3) {
        registered.add(name);
        sock.write(name === 'list-sa' || name === 'ike-updown' ? confirm : unknown);
        if (!sent && registered.has('list-sa') && registered.has('ike-updown')) {
          sent = true;
          sock.write(stream);
        }
      } else if (type === 4) {
        sock.write(confirm);
      } else {
        sock.write(Buffer.from([0, 0, 0, 1, 2]));
      }
    }
  });
});
server.listen(path, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  server.close();
  rmSync(path, { force: true });
  process.exit(0);
});
