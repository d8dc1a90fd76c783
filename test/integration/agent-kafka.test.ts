/**
 * `roamwatch agent` as a real process in the lab's gateway namespace, against real charon
 * 5.9.8 and the real Kafka test broker: envelopes and order, a 30 s broker outage during route
 * churn and a reauth, SIGKILL while spooling, charon restarted, no charon at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEvent } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { createLab } from '../lab/index.js';
import type { Lab } from '../lab/index.js';
import { uniqueRunId } from '../setup/servers.js';
import { bridgeKafkaInto, dedupe, missingSeqs, readTopic, sleep, startAgent, startBroker, stopBroker, until } from './agent-harness.js';
import type { AgentProcess, KafkaBridge } from './agent-harness.js';

let lab: Lab;
let bridge: KafkaBridge;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  lab = await createLab({ name: 'agent' });
  bridge = await bridgeKafkaInto(lab);
});

afterAll(async () => {
  for (const a of agents) a.kill('SIGKILL');
  await bridge?.close();
  await lab?.teardown();
});

function agentArgs(name: string, extra: string[] = []): { topic: string; spool: string; args: string[] } {
  const topic = `roamwatch.agent-test.${uniqueRunId(name)}`;
  const spool = path.join(lab.dir, `spool-${name}`);
  return {
    topic,
    spool,
    args: ['--vici', lab.gw.viciUri, '--topic', topic, '--topic-partitions', '3', '--spool-dir', spool, '--host-id', `gw-${name}`, '--strongswan-conf', lab.gw.strongswanConfFile, '--status-interval-ms', '500', ...extra],
  };
}

function launch(args: string[], env?: Record<string, string>): AgentProcess {
  const a = startAgent(lab, args, { ROAMWATCH_KAFKA_LINGER_MS: '5', ROAMWATCH_KAFKA_RETRY_MAX_MS: '1000', ...env });
  agents.push(a);
  return a;
}

async function churn(prefix: string, count: number, op: 'add' | 'del' = 'add'): Promise<void> {
  for (let i = 1; i <= count; i++) await lab.gw.ip(['route', op, `${prefix}.${i}/32`, 'dev', lab.gw.ifname]);
}

const kinds = (evs: RoamwatchEvent[]) => evs.map((e) => e.kind);
const routesAdded = (evs: RoamwatchEvent[], prefix: string) =>
  evs.filter((e) => e.kind === 'route.added' && e.payload.route.dst.startsWith(prefix + '.')).length;

/** Checks the contract on what was read: valid envelopes, one key, one partition, seq order. */
function checkStream(got: Awaited<ReturnType<typeof readTopic>>, host: string): RoamwatchEvent[] {
  for (const r of got) expect(validateEvent(JSON.parse(JSON.stringify(r.event)))).toEqual(r.event);
  expect(new Set(got.map((r) => r.key))).toEqual(new Set([host]));
  expect(new Set(got.map((r) => r.partition)).size).toBe(1);
  expect(new Set(got.map((r) => r.event.host))).toEqual(new Set([host]));
  // Per-host order: in partition (offset) order, first occurrences have increasing seq.
  const firsts: number[] = [];
  const seen = new Set<string>();
  for (const r of got) {
    if (seen.has(r.event.id)) continue;
    seen.add(r.event.id);
    firsts.push(r.event.seq);
  }
  for (let i = 1; i < firsts.length; i++) expect(firsts[i]).toBeGreaterThan(firsts[i - 1]!);
  const { events } = dedupe(got);
  expect(missingSeqs(events)).toEqual([]);
  return events.sort((a, b) => a.seq - b.seq);
}

