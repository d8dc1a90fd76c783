/**
 * The processor over the secured hops (issue #15): SASL_SSL to Kafka with the processor's own
 * credential and ACLs, InfluxDB with authentication (the `influxdb-auth` test server), secrets
 * from files and systemd credentials, and none of them in any log, argv, event, spool or the
 * rtnl-pipe helper's environment.
 *
 * Faults tried: a wrong InfluxDB token (clear error, no offset committed, nothing written;
 * restarted with the right token, every point arrives).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, ResourcePatternTypes, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { InfluxDB } from '@influxdata/influxdb-client';
import { CLI, readTopic, startAgent, until } from './agent-harness.js';
import type { AgentProcess } from './agent-harness.js';
import { servers, uniqueRunId } from '../setup/servers.js';

const sk = servers.secureKafka;
const ia = servers.influxAuth;
const run = uniqueRunId('secp');
const TOPIC = `${run}.events`;
const FINDINGS = `${run}.findings`;
const DEAD = `${run}.dead`;
const GROUP = `${run}-group`;
const HOST = `gw-${run}`;
let dir: string;
let admin: Admin;
const children: ChildProcess[] = [];
const agents: AgentProcess[] = [];

async function allow(principal: string, resourceType: AclResourceTypes, name: string, ops: AclOperationTypes[], pattern = ResourcePatternTypes.LITERAL): Promise<void> {
  await admin.createAcls({
    acl: ops.map((operation) => ({ principal, resourceType, resourceName: name, resourcePatternType: pattern, host: '*', operation, permissionType: AclPermissionTypes.ALLOW })),
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-security-proc-'));
  admin = new Kafka({ clientId: 'roamwatch-security-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [TOPIC, FINDINGS, DEAD].map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  await allow('User:roamwatch-agent', AclResourceTypes.TOPIC, TOPIC, [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE]);
  await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, TOPIC, [AclOperationTypes.READ, AclOperationTypes.DESCRIBE]);
  for (const t of [FINDINGS, DEAD]) await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, t, [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE]);
  await allow('User:roamwatch-processor', AclResourceTypes.GROUP, GROUP, [AclOperationTypes.READ]);
  // the incident grouping (on by default) reads the findings back in its own group
  await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, FINDINGS, [AclOperationTypes.READ]);
  await allow('User:roamwatch-processor', AclResourceTypes.GROUP, `${GROUP}.incidents`, [AclOperationTypes.READ]);
  // the checkpoint topic of the group (docs/processor.md "Scale-out") and its reader's groups
  await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, `${GROUP}.checkpoints`, [AclOperationTypes.READ, AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE, AclOperationTypes.CREATE]);
  await allow('User:roamwatch-processor', AclResourceTypes.GROUP, `${GROUP}.checkpoints.`, [AclOperationTypes.READ], ResourcePatternTypes.PREFIXED);
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const a of agents) a.kill('SIGKILL');
  await admin?.disconnect();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function kafkaEnv(user: string): Record<string, string> {
  return {
    ROAMWATCH_KAFKA_BROKERS: sk.brokers.join(','),
    ROAMWATCH_KAFKA_TLS_ENABLED: 'true',
    ROAMWATCH_KAFKA_TLS_CA_FILE: sk.caFile,
    ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    ROAMWATCH_KAFKA_SASL_USERNAME: user,
    ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: sk.passwordFile(user),
  };
}

interface Proc {
  proc: ChildProcess;
  log(): string;
  exited: Promise<number | string>;
}

/** `roamwatch processor` at debug level, its InfluxDB token given by systemd-style credentials. */
function processor(tokenDir: string): Proc {
  const env = { ...process.env, ...kafkaEnv('roamwatch-processor'), ROAMWATCH_LOG_FORMAT: 'json', CREDENTIALS_DIRECTORY: tokenDir };
  const proc = spawn(
    process.execPath,
    [CLI, 'processor', '--topic', TOPIC, '--group', GROUP, '--findings-topic', FINDINGS, '--dead-letter-topic', DEAD, '--influx-url', ia.url, '--influx-bucket', ia.bucket, '--influx-org', ia.org, '--log-level', 'debug'],
    { stdio: ['ignore', 'ignore', 'pipe'], env },
  );
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { proc, log: () => err, exited };
}

function credentials(name: string, token: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { mode: 0o700 });
  fs.writeFileSync(path.join(d, 'influx.token'), `${token}\n`, { mode: 0o600 });
  return d;
}

async function committed(): Promise<string> {
  const [t] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  return t?.partitions[0]?.offset ?? '-1';
}

async function points(): Promise<number> {
  const q = new InfluxDB({ url: ia.url, token: fs.readFileSync(ia.tokenFile, 'utf8').trim() }).getQueryApi(ia.org);
  const rows = await q.collectRows<{ _value: number }>(
    `from(bucket: ${JSON.stringify(ia.bucket)}) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "roamwatch_agent" and r.host == ${JSON.stringify(HOST)} and r._field == "spool_events") |> count()`,
  );
  return rows.reduce((a, r) => a + Number(r._value), 0);
}

/** Every /proc/<pid>/ that descends from `root` (the agent's rtnl-pipe helper, ip netns exec…). */
function descendants(root: number): number[] {
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      for (const k of kids) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(root);
  return out;
}

