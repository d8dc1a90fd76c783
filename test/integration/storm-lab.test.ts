/**
 * A route storm on a real lab gateway (#16 item 1): charon in the lab reauthenticates on every
 * unrelated route change (local_addrs a hostname, the IKE address on lo), and `STORM_ROUTES`
 * routes are added and then deleted with `ip -batch` while the agent runs with its defaults —
 * the real rtnetlink and VICI adapters, inside the gateway's namespace, writing to the real
 * Kafka broker. Then:
 *
 * - the records in Kafka are bounded: the storm is coalesced into route.summary events, and the
 *   individual route events plus the summaries' exact counts add up to every change made;
 * - the agent's mirror equals the kernel (`ip route show table all` …), and its digest equals
 *   the digest of a mirror built from a fresh dump;
 * - the processor's pipeline, run over what the topic holds, finds the reauth that happened
 *   inside the storm, classifies it spurious and names the storm as its trigger.
 *
 * STORM_ROUTES (default 20,000) can be raised; bench/storm/run.mjs runs the 1M-route variant.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import type { RoamwatchEvent, RouteSummary } from '@roamwatch/core';
import { RtnetlinkAdapter, ViciAdapter, loadAgentConfig, runAgent } from '@roamwatch/agent';
import type { RunningAgent } from '@roamwatch/agent';
import { Pipeline } from '@roamwatch/processor';
import type { ReauthFinding } from '@roamwatch/processor';
import { RtnetlinkSource } from '../../agent/src/rtnetlink/source.js';
import { compareWithIp } from '../../agent/src/rtnetlink/compare.js';
import { createLab } from '../lab/index.js';
import type { Lab } from '../lab/index.js';
import { Netns, ensureHelperBuilt } from '../netns/netns.js';
import { servers, uniqueRunId } from '../setup/servers.js';
import { readTopic, sleep, until } from './agent-harness.js';

const STORM_ROUTES = Number(process.env.STORM_ROUTES ?? 20_000);
const run = uniqueRunId('storm');
const TOPIC = `roamwatch.test.${run}`;
const HOST = `gw-${run}`;

let lab: Lab;
let agent: RunningAgent | undefined;
let rt: RtnetlinkAdapter;
let spoolDir: string;
let helperPath: string;

function routeBatch(verb: 'add' | 'del', count: number, ifname: string): string {
  const lines = new Array<string>(count);
  const base = (10 << 24) | (200 << 16);
  for (let i = 0; i < count; i++) {
    const a = (base + i) >>> 0;
    lines[i] = `route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32 dev ${ifname} proto bgp`;
  }
  return `${lines.join('\n')}\n`;
}

/** The storm's routes: 10.200.0.0 + i, up to 10.215.x.x for 1M. */
function inStorm(dst: string): boolean {
  const m = /^10\.(\d+)\./.exec(dst);
  return m !== null && Number(m[1]) >= 200 && Number(m[1]) < 216;
}

beforeAll(async () => {
  helperPath = ensureHelperBuilt();
  lab = await createLab();
  spoolDir = fs.mkdtempSync(path.join(lab.dir, 'spool-'));
  const { config } = loadAgentConfig({
    env: {},
    flags: { hostId: HOST, 'kafka.brokers': servers.kafka.brokers.join(','), 'kafka.topic': TOPIC, 'kafka.topicPartitions': 1, 'spool.dir': spoolDir, 'vici.uri': lab.gw.viciUri, 'status.intervalMs': 0 },
  });
  rt = new RtnetlinkAdapter({ receiveBufferBytes: config.rtnetlink.receiveBufferBytes, source: { netns: lab.gw.netns, helperPath } });
  const vici = new ViciAdapter({ uri: config.vici.uri, reconnectMinMs: 100, reconnectMaxMs: 1000, commandTimeoutMs: 10_000 });
  agent = runAgent({ config, logger: silentLogger(), sources: [rt, vici] });
  await until('rtnetlink and VICI connected', 30_000, () => rt.report().state === 'connected' && vici.report().state === 'connected');
}, 120_000);

afterAll(async () => {
  await agent?.stop('test over');
  await lab?.teardown();
});