describe('roamwatch agent (real charon, real Kafka)', () => {
  it('when routes churn and charon reauthenticates, then every event arrives with a valid envelope, in per-host order, without a gap', async () => {
    const { topic, args } = agentArgs('order');
    const agent = launch(args);
    await agent.waitForLog(/VICI connected/);
    const before = await lab.waitForSa();
    await churn('192.0.2', 10);
    await lab.waitForSa({ uniqueIdAbove: before.uniqueid, timeoutMs: 20_000 });
    await churn('192.0.2', 10, 'del');
    await sleep(1500);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const got = await readTopic(topic, (g) => g.some((r) => r.event.kind === 'agent.stopping'));
    const events = checkStream(got, 'gw-order');
    expect(events[0]!.seq).toBe(1);
    expect(events[0]!.kind).toBe('agent.started');
    expect(events.at(-1)!.kind).toBe('agent.stopping');
    const k = kinds(events);
    for (const kind of ['vici.connection', 'vici.sa-snapshot', 'netlink.resync', 'route.added', 'route.removed', 'vici.ike-updown', 'vici.child-updown', 'vici.log', 'agent.status']) {
      expect(k, kind).toContain(kind);
    }
    const snap = events.find((e) => e.kind === 'vici.sa-snapshot');
    expect(snap?.kind === 'vici.sa-snapshot' && snap.payload.reason).toBe('connect');
    expect(snap?.kind === 'vici.sa-snapshot' && snap.payload.ikeSas.length).toBe(1);
    expect(routesAdded(events, '192.0.2')).toBe(10);
    expect(events.some((e) => e.kind === 'vici.log' && /reauthenticating IKE_SA due to address change/.test(e.payload.msg))).toBe(true);
    expect(events.some((e) => e.kind === 'path.verdict')).toBe(true);
  });

  it('when the broker is stopped for 30 s during route churn and a reauth, then after it returns every event is delivered in order with no sequence gap', async () => {
    const { topic, args } = agentArgs('outage');
    const agent = launch(args);
    await agent.waitForLog(/VICI connected/);
    await readTopic(topic, (g) => g.some((r) => r.event.kind === 'vici.sa-snapshot'));
    const before = await lab.waitForSa();
    const t0 = Date.now();
    await stopBroker();
    try {
      await churn('198.18.1', 20);
      const after = await lab.waitForSa({ uniqueIdAbove: before.uniqueid, timeoutMs: 20_000 });
      expect(after.uniqueid).toBeGreaterThan(before.uniqueid);
      await agent.waitForLog(/"sink":"down"/, 25_000);
      await sleep(Math.max(0, 30_000 - (Date.now() - t0)));
      const down = agent.log().split('\n').filter((l) => l.includes('"message":"status"') && l.includes('"sink":"down"'));
      expect(down.length).toBeGreaterThan(0);
      expect(Number(/"spoolEvents":(\d+)/.exec(down.at(-1)!)?.[1])).toBeGreaterThan(20);
    } finally {
      await startBroker();
    }
    await agent.waitForLog(/sink available again/, 60_000);
    await churn('198.18.1', 20, 'del');
    await sleep(1000);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const got = await readTopic(topic, (g) => g.some((r) => r.event.kind === 'agent.stopping'), 90_000);
    const events = checkStream(got, 'gw-outage');
    expect(routesAdded(events, '198.18.1')).toBe(20);
    const outageReauth = events.filter((e) => e.kind === 'vici.ike-updown' && e.payload.up && e.timeUs > t0 * 1000 && e.timeUs < (t0 + 30_000) * 1000);
    expect(outageReauth.length).toBeGreaterThan(0);
    const statusDown = events.filter((e) => e.kind === 'agent.status' && e.payload.sink.state === 'down');
    expect(statusDown.length).toBeGreaterThan(0);
  }, 240_000);

  it('when the agent is killed with SIGKILL while spooling and restarted, then nothing is lost and numbering continues', async () => {
    const { topic, spool, args } = agentArgs('sigkill');
    // Kafka unreachable: nothing listens on 127.0.0.1:1 in the gateway namespace.
    const first = launch([...args, '--brokers', '127.0.0.1:1']);
    await first.waitForLog(/VICI connected/);
    await churn('198.18.2', 15);
    await until('15 route events spooled', 20_000, () => {
      const st = first.log().split('\n').filter((l) => l.includes('"message":"status"')).at(-1);
      const n = st ? Number(/"spoolEvents":(\d+)/.exec(st)?.[1]) : 0;
      return n >= 18 || undefined;
    });
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(fs.readdirSync(spool).some((n) => n.startsWith('seg-'))).toBe(true);

    const second = launch(args);
    await second.waitForLog(/spool recovered unsent events/);
    await second.waitForLog(/VICI connected/);
    await churn('198.18.2', 15, 'del');
    await sleep(1500);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const got = await readTopic(topic, (g) => g.some((r) => r.event.kind === 'agent.stopping'));
    const events = checkStream(got, 'gw-sigkill');
    expect(events.filter((e) => e.kind === 'agent.started')).toHaveLength(2);
    expect(routesAdded(events, '198.18.2')).toBe(15);
    expect(events.filter((e) => e.kind === 'route.removed' && e.payload.route.dst.startsWith('198.18.2.'))).toHaveLength(15);
  });

  it('when charon restarts, then the agent reconnects, takes a new snapshot and says so', async () => {
    const { topic, args } = agentArgs('charon');
    const agent = launch(args);
    await agent.waitForLog(/VICI connected/);
    await lab.restartCharon('gw');
    await agent.waitForLog(/VICI reconnected; taking a new SA snapshot/, 30_000);
    await lab.waitForSa();
    await sleep(1000);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const got = await readTopic(topic, (g) => g.some((r) => r.event.kind === 'agent.stopping'));
    const events = checkStream(got, 'gw-charon');
    const conn = events.filter((e) => e.kind === 'vici.connection').map((e) => (e.kind === 'vici.connection' ? e.payload.state : ''));
    expect(conn).toEqual(['connected', 'disconnected', 'connected']);
    const snaps = events.filter((e) => e.kind === 'vici.sa-snapshot').map((e) => (e.kind === 'vici.sa-snapshot' ? e.payload.reason : ''));
    expect(snaps).toEqual(['connect', 'reconnect']);
  });

  it('when no charon runs, then rtnetlink events keep flowing and agent.status says vici is connecting', async () => {
    const out = path.join(lab.dir, 'nocharon.jsonl');
    const { args } = agentArgs('nocharon', ['--sink', `file:${out}`, '--vici', `unix://${lab.dir}/no-such-charon.vici`]);
    // A short command timeout: anything that waits on the absent charon would fail within the test.
    const agent = launch(args, { ROAMWATCH_VICI_COMMAND_TIMEOUT_MS: '500', ROAMWATCH_VICI_RECONNECT_MAX_MS: '300' });
    await agent.waitForLog(/charon VICI socket not reachable; retrying/);
    await churn('198.18.3', 5);
    await sleep(3000);
    expect(agent.log()).not.toMatch(/uncaught|unhandled/);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const events = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => validateEvent(JSON.parse(l)));
    expect(routesAdded(events, '198.18.3')).toBe(5);
    const st = events.filter((e) => e.kind === 'agent.status').at(-1);
    expect(st?.kind === 'agent.status' && st.payload.sources.vici.state).toBe('connecting');
    expect(st?.kind === 'agent.status' && st.payload.sources.vici.lastError).toMatch(/ENOENT/);
    expect(st?.kind === 'agent.status' && st.payload.sources.rtnetlink.state).toBe('connected');
    await churn('198.18.3', 5, 'del');
  });
});
