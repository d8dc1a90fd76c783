// Scale-out against the REAL servers (scripts/servers.sh): several `roamwatch processor`
// processes in one consumer group on a 6-partition topic, one more joining and one SIGKILLed
// mid-stream, partitions moving between them, must write exactly what one processor alone
// writes: the same InfluxDB rows (no duplicate, no gap) and the same findings (at-least-once
// on the findings topic, each id with one content), with the SA state of reauths that
// straddle a move rebuilt from the checkpoints (docs/processor.md "Scale-out").
//
// The fleet (longLivedFleet) reauthenticates every host at the same moments, the new IKE_SAs
// coming up 65 s after the old ones went down; the stream is produced in three parts, each cut
// before the ups of a wave, and the moves happen between them: the processor that takes a
// partition over sees the up of reauths whose down another processor applied, and needs the
// tunnels' CHILD_SA names (from their up minutes earlier) and their connection's verdict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Producer } from 'kafkajs';
import { InfluxDB } from '@influxdata/influxdb-client';
import type { RoamwatchEvent } from '@roamwatch/core';
import { longLivedFleet } from '@roamwatch/processor/testing';
import { servers, uniqueRunId } from '../setup/servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'cli/bin/roamwatch.js');
const { url, token, org } = servers.influx;
const kafka = new Kafka({ clientId: 'roamwatch-scaleout-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PARTITIONS = 6;
const HOSTS = 24;
/**
 * Both groups allow 60 s of lateness: the stream pauses between its parts (a processor
 * starting, one being killed), and a caught-up processor lets a silent host's time run on
 * (ticks), so with the default 2 s a pause in the middle of a count window would close it
 * early in one group and not in the other. The reauths take 65 s (the new IKE_SA comes up long
 * after the old went down, route changes in between), so the processor that saw a down has
 * applied it, and the one that takes the partition over applies the up: pairing window 120 s.
 */
// Incident grouping off: it has its own single-owner failover test (incidents-failover.test.ts),
// and its opened/updated/closed reports share one id with changing content.
const CORRELATION = ['--allowed-lateness-ms', '60000', '--pair-window-ms', '120000', '--incidents', 'false'];

let admin: Admin;
let producer: Producer;
const children: ChildProcess[] = [];
const databases: string[] = [];
const topics: string[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await producer?.disconnect();
  if (topics.length) await admin?.deleteTopics({ topics }).catch(() => undefined);
  await admin?.disconnect();
  for (const db of databases) await influxql(`DROP DATABASE "${db}"`).catch(() => undefined);
});

async function influxql(q: string): Promise<void> {
  const r = await fetch(`${url}/query?q=${encodeURIComponent(q)}`, { method: 'POST', headers: { Authorization: `Token ${token}` } });
  if (!r.ok) throw new Error(`InfluxDB ${q}: HTTP ${r.status} ${await r.text()}`);
}

interface Proc {
  proc: ChildProcess;
  log(): string;
  exited: Promise<number | string>;
}

/** `roamwatch processor` as an operator runs it, with a short session timeout so that a killed member's partitions move within seconds. */
function processor(name: string, o: { topic: string; group: string; findings: string; db: string }): Proc {
  const env = { ...process.env, ROAMWATCH_KAFKA_BROKERS: servers.kafka.brokers.join(','), ROAMWATCH_INFLUX_TOKEN: token, ROAMWATCH_LOG_FORMAT: 'json' };
  const proc = spawn(
    process.execPath,
    [CLI, 'processor', '--topic', o.topic, '--group', o.group, '--findings-topic', o.findings, '--influx-url', url, '--influx-bucket', `${o.db}/autogen`, '--influx-org', org, '--session-timeout-ms', '6000', ...CORRELATION, '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'], env },
  );
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { proc, log: () => `--- ${name}\n${err}`, exited };
}

/** The processor's JSON log lines. */
function logLines(p: Proc): { message?: string; hosts?: number }[] {
  return p
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message?: string; hosts?: number });
}

/** Per partition assignment: how many hosts the processor restored from checkpoints. */
function restores(p: Proc): number[] {
  return logLines(p)
    .filter((l) => l.message === 'partition assigned: state restored from checkpoints')
    .map((l) => l.hosts ?? 0);
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await sleep(200);
  }
}

