/**
 * Storm: 1,000,000 IPv4 routes added and then removed with `ip -batch` while the source
 * runs with a deliberately modest receive buffer and a reader stalled for 1.5 s, so that the kernel drops notifications.
 * After each phase the mirror equals the kernel; the test logs how many resyncs and
 * recovered changes it took.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtnetlinkSource } from '../../agent/src/rtnetlink/source.js';
import { compareWithIp } from '../../agent/src/rtnetlink/compare.js';
import type { ResyncReport } from '../../agent/src/rtnetlink/state.js';
import { Netns, ensureHelperBuilt, requireNetnsPrivileges } from '../netns/netns.js';

const ROUTES = Number(process.env.RWNL_STORM_ROUTES ?? 1_000_000);
/** The kernel doubles it: 2 MiB of skb memory, far below what 1M notifications need. */
const RECEIVE_BUFFER_BYTES = 1 << 20;

let ns: Netns;
let helperPath: string;

function routeBatch(verb: 'add' | 'del', count: number): string {
  const lines = new Array<string>(count);
  const base = (10 << 24) | (128 << 16);
  for (let i = 0; i < count; i++) {
    const a = (base + i) >>> 0;
    lines[i] = `route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32 via 10.9.0.2 proto bgp`;
  }
  return `${lines.join('\n')}\n`;
}

async function settle(source: RtnetlinkSource, expectedRoutesAtLeast: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // First let the stream drain (counts stop moving and no resync is running), then compare once.
  let last = -1;
  for (;;) {
    const busy = source.resyncPending;
    const n = source.stats.notifications + source.stats.dumpMessages;
    if (!busy && n === last && source.counts().routes >= expectedRoutesAtLeast) break;
    if (Date.now() > deadline) throw new Error(`did not settle: ${JSON.stringify(source.stats)} ${JSON.stringify(source.counts())}`);
    last = n;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const STALL_MS = 1500;

/** Stops the rtnl-pipe helper (SIGSTOP) after `afterMs` for `forMs`, then lets it go on. */
async function stallHelper(source: RtnetlinkSource, afterMs: number, forMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, afterMs));
  const pid = source.helperPid;
  if (pid === undefined) throw new Error('rtnl-pipe helper is not running');
  process.kill(pid, 'SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, forMs));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

beforeAll(() => {
  requireNetnsPrivileges();
  helperPath = ensureHelperBuilt();
  ns = Netns.create('storm');
  ns.ip('link add v0 type veth peer name v1');
  ns.ip('link set v1 up');
  ns.ip('link set v0 up');
  ns.ip('addr add 10.9.0.1/24 dev v0');
});

afterAll(() => ns?.destroy());

describe('rtnetlink storm', () => {
  it(`when ${ROUTES} routes are added and removed with ip -batch, then the mirror equals the kernel after each phase`, async () => {
    const source = new RtnetlinkSource({ netns: ns.name, helperPath, receiveBufferBytes: RECEIVE_BUFFER_BYTES });
    const resyncs: ResyncReport[] = [];
    source.on('resync', (r) => {
      resyncs.push(r);
      if (process.env.RWNL_STORM_DEBUG) console.log(`resync ${resyncs.length}: ${JSON.stringify(r)} routes=${source.counts().routes} t=${Date.now()}`);
    });
    await source.start();
    try {
      const t0 = Date.now();
      // Whether a 2 MiB buffer overflows on its own depends on how busy the machine is; a
      // stalled reader makes it certain: the helper is stopped for STALL_MS early in the add
      // phase (as a descheduled or swapped-out agent would be), the kernel queue fills, the
      // kernel drops notifications (ENOBUFS) and the source must resync to converge.
      const stall = stallHelper(source, 300, STALL_MS);
      await ns.batchAsync(routeBatch('add', ROUTES));
      await stall;
      const tAdd = Date.now();
      await settle(source, ROUTES, 300_000);
      const afterAdd = compareWithIp(source.mirror, ns.listings());
      expect(afterAdd.missing.slice(0, 5)).toEqual([]);
      expect(afterAdd.extra.slice(0, 5)).toEqual([]);
      expect(source.counts().routes).toBeGreaterThanOrEqual(ROUTES);
      const addStats = { ...source.stats };
      const addResyncs = resyncs.length;

      const t1 = Date.now();
      await ns.batchAsync(routeBatch('del', ROUTES));
      const tDel = Date.now();
      await settle(source, 0, 300_000);
      const afterDel = compareWithIp(source.mirror, ns.listings());
      expect(afterDel).toEqual({ equal: true, missing: [], extra: [] });
      expect(source.counts().routes).toBeLessThan(100);

      console.log(`storm: ${ROUTES} routes added in ${((tAdd - t0) / 1000).toFixed(1)} s, removed in ${((tDel - t1) / 1000).toFixed(1)} s; ` +
        `receive buffer ${source.stats.receiveBufferBytes} bytes (effective)`);
      console.log(`storm: add phase: ${addStats.overflows} ENOBUFS, ${addResyncs} resyncs, ${addStats.changesRecovered} changes recovered, ` +
        `${addStats.notifications} notifications received`);
      console.log(`storm: total: ${source.stats.overflows} ENOBUFS, ${resyncs.length} resyncs, ${source.stats.changesRecovered} changes recovered, ` +
        `${source.stats.notifications} notifications received, ${source.stats.dumpMessages} dump messages`);
      expect(source.stats.overflows).toBeGreaterThan(0);
      expect(resyncs.length).toBeGreaterThan(0);
    } finally {
      await source.stop();
    }
  }, 900_000);
});
