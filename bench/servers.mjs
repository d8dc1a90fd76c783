// Where the benchmarks find the servers (scripts/servers.sh defaults, overridden by the same
// ROAMWATCH_* variables as the CLI), and the bridge that lets an agent inside a lab gateway's
// network namespace reach the broker on the host's loopback (as test/integration/agent-harness.ts).
import net from 'node:net';
import { join } from 'node:path';

export const BROKERS = (process.env.ROAMWATCH_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const BROKER = BROKERS[0];
export const INFLUX = {
  url: process.env.ROAMWATCH_INFLUX_URL ?? 'http://127.0.0.1:8086',
  token: process.env.ROAMWATCH_INFLUX_TOKEN ?? 'roamwatch:roamwatch',
  org: process.env.ROAMWATCH_INFLUX_ORG ?? 'roamwatch',
  bucket: process.env.ROAMWATCH_INFLUX_BUCKET ?? 'roamwatch/autogen',
};

/** Bridges the lab gateway's 127.0.0.1:<broker port> to the broker; returns the function that tears it down. */
export async function bridgeKafka(lab, broker = BROKER) {
  const [host, port] = broker.split(':');
  const sock = join(lab.dir, 'kafka-bridge.sock');
  const server = net.createServer((inner) => {
    const outer = net.connect(Number(port), host);
    inner.pipe(outer).pipe(inner);
    const end = () => (inner.destroy(), outer.destroy());
    inner.on('error', end).on('close', end);
    outer.on('error', end).on('close', end);
  });
  await new Promise((r) => server.listen(sock, r));
  const script = `const net=require('node:net');net.createServer((c)=>{const u=net.connect(${JSON.stringify(sock)});c.pipe(u).pipe(c);const e=()=>{c.destroy();u.destroy()};c.on('error',e).on('close',e);u.on('error',e).on('close',e)}).listen(${port},'127.0.0.1',()=>process.stdout.write('ready\\n'))`;
  const child = lab.gw.spawn([process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (c) => reject(new Error(`bridge exited ${c}`)));
  });
  return () => {
    child.kill('SIGKILL');
    server.close();
  };
}
