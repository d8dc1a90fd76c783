// Runs the rtnetlink source in the current network namespace until it has seen the given
// number of route changes, then prints its CPU use (this process and its rtnl-pipe helper)
// as one JSON line. Used by bench/rtnetlink/run.mjs for the live comparison.
import { readFileSync } from 'node:fs';
import { RtnetlinkSource } from '../../agent/dist/rtnetlink/index.js';

const expected = Number(process.argv[2]);
const rcvbuf = Number(process.argv[3] ?? 256 << 20);
const source = new RtnetlinkSource({ receiveBufferBytes: rcvbuf });
let routeChanges = 0;
source.on('change', (c) => { if (c.kind === 'route') routeChanges++; });
await source.start();

function helperCpuS() {
  const pid = source.helperPid;
  if (!pid) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
}

const cpu0 = process.cpuUsage();
const helper0 = helperCpuS();
process.stdout.write('ready\n');
const t0 = Date.now();
const timer = setInterval(async () => {
  if (routeChanges < expected && Date.now() - t0 < 600_000) return;
  clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  const out = {
    routeChanges, notifications: source.stats.notifications, overflows: source.stats.overflows, resyncs: source.stats.resyncs,
    nodeCpuS: (cpu.user + cpu.system) / 1e6, helperCpuS: helperCpuS() - helper0, rssBytes: process.memoryUsage().rss,
  };
  await source.stop();
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}, 20);
