// roamwatch's client (built JS in agent/dist): subscribe to list-sa and ike-updown through the
// public ViciSession API and time until `n` events are delivered, fully decoded (wall and
// process CPU time).
// Usage: node client-roamwatch.mjs <socket path> <n>
import { performance } from 'node:perf_hooks';
import { ViciSession } from '../../agent/dist/vici/index.js';

const [path, nArg] = process.argv.slice(2);
const n = Number(nArg);
const session = new ViciSession({ uri: `unix://${path}`, eventBufferSize: n + 16, deliveryBatch: 4096, commandTimeoutMs: 60_000 });
await session.connect();
const t0 = performance.now();
const c0 = process.cpuUsage();
let got = 0;
await new Promise((resolve) => {
  const sub = session.events(['list-sa', 'ike-updown']).subscribe(() => {
    if (++got === n) {
      sub.unsubscribe();
      resolve();
    }
  });
});
const ms = performance.now() - t0;
const cpu = process.cpuUsage(c0);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(JSON.stringify({ messages: got, ms, cpuMs, dropped: session.counters.eventsDropped }));
await session.close();