describe('route storm on a lab gateway', () => {
  it(`when ${STORM_ROUTES} routes are added and deleted with ip -batch and charon reauthenticates inside the storm, then Kafka gets a bounded number of records that count every change, the mirror equals the kernel, and the reauth is found, spurious, attributed to the storm`, async () => {
    const before = await lab.waitForSa();
    const file = path.join(lab.dir, 'storm.batch');
    fs.writeFileSync(file, routeBatch('add', STORM_ROUTES, lab.gw.ifname));
    await lab.gw.ip(['-batch', file], { timeoutMs: 600_000 });
    fs.writeFileSync(file, routeBatch('del', STORM_ROUTES, lab.gw.ifname));
    await lab.gw.ip(['-batch', file], { timeoutMs: 600_000 });
    await lab.waitForSa({ uniqueIdAbove: Number(before.uniqueid), timeoutMs: 30_000 });

    // Everything delivered: the storm's final summary (after the deletes) and the new SA's events.
    let stormChanges = 0;
    const got = await readTopic(
      TOPIC,
      (g) => {
        const main = g.map((r) => r.event).filter((e) => e.kind === 'route.summary' || ((e.kind === 'route.added' || e.kind === 'route.removed') && inStorm(e.payload.route.dst)));
        stormChanges = main.reduce((n, e) => n + (e.kind === 'route.summary' ? (e.payload as RouteSummary).tables.filter((t) => t.table === 254).reduce((a, t) => a + t.added + t.removed, 0) : 1), 0);
        const last = g.map((r) => r.event).filter((e) => e.kind === 'route.summary').at(-1);
        return stormChanges >= 2 * STORM_ROUTES && last?.kind === 'route.summary' && last.payload.final;
      },
      180_000,
    );
    const events: RoamwatchEvent[] = got.map((r) => r.event);
    const summaries = events.filter((e): e is Extract<RoamwatchEvent, { kind: 'route.summary' }> => e.kind === 'route.summary');
    const individual = events.filter((e) => (e.kind === 'route.added' || e.kind === 'route.removed') && inStorm(e.payload.route.dst));
    const count = (op: 'added' | 'removed') =>
      individual.filter((e) => e.kind === `route.${op}`).length + summaries.reduce((n, s) => n + s.payload.tables.filter((t) => t.table === 254).reduce((a, t) => a + t[op], 0), 0);
    console.log(`storm ${STORM_ROUTES}: ${got.length} events in Kafka (batch records hold several) for ${2 * STORM_ROUTES} route changes: ${individual.length} individual, ${summaries.length} summaries`);
    // Every change counted exactly once, individually or in a summary.
    expect(count('added')).toBe(STORM_ROUTES);
    expect(count('removed')).toBe(STORM_ROUTES);
    expect(summaries.length).toBeGreaterThan(0);
    // Bounded: a fraction of one event per change (without coalescing: one each); records, which
    // carry several events each (docs/events.md "Records"), are fewer still.
    expect(got.length).toBeLessThan(STORM_ROUTES / 2);
    // In time order at the source: seq order is time order.
    const bySeq = [...events].sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < bySeq.length; i++) expect(bySeq[i]!.timeUs).toBeGreaterThanOrEqual(bySeq[i - 1]!.timeUs);

    // The mirror equals the kernel, and its digest equals that of a fresh dump.
    await sleep(500);
    const cmp = compareWithIp(rt.source.mirror, Netns.existing(lab.gw.netns).listings());
    expect(cmp.missing.slice(0, 5)).toEqual([]);
    expect(cmp.extra.slice(0, 5)).toEqual([]);
    const fresh = new RtnetlinkSource({ netns: lab.gw.netns, helperPath, receiveBufferBytes: 1 << 20 });
    await fresh.start();
    try {
      expect(rt.source.mirror.digest()).toEqual(fresh.mirror.digest());
    } finally {
      await fresh.stop();
    }

    // The processor finds the reauth inside the storm and names the storm.
    const p = new Pipeline<never>({});
    const findings: ReauthFinding[] = [];
    const emit = (o: { type: string; finding?: unknown }) => {
      if (o.type === 'finding' && (o.finding as { type: string }).type === 'reauth') findings.push(o.finding as ReauthFinding);
    };
    for (const e of bySeq) p.push({ type: 'record', value: JSON.stringify(e) }, emit);
    p.flush(emit);
    const inside = findings.filter((f) => f.triggers.some((t) => t.summary.startsWith('route storm: ')));
    console.log(`storm ${STORM_ROUTES}: ${findings.length} reauth findings, ${inside.length} attributed to the storm: ${findings.map((f) => `${f.classification} ← ${f.triggers[0]?.summary ?? 'none'}`).join(' | ')}`);
    expect(inside.length).toBeGreaterThan(0);
    expect(inside[0]!.classification).toBe('spurious');
    expect(inside[0]!.triggers[0]!.summary).toMatch(/^route storm: \d+ route changes coalesced by the agent \(.*table main IPv4: /);
  }, 900_000);
});