async function produce(topic: string, events: RoamwatchEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    await producer.send({ topic, acks: -1, messages: events.slice(i, i + 500).map((e) => ({ key: e.host, value: JSON.stringify(e) })) });
  }
}

/** `group` committed every partition of `topic` up to `upTo` (everything before released, every output acknowledged). */
async function committedUpTo(topic: string, group: string, upTo: Map<number, number>): Promise<boolean> {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const committed = new Map(t!.partitions.map((p) => [p.partition, Number(p.offset)]));
  return [...upTo].every(([partition, offset]) => (committed.get(partition) ?? -1) >= offset);
}

function nsOfRfc3339(t: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(t);
  if (!m) throw new Error(`bad time ${t}`);
  return String(BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')));
}

const TAGS = ['host', 'conn', 'class', 'trigger_kind', 'state', 'kind', 'op', 'applied_by'];

/** Every row the processors wrote into `db` (the self-report `roamwatch_processor` names its instance and is left out). */
async function rows(db: string): Promise<string[]> {
  const flux = `from(bucket: ${JSON.stringify(`${db}/autogen`)})
  |> range(start: 2020-01-01T00:00:00Z, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement =~ /^roamwatch_/ and r._measurement != "roamwatch_processor")`;
  const out = await new InfluxDB({ url, token, timeout: 30_000 }).getQueryApi(org).collectRows<Record<string, unknown>>(flux);
  return out
    .map((r) => {
      const tags = TAGS.filter((k) => typeof r[k] === 'string' && r[k] !== '').map((k) => `${k}=${String(r[k])}`).join(',');
      return `${String(r._measurement)}|${tags}|${String(r._field)}=${String(r._value)}|${nsOfRfc3339(String(r._time))}`;
    })
    .sort();
}

/** The findings topic from its start to its end: id → every copy (JSON). */
async function findings(topic: string): Promise<Map<string, string[]>> {
  const ends = await admin.fetchTopicOffsets(topic);
  const consumer = kafka.consumer({ groupId: uniqueRunId('scaleout-read') });
  const out = new Map<string, string[]>();
  const next = new Map<number, number>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const f = JSON.parse(message.value!.toString()) as { id: string };
      out.set(f.id, [...(out.get(f.id) ?? []), message.value!.toString()]);
      next.set(partition, Number(message.offset) + 1);
    },
  });
  try {
    await waitFor(`reading ${topic}`, () => ends.every((e) => Number(e.high) === 0 || (next.get(e.partition) ?? 0) >= Number(e.high)), 30_000, () => '');
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The index of the first new IKE_SA up after `timeUs`. */
function straddleCut(events: RoamwatchEvent[], timeUs: number): number {
  return events.findIndex((e) => e.timeUs > timeUs && e.kind === 'vici.ike-updown' && e.payload.up);
}

describe('processor scale-out: instances join and die, partitions move (real Kafka, real InfluxDB)', () => {
  it('when 2 then 3 processors share a group, one joins and one is SIGKILLed mid-reauth, then InfluxDB and the findings equal one processor’s', async () => {
    const run = uniqueRunId('scaleout');
    const topic = `${run}.events`;
    const db = (s: string) => `${run.replace(/[^A-Za-z0-9]/g, '_')}_${s}`;
    const ref = { topic, group: `${run}-ref`, findings: `${run}.findings-ref`, db: db('ref') };
    const scale = { topic, group: `${run}-scale`, findings: `${run}.findings-scale`, db: db('scale') };
    topics.push(topic, ref.findings, scale.findings, `${topic}.dead-letter`, `${ref.group}.checkpoints`, `${scale.group}.checkpoints`);
    for (const d of [ref.db, scale.db]) {
      databases.push(d);
      await influxql(`CREATE DATABASE "${d}"`);
    }
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });

    // every host's agent keeps reporting: a heartbeat 200 s after the end moves each host's clock
    // past every retention (lateness + pairing window), so both groups commit everything but it
    const { events, reauthTimesUs } = longLivedFleet({ hosts: HOSTS, durationS: 200, routeEveryMs: 4000, reauthEveryS: 50, reauthGapMs: 65_000, finalStatusAfterS: 200 });
    const t0 = events[0]!.timeUs;
    // part 1 ends before the first new SA of wave 0 comes up, part 2 before the first of wave 1
    const cut1 = straddleCut(events, t0 + reauthTimesUs[0]! + 60_000_000);
    const cut2 = straddleCut(events, t0 + reauthTimesUs[1]! + 60_000_000);
    expect(0 < cut1 && cut1 < cut2 && cut2 < events.length).toBe(true);

    const all: Proc[] = [];
    const logs = () => all.map((p) => p.log()).join('\n');
    const running = (p: Proc) => logLines(p).some((l) => l.message === 'processor running');
    const reference = processor('reference', ref);
    const a = processor('A', scale);
    const b = processor('B', scale);
    all.push(reference, a, b);
    await waitFor('three processors running', () => all.every(running), 30_000, logs);

    // part 1, up to the downs of the first wave; then C joins: partitions move from A and B to C
    await produce(topic, events.slice(0, cut1));
    await waitFor('A and B consuming', () => [a, b].every((p) => restores(p).length > 0), 30_000, logs);
    await sleep(2500); // commits (and checkpoints) every second
    const c = processor('C', scale);
    all.push(c);
    await waitFor('C assigned partitions', () => restores(c).length > 0, 40_000, logs);

    // part 2, up to the downs of the second wave; then B dies without leaving the group
    await produce(topic, events.slice(cut1, cut2));
    await sleep(3000);
    const victim = b;
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    const survivors = [a, b, c].filter((p) => p !== victim);
    const restoresBefore = survivors.map((p) => restores(p).length);

    // part 3, the rest: the victim's partitions move after the session timeout. The final
    // heartbeats go one by one, to learn where each lands: both groups must commit up to them.
    await produce(topic, events.slice(cut2, events.length - HOSTS));
    const upTo = new Map<number, number>();
    for (const e of events.slice(events.length - HOSTS)) {
      const [md] = await producer.send({ topic, acks: -1, messages: [{ key: e.host, value: JSON.stringify(e) }] });
      upTo.set(md!.partition, Math.min(upTo.get(md!.partition) ?? Infinity, Number(md!.baseOffset)));
    }
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) if (!upTo.has(partition)) upTo.set(partition, Number(high));
    await waitFor('the victim’s partitions taken over', () => survivors.some((p, i) => restores(p).length > restoresBefore[i]!), 40_000, logs);
    await waitFor('both groups committed up to the final heartbeats', async () => (await committedUpTo(topic, ref.group, upTo)) && (await committedUpTo(topic, scale.group, upTo)), 60_000, logs);

    const [refRows, scaleRows] = [await rows(ref.db), await rows(scale.db)];
    const [refFindings, scaleFindings] = [await findings(ref.findings), await findings(scale.findings)];
    for (const p of [reference, ...survivors]) p.proc.kill('SIGTERM');
    await Promise.all([reference, ...survivors].map((p) => p.exited));

    // the reference saw every wave of reauths with their full state
    const refReauths = [...refFindings.values()].map((l) => JSON.parse(l[0]!) as { type: string; downtimeMs: number | null; fix?: { command: string } }).filter((f) => f.type === 'reauth');
    expect(refReauths.length).toBe(HOSTS * reauthTimesUs.length);
    for (const f of refReauths) {
      expect(f.downtimeMs).toBeGreaterThan(0);
      expect(f.fix?.command).toMatch(/^ip route add /);
    }
    for (const [id, list] of refFindings) expect(list.length, id).toBe(1);
    // InfluxDB: exactly the reference's rows (a duplicate would be the same row; a stale state a different one)
    expect(refRows.length).toBeGreaterThan(HOSTS * 50);
    expect(scaleRows).toEqual(refRows);
    // findings: the same ids, each copy with the reference's content (at-least-once, deterministic ids)
    expect([...scaleFindings.keys()].sort()).toEqual([...refFindings.keys()].sort());
    for (const [id, list] of scaleFindings) for (const f of list) expect(f, id).toBe(refFindings.get(id)![0]);
    // partitions really moved with state: a survivor restored hosts from checkpoints
    expect(survivors.some((p, i) => restores(p).slice(restoresBefore[i]).some((hosts) => hosts > 0))).toBe(true);
  }, 180_000);
});
