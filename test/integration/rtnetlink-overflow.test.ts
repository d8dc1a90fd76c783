/**
 * Overflow: with a deliberately tiny receive buffer, a route storm makes the kernel drop
 * notifications (ENOBUFS). The source must survive, notice the gap, re-dump, emit the
 * differences plus a resync report, and end equal to the kernel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtnetlinkSource } from '../../agent/src/rtnetlink/source.js';
import { compareWithIp } from '../../agent/src/rtnetlink/compare.js';
import type { ResyncReport, StateChange } from '../../agent/src/rtnetlink/state.js';
import { Netns, ensureHelperBuilt, requireNetnsPrivileges } from '../netns/netns.js';

let ns: Netns;
let helperPath: string;

function routeBatch(verb: 'add' | 'del', count: number, base = 0x0a000000 + (100 << 16)): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = base + i;
    lines.push(`route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32 via 10.9.0.2`);
  }
  return `${lines.join('\n')}\n`;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  requireNetnsPrivileges();
  helperPath = ensureHelperBuilt();
  ns = Netns.create('ovf');
  ns.ip('link add v0 type veth peer name v1');
  ns.ip('link set v1 up');
  ns.ip('link set v0 up');
  ns.ip('addr add 10.9.0.1/24 dev v0');
});

afterAll(() => ns?.destroy());

describe('rtnetlink overflow', () => {
  it('when a storm overflows a tiny receive buffer, then the process survives, resyncs and equals the kernel', async () => {
    const source = new RtnetlinkSource({ netns: ns.name, helperPath, receiveBufferBytes: 4096 });
    const resyncs: ResyncReport[] = [];
    const changes: StateChange[] = [];
    source.on('resync', (r) => resyncs.push(r));
    source.on('change', (c) => changes.push(c));
    await source.start();
    try {
      // Keep the Node side busy so the helper cannot drain the socket in time either.
      ns.batch(routeBatch('add', 20_000));
      ns.batch(routeBatch('del', 10_000));
      await waitFor(() => resyncs.length > 0, 20_000);
      await waitFor(() => compareWithIp(source.mirror, ns.listings()).equal, 30_000);
      expect(source.stats.overflows).toBeGreaterThan(0);
      expect(resyncs[0]?.reason).toBe('overflow');
      const recovered = changes.filter((c) => c.cause === 'resync').length;
      expect(recovered).toBe(source.stats.changesRecovered);
      expect(recovered).toBeGreaterThan(0);
      expect(source.counts().routes).toBeGreaterThanOrEqual(10_000);
      console.log(`overflow test: ${source.stats.overflows} ENOBUFS, ${resyncs.length} resyncs, ` +
        `${source.stats.changesRecovered} changes recovered, ${source.stats.notifications} notifications seen, ` +
        `rcvbuf ${source.stats.receiveBufferBytes} bytes`);
      // And the source still works afterwards.
      ns.ip('route add 10.250.0.0/16 via 10.9.0.2');
      await waitFor(() => changes.some((c) => c.cause === 'event' && c.kind === 'route' && c.new?.dst === '10.250.0.0/16'), 5000);
    } catch (e) {
      if (!(e instanceof Error && e.message === 'timed out')) throw e;
      throw new Error(`timed out; stats ${JSON.stringify(source.stats)}`);
    } finally {
      await source.stop();
    }
  });

  it('when the helper is killed, then the source restarts it and resyncs', async () => {
    const source = new RtnetlinkSource({ netns: ns.name, helperPath, restartDelayMs: 10 });
    const resyncs: ResyncReport[] = [];
    source.on('resync', (r) => resyncs.push(r));
    source.on('warning', () => undefined);
    await source.start();
    try {
      const pid = source.helperPid;
      expect(pid).toBeTypeOf('number');
      process.kill(pid as number, 'SIGKILL');
      ns.ip('route add 10.251.0.0/16 via 10.9.0.2');
      await waitFor(() => resyncs.length > 0, 10_000);
      expect(resyncs[0]?.reason).toBe('helper-restart');
      await waitFor(() => compareWithIp(source.mirror, ns.listings()).equal, 10_000);
      expect(source.stats.helperRestarts).toBe(1);
    } finally {
      await source.stop();
    }
  });
});