describe('processor over SASL_SSL and InfluxDB with authentication; secrets never leak', () => {
  let statusEvents = 0;
  let agentLog = '';
  const leaks: Array<{ where: string; text: string }> = [];

  it('when the agent runs with its password from a file, then its events arrive and its helper gets no secret', async () => {
    const env = { ...kafkaEnv('roamwatch-agent'), ROAMWATCH_KAFKA_CREATE_TOPIC: 'false', ROAMWATCH_KAFKA_LINGER_MS: '5', ROAMWATCH_LOG_LEVEL: 'debug' };
    const spool = path.join(dir, 'spool');
    const a = startAgent(undefined, ['--topic', TOPIC, '--spool-dir', spool, '--host-id', HOST, '--vici-enabled', 'false', '--path-enabled', 'false', '--status-interval-ms', '200'], env);
    agents.push(a);
    await a.waitForLog(/rtnetlink.*(connected|initial|dump)|connected/, 30_000);
    await until('the rtnl-pipe helper', 20_000, () => descendants(a.proc.pid!).find((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('rtnl-pipe')));
    for (const pid of [a.proc.pid!, ...descendants(a.proc.pid!)]) {
      leaks.push({ where: `/proc/${pid}/cmdline`, text: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') });
      if (pid !== a.proc.pid) leaks.push({ where: `/proc/${pid}/environ`, text: fs.readFileSync(`/proc/${pid}/environ`, 'utf8') });
    }
    const helper = descendants(a.proc.pid!).find((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('rtnl-pipe'))!;
    expect(fs.readFileSync(`/proc/${helper}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => kv.split('=')[0]).sort()).toEqual(['LC_ALL', 'PATH']);
    const got = await readTopic(TOPIC, (g) => g.filter((r) => r.event.kind === 'agent.status').length >= 5);
    a.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    agentLog = a.log();
    leaks.push({ where: 'agent log (debug)', text: agentLog });
    const all = await readTopic(TOPIC, (g) => g.some((r) => r.event.kind === 'agent.stopping'));
    statusEvents = all.filter((r) => r.event.kind === 'agent.status').length;
    expect(statusEvents).toBeGreaterThanOrEqual(5);
    expect(got.length).toBeGreaterThan(0);
    leaks.push({ where: `topic ${TOPIC}`, text: all.map((r) => JSON.stringify(r.event)).join('\n') });
    for (const f of fs.readdirSync(spool, { recursive: true }) as string[]) {
      const p = path.join(spool, f);
      if (fs.statSync(p).isFile()) leaks.push({ where: `spool ${f}`, text: fs.readFileSync(p, 'latin1') });
    }
  });

  it('when the InfluxDB token is wrong, then the processor says InfluxDB refused it, commits no offset and writes nothing', async () => {
    const p = processor(credentials('wrong', 'roamwatch:wrong-password-for-test'));
    await until('the 401 in the processor log', 60_000, () => /refused the token \(HTTP 401 unauthorized\)/.test(p.log()) || undefined, 200);
    expect(await committed()).toBe('-1');
    p.proc.kill('SIGTERM');
    await p.exited;
    expect(await committed()).toBe('-1');
    expect(await points()).toBe(0);
    leaks.push({ where: 'processor log, wrong token (debug)', text: p.log() });
    leaks.push({ where: 'processor cmdline', text: (p.proc.spawnargs ?? []).join(' ') });
  });

  it('when it restarts with the right token, then every agent.status becomes a point and offsets are committed', async () => {
    const p = processor(credentials('right', fs.readFileSync(ia.tokenFile, 'utf8').trim()));
    await until('every point in InfluxDB', 90_000, async () => ((await points()) >= statusEvents ? true : undefined), 500);
    expect(await points()).toBe(statusEvents);
    await until('a committed offset', 30_000, async () => (Number(await committed()) > 0 ? true : undefined), 500);
    leaks.push({ where: `/proc/${p.proc.pid}/cmdline`, text: fs.readFileSync(`/proc/${p.proc.pid}/cmdline`, 'utf8') });
    p.proc.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    leaks.push({ where: 'processor log, right token (debug)', text: p.log() });
    expect(p.log()).toMatch(/"influx":"http:\/\/127\.0\.0\.1:\d+"/);
  });

  it('when `replay --from-kafka` reads the topic over SASL_SSL with the processor credential, then it replays every event', () => {
    const r = spawnSync(process.execPath, [CLI, 'replay', '--from-kafka', '--topic', TOPIC, '--format', 'json', '--log-level', 'debug'], {
      encoding: 'utf8',
      env: { ...process.env, ...kafkaEnv('roamwatch-processor') },
      timeout: 120_000,
    });
    expect(r.stderr).toMatch(/replayed \d+ events from 1 hosts/);
    expect(Number(/replayed (\d+) events/.exec(r.stderr)?.[1])).toBeGreaterThanOrEqual(statusEvents);
    expect(r.status).toBe(0);
    leaks.push({ where: 'replay stderr (debug)', text: r.stderr }, { where: 'replay stdout', text: r.stdout });
  });

  it('when logs (debug), argv, events, spool and the helper environment are searched, then no secret is found', () => {
    const secrets = [
      fs.readFileSync(sk.passwordFile('roamwatch-agent'), 'utf8').trim(),
      fs.readFileSync(sk.passwordFile('roamwatch-processor'), 'utf8').trim(),
      fs.readFileSync(ia.tokenFile, 'utf8').trim(),
      fs.readFileSync(ia.tokenFile, 'utf8').trim().split(':')[1]!,
      'wrong-password-for-test',
    ];
    expect(leaks.length).toBeGreaterThan(8);
    const found = leaks.flatMap((l) => secrets.filter((s) => l.text.includes(s)).map((s) => `${l.where} contains ${s.slice(0, 4)}…`));
    expect(found).toEqual([]);
  });
});
