import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEvent, silentLogger } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { SpoolRecord } from '../sinks/spool.js';
import type { Transport } from '../sinks/types.js';
import { loadAgentConfig } from './config.js';
import { runAgent } from './run.js';
import type { SourceAdapter, SourceContext } from './sources.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

class Switchable implements Transport {
  readonly kind = 'fake';
  up = false;
  got: RoamwatchEvent[] = [];
  async connect() {}
  async send(records: readonly SpoolRecord[]) {
    if (!this.up) throw new Error('ECONNREFUSED');
    for (const r of records) this.got.push(decodeEvent(r.line));
  }
  async close() {}
}

class Routes implements SourceAdapter {
  readonly name = 'rtnetlink' as const;
  ctx: SourceContext | undefined;
  start(ctx: SourceContext) {
    this.ctx = ctx;
  }
  report() {
    return { state: 'connected' as const };
  }
  async stop() {}
  emit(n: number, from = 0) {
    for (let i = from; i < from + n; i++) {
      this.ctx!.emit('route.added', { route: { family: 4, table: 254, dst: `10.9.${(i >> 8) & 255}.${i & 255}/32`, type: 'unicast', protocol: 'static', scope: 'link', oif: 'eth0' } });
    }
  }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('runAgent', () => {
  it('when the spool bound is hit during an outage, then agent.gap names every lost range and nothing else is missing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-run-'));
    dirs.push(dir);
    const { config } = loadAgentConfig({
      env: {},
      hostname: 'gw-run',
      flags: { 'spool.dir': dir, 'spool.maxBytes': '65536', 'spool.segmentBytes': '8192', 'status.intervalMs': '0', 'kafka.retryMinMs': '5', 'kafka.retryMaxMs': '10', 'kafka.lingerMs': '0' },
    });
    const transport = new Switchable();
    const routes = new Routes();
    const agent = runAgent({ config, logger: silentLogger(), sources: [routes], transport });
    await tick(10);
    for (let k = 0; k < 20; k++) {
      routes.emit(100, k * 100);
      await tick(); // one write batch per turn, as with real sources
    }
    await tick(20);
    const st = agent.sources.status();
    expect(st.spool.droppedEvents).toBeGreaterThan(0);
    expect(st.spool.bytes).toBeLessThanOrEqual(65536);
    transport.up = true;
    await agent.stop('test');
    const seqs = new Set(transport.got.map((e) => e.seq));
    const gaps = transport.got.filter((e) => e.kind === 'agent.gap');
    expect(gaps.length).toBeGreaterThan(0);
    for (const g of gaps) if (g.kind === 'agent.gap') for (let s = g.payload.fromSeq ?? 1; s <= (g.payload.toSeq ?? 0); s++) seqs.add(s);
    const max = Math.max(...transport.got.map((e) => e.seq));
    expect(seqs.size).toBe(max); // every number delivered or covered by a gap
    expect(transport.got.at(-1)!.kind).toBe('agent.stopping');
    // Gap ranges of one outage overlap (each covers the run so far); their union is what was dropped.
    const lost = new Set<number>();
    for (const g of gaps) if (g.kind === 'agent.gap') for (let s = g.payload.fromSeq ?? 1; s <= (g.payload.toSeq ?? 0); s++) lost.add(s);
    expect(lost.size).toBeGreaterThanOrEqual(st.spool.droppedEvents);
  });

  it('when restarted on the same spool, then numbering continues after the last stored event', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-run-'));
    dirs.push(dir);
    const { config } = loadAgentConfig({ env: {}, hostname: 'gw-run', flags: { 'spool.dir': dir, 'status.intervalMs': '0' } });
    const t1 = new Switchable();
    t1.up = true;
    const r1 = new Routes();
    const a1 = runAgent({ config, logger: silentLogger(), sources: [r1], transport: t1 });
    await tick(10);
    r1.emit(5);
    await a1.stop();
    const t2 = new Switchable();
    t2.up = true;
    const r2 = new Routes();
    const a2 = runAgent({ config, logger: silentLogger(), sources: [r2], transport: t2 });
    await tick(10);
    r2.emit(2);
    await a2.stop();
    expect(t1.got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(t2.got.map((e) => `${e.seq}:${e.kind}`)).toEqual(['8:agent.started', '9:route.added', '10:route.added', '11:agent.stopping']);
  });
});
