/**
 * Helpers for the agent's integration tests: the agent as a real child process in the lab's
 * gateway namespace, a Kafka bridge into that namespace, a topic reader, and broker stop/start.
 *
 * Kafka bridge: the test broker listens on the host's 127.0.0.1:9092 and advertises that
 * address; a process in the gw namespace has its own loopback. The bridge listens on
 * 127.0.0.1:9092 *inside* the namespace (a small node process started with `ip netns exec`)
 * and forwards each connection over a unix socket (unix sockets are not per-namespace) to a
 * forwarder in this process that connects to the real broker. The agent so sees the broker at
 * the address the broker advertises, and the broker is the real one (stopping it is a real
 * outage).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { decodeRecordEvents } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { Lab } from '../lab/index.js';
import { servers } from '../setup/servers.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(ROOT, 'cli/bin/roamwatch.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const [brokerHost, brokerPortText] = (servers.kafka.brokers[0] ?? '127.0.0.1:9092').split(':');
const brokerPort = Number(brokerPortText);

export interface KafkaBridge {
  close(): Promise<void>;
}

/** Makes the host's Kafka broker reachable at the same address inside the lab's gw namespace. */
export async function bridgeKafkaInto(lab: Lab): Promise<KafkaBridge> {
  const sock = path.join(lab.dir, 'kafka-bridge.sock');
  fs.rmSync(sock, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inner) => {
    const outer = net.connect(brokerPort, brokerHost);
    sockets.add(inner).add(outer);
    inner.pipe(outer).pipe(inner);
    const end = () => {
      inner.destroy();
      outer.destroy();
      sockets.delete(inner);
      sockets.delete(outer);
    };
    inner.on('error', end).on('close', end);
    outer.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const script = `
    const net = require('node:net');
    net.createServer((c) => {
      const u = net.connect(${JSON.stringify(sock)});
      c.pipe(u).pipe(c);
      const end = () => { c.destroy(); u.destroy(); };
      c.on('error', end).on('close', end); u.on('error', end).on('close', end);
    }).listen(${brokerPort}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const child = lab.gw.spawn([process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`kafka bridge in ${lab.gw.netns} exited with ${code}`)));
  });
  return {
    async close() {
      child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface AgentProcess {
  proc: ChildProcess;
  /** stderr (JSON log lines) so far. */
  log(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `roamwatch agent ARGS` in the lab's gw namespace (or on the host without a lab). */
export function startAgent(lab: Lab | undefined, args: string[], env: Record<string, string> = {}): AgentProcess {
  const cmd = [process.execPath, CLI, 'agent', ...args];
  const opts = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROAMWATCH_LOG_FORMAT: 'json', ...env } };
  const proc = lab ? lab.gw.spawn(cmd, opts) : spawn(cmd[0]!, cmd.slice(1), opts);
  let stderr = '';
  // Kept for post-mortems: $ROAMWATCH_AGENT_TEST_LOGS (default the OS temp dir)/roamwatch-agent-<pid>.log
  const logFile = path.join(process.env['ROAMWATCH_AGENT_TEST_LOGS'] ?? os.tmpdir(), `roamwatch-agent-${proc.pid ?? 'x'}.log`);
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    fs.appendFileSync(logFile, d);
  });
  proc.stdout!.resume();
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    proc,
    log: () => stderr,
    waitForLog: (pattern, timeoutMs = 20_000) =>
      until(`agent log ${pattern}`, timeoutMs, () => stderr.split('\n').find((l) => pattern.test(l))),
    exited,
    kill: (signal) => proc.kill(signal),
  };
}

/** Runs the CLI to completion (for bad-config checks). */
export function runCli(args: string[], env: Record<string, string> = {}): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

export interface Received {
  event: RoamwatchEvent;
  partition: number;
  key: string;
}

/** Reads every message of `topic` from the beginning until `done` holds (or the timeout). */
export async function readTopic(topic: string, done: (got: Received[]) => boolean, timeoutMs = 60_000): Promise<Received[]> {
  const kafka = new Kafka({ clientId: 'roamwatch-agent-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
  const consumer = kafka.consumer({ groupId: `agent-test-${topic}-${Date.now()}`, maxWaitTimeInMs: 200 });
  const got: Received[] = [];
  // The agent creates the topic when it first connects: wait for it before subscribing.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await until(`topic ${topic}`, timeoutMs, async () => ((await admin.listTopics()).includes(topic) ? true : undefined), 200);
  } finally {
    await admin.disconnect();
  }
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        // a batch record (docs/events.md "Records") holds many events of the host
        for (const event of decodeRecordEvents(message.value!, message.headers)) got.push({ event, partition, key: message.key?.toString() ?? '' });
      },
    });
    await until(`events on ${topic}`, timeoutMs, () => done(got) || undefined, 200);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/** Dedupes by event id (a resent event keeps its id) and checks that one seq never has two ids. */
export function dedupe(got: Received[]): { events: RoamwatchEvent[]; duplicates: number } {
  const byId = new Map<string, RoamwatchEvent>();
  const idOfSeq = new Map<number, string>();
  let duplicates = 0;
  for (const { event } of got) {
    const prev = idOfSeq.get(event.seq);
    if (prev !== undefined && prev !== event.id) throw new Error(`seq ${event.seq} carries two ids: ${prev} and ${event.id}`);
    idOfSeq.set(event.seq, event.id);
    if (byId.has(event.id)) duplicates += 1;
    else byId.set(event.id, event);
  }
  return { events: [...byId.values()], duplicates };
}

/** Sequence numbers 1..max that are missing and not covered by an agent.gap event. */
export function missingSeqs(events: RoamwatchEvent[]): number[] {
  const seen = new Set(events.map((e) => e.seq));
  for (const e of events) if (e.kind === 'agent.gap') for (let s = e.payload.fromSeq ?? 1; s <= (e.payload.toSeq ?? 0); s++) seen.add(s);
  const max = Math.max(0, ...events.map((e) => e.seq));
  const out: number[] = [];
  for (let s = 1; s <= max; s++) if (!seen.has(s)) out.push(s);
  return out;
}

/** Runs a script without blocking this process's event loop (the Kafka bridge lives here). */
function runScript(script: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, script)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${script} failed (${code}): ${out.slice(-2000)}`));
    });
  });
}

/** Stops the real test broker (scripts/kafka/stop.sh: its pid file's process only). */
export function stopBroker(): Promise<void> {
  return runScript('scripts/kafka/stop.sh', 60_000);
}

/** Starts it again and waits until it answers (scripts/kafka/start.sh). */
export function startBroker(): Promise<void> {
  return runScript('scripts/kafka/start.sh', 180_000);
}
