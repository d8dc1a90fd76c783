/**
 * Every Kafka hop authenticated and encrypted, least privilege, no loss on refused credentials
 * (issue #15), against the test broker's real SASL_SSL listener (scripts/kafka/start.sh: TLS
 * with the CA of its state dir, SCRAM users roamwatch-agent and roamwatch-processor, KRaft
 * StandardAuthorizer). Each test uses its own topics and grants the same ACLs that
 * scripts/kafka/acls.txt grants on the production names.
 *
 * Attacks and faults tried: correct credentials (delivered), wrong password, a CA that did not
 * sign the broker, an expired client certificate, a plaintext client on the SASL_SSL port
 * (each refused with a message naming the cause, events kept in the spool, delivered once the
 * agent restarts with the right settings), the agent's credential reading findings, writing
 * another topic or joining a group (denied).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, ResourcePatternTypes, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { explainKafkaError } from '@roamwatch/core';
import { ROOT, dedupe, missingSeqs, readTopic, startAgent } from './agent-harness.js';
import type { AgentProcess } from './agent-harness.js';
import { servers, uniqueRunId } from '../setup/servers.js';

const sk = servers.secureKafka;
const run = uniqueRunId('sec');
const TOPIC = `${run}.events`;
const FINDINGS = `${run}.findings`;
let dir: string;
let admin: Admin;
const agents: AgentProcess[] = [];

async function allow(principal: string, resourceType: AclResourceTypes, name: string, ops: AclOperationTypes[]): Promise<void> {
  await admin.createAcls({
    acl: ops.map((operation) => ({
      principal,
      resourceType,
      resourceName: name,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    })),
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-security-'));
  // The test's own CA (untrusted by the broker's clients) and an expired client certificate
  // signed by the broker's real CA.
  const tls = path.join(ROOT, 'scripts/kafka/tls.sh');
  for (const args of [['ca', path.join(dir, 'other-ca')], ['client', sk.stateDir + '/tls', `${run}-expired`, '--expired'], ['client', sk.stateDir + '/tls', `${run}-valid`]]) {
    const r = spawnSync('bash', [tls, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tls.sh ${args.join(' ')} failed: ${r.stderr}`);
  }
  admin = new Kafka({ clientId: 'roamwatch-security-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }, { topic: FINDINGS, numPartitions: 1 }], waitForLeaders: true });
  // The least privileges of scripts/kafka/acls.txt, on this test's names.
  await allow('User:roamwatch-agent', AclResourceTypes.TOPIC, TOPIC, [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE]);
  await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, TOPIC, [AclOperationTypes.READ, AclOperationTypes.DESCRIBE]);
  await allow('User:roamwatch-processor', AclResourceTypes.TOPIC, FINDINGS, [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE]);
  await allow('User:roamwatch-processor', AclResourceTypes.GROUP, `${run}-group`, [AclOperationTypes.READ]);
}, 60_000);

afterAll(async () => {
  for (const a of agents) a.kill('SIGKILL');
  await admin?.disconnect();
  fs.rmSync(`${sk.stateDir}/tls/${run}-expired.key`, { force: true });
  fs.rmSync(`${sk.stateDir}/tls/${run}-expired.pem`, { force: true });
  fs.rmSync(`${sk.stateDir}/tls/${run}-valid.key`, { force: true });
  fs.rmSync(`${sk.stateDir}/tls/${run}-valid.pem`, { force: true });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Agent settings for the secured listener; `over` replaces any of them (env names). */
function secureEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    ROAMWATCH_KAFKA_BROKERS: sk.brokers.join(','),
    ROAMWATCH_KAFKA_TLS_ENABLED: 'true',
    ROAMWATCH_KAFKA_TLS_CA_FILE: sk.caFile,
    ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    ROAMWATCH_KAFKA_SASL_USERNAME: 'roamwatch-agent',
    ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: sk.passwordFile('roamwatch-agent'),
    ROAMWATCH_KAFKA_CREATE_TOPIC: 'false',
    ROAMWATCH_KAFKA_RETRY_MAX_MS: '1000',
    ROAMWATCH_KAFKA_LINGER_MS: '5',
    ...over,
  };
}

function agent(name: string, env: Record<string, string>): AgentProcess {
  const a = startAgent(
    undefined,
    ['--topic', TOPIC, '--spool-dir', path.join(dir, `spool-${name}`), '--host-id', `gw-${name}`, '--vici-enabled', 'false', '--rtnetlink-enabled', 'false', '--path-enabled', 'false', '--status-interval-ms', '200'],
    env,
  );
  agents.push(a);
  return a;
}

async function stop(a: AgentProcess): Promise<void> {
  a.kill('SIGTERM');
  expect(await a.exited).toBe(0);
}

/** Refused with `cause` in the log, then restarted with the right settings: nothing lost. */
async function refusedThenFixed(name: string, bad: Record<string, string>, cause: RegExp): Promise<void> {
  const first = agent(name, secureEnv(bad));
  const line = await first.waitForLog(/sink unavailable/, 30_000);
  expect(line).toMatch(cause);
  await first.waitForLog(/"kind":"agent.status"|spool/, 5_000).catch(() => undefined);
  await stop(first);
  const second = agent(name, secureEnv());
  await second.waitForLog(/connected/, 30_000);
  const got = await readTopic(TOPIC, (g) => {
    const mine = g.filter((r) => r.key === `gw-${name}`);
    return mine.some((r) => r.event.kind === 'agent.stopping') && mine.filter((r) => r.event.kind === 'agent.started').length >= 2;
  });
  await stop(second);
  const { events } = dedupe(got.filter((r) => r.key === `gw-${name}`));
  // Every event of the refused run reached Kafka after the fix: seq 1.. without a hole.
  expect(events.find((e) => e.seq === 1)?.kind).toBe('agent.started');
  expect(missingSeqs(events)).toEqual([]);
}

describe('Kafka SASL_SSL: every hop authenticated and encrypted', () => {
  it('when the agent has the right CA and SCRAM password, then its events are delivered over TLS', async () => {
    const a = agent('ok', secureEnv());
    await a.waitForLog(/connected/, 30_000);
    const got = await readTopic(TOPIC, (g) => g.filter((r) => r.key === 'gw-ok' && r.event.kind === 'agent.status').length >= 2);
    expect(got.find((r) => r.key === 'gw-ok')?.event.kind).toBe('agent.started');
    await stop(a);
  });

  it('when the agent also presents a valid client certificate (mutual TLS), then its events are delivered', async () => {
    const a = agent('mtls', secureEnv({ ROAMWATCH_KAFKA_TLS_CERT_FILE: `${sk.stateDir}/tls/${run}-valid.pem`, ROAMWATCH_KAFKA_TLS_KEY_FILE: `${sk.stateDir}/tls/${run}-valid.key` }));
    await a.waitForLog(/connected/, 30_000);
    await readTopic(TOPIC, (g) => g.filter((r) => r.key === 'gw-mtls' && r.event.kind === 'agent.status').length >= 2);
    await stop(a);
  });

  it('when the password is wrong, then the agent says the SASL login was refused, keeps spooling, and delivers everything with the right one', async () => {
    const wrong = path.join(dir, 'wrong-password');
    fs.writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    await refusedThenFixed('wrongpw', { ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: wrong }, /refused the SASL scram-sha-512 login/);
  });

  it('when the CA does not sign the broker, then the agent says the certificate is untrusted, and loses nothing', async () => {
    await refusedThenFixed('untrusted', { ROAMWATCH_KAFKA_TLS_CA_FILE: path.join(dir, 'other-ca/ca.pem') }, /not signed by a trusted CA/);
  });

  it('when the client certificate has expired, then the broker refuses the handshake and the agent says so, and loses nothing', async () => {
    await refusedThenFixed(
      'expired',
      { ROAMWATCH_KAFKA_TLS_CERT_FILE: `${sk.stateDir}/tls/${run}-expired.pem`, ROAMWATCH_KAFKA_TLS_KEY_FILE: `${sk.stateDir}/tls/${run}-expired.key` },
      /refused our TLS client certificate/,
    );
  });

  it('when a plaintext client talks to the SASL_SSL port, then it is refused and told to enable TLS, and loses nothing', async () => {
    await refusedThenFixed('plaintext', { ROAMWATCH_KAFKA_TLS_ENABLED: 'false', ROAMWATCH_KAFKA_TLS_CA_FILE: '', ROAMWATCH_KAFKA_SASL_MECHANISM: 'none', ROAMWATCH_KAFKA_SASL_USERNAME: '', ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: '' }, /enable kafka.tls/);
  });
});

describe('Kafka SASL_SSL: the processor', () => {
  it('when the processor has a wrong password, then it exits 2 saying the SASL login was refused', () => {
    const wrong = path.join(dir, 'wrong-processor-password');
    fs.writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const r = spawnSync(process.execPath, [path.join(ROOT, 'cli/bin/roamwatch.js'), 'processor', '--topic', TOPIC, '--group', `${run}-group`, '--findings-topic', 'none'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        ROAMWATCH_KAFKA_BROKERS: sk.brokers.join(','),
        ROAMWATCH_KAFKA_TLS_ENABLED: 'true',
        ROAMWATCH_KAFKA_TLS_CA_FILE: sk.caFile,
        ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        ROAMWATCH_KAFKA_SASL_USERNAME: 'roamwatch-processor',
        ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: wrong,
      },
    });
    expect(r.stderr).toMatch(/roamwatch processor: Kafka refused the SASL scram-sha-512 login/);
    expect(r.status).toBe(2);
  });
});

describe('Kafka ACLs: least privilege of the agent credential', () => {
  const asAgent = () =>
    new Kafka({
      clientId: 'roamwatch-acl-test',
      brokers: sk.brokers,
      ssl: { ca: [fs.readFileSync(sk.caFile, 'utf8')] },
      sasl: { mechanism: 'scram-sha-512', username: 'roamwatch-agent', password: fs.readFileSync(sk.passwordFile('roamwatch-agent'), 'utf8').trim() },
      retry: { retries: 1, maxRetryTime: 500 },
      logLevel: logLevel.NOTHING,
    });
  const explain = (err: unknown) => String((explainKafkaError(err, { brokers: sk.brokers, tls: true, sasl: 'scram-sha-512' }) as Error).message);

  it('when the agent credential writes another topic (findings), then it is denied', async () => {
    const producer = asAgent().producer();
    await producer.connect();
    const err = await producer.send({ topic: FINDINGS, messages: [{ key: 'x', value: 'forged finding' }] }).catch((e: unknown) => e);
    await producer.disconnect();
    expect(explain(err)).toMatch(/denied this principal/);
    expect((err as Error).message).toMatch(/Not authorized to access topics/);
  });

  it('when the agent credential reads the findings, then it is denied', async () => {
    const consumer = asAgent().consumer({ groupId: `${run}-group` });
    await consumer.connect();
    const err = await consumer.subscribe({ topic: FINDINGS, fromBeginning: true }).catch((e: unknown) => e);
    await consumer.disconnect();
    expect(explain(err)).toMatch(/denied this principal/);
  });

  it("when the agent credential joins any consumer group (to read other gateways' events), then it is denied", async () => {
    const logs: string[] = [];
    const kafka = new Kafka({
      clientId: 'roamwatch-acl-test',
      brokers: sk.brokers,
      ssl: { ca: [fs.readFileSync(sk.caFile, 'utf8')] },
      sasl: { mechanism: 'scram-sha-512', username: 'roamwatch-agent', password: fs.readFileSync(sk.passwordFile('roamwatch-agent'), 'utf8').trim() },
      retry: { retries: 1, maxRetryTime: 500 },
      logLevel: logLevel.ERROR,
      logCreator: () => (e) => void logs.push(`${e.log.message} ${String(e.log.error ?? '')}`),
    });
    const consumer = kafka.consumer({ groupId: `${run}-group` });
    const crashed = new Promise<unknown>((resolve) => consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error)));
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async () => expect.fail('the agent credential read an event') });
    await crashed;
    await consumer.disconnect();
    expect(logs.join('\n')).toMatch(/Not authorized to access group/);
  });

  it('when the agent credential creates a topic, then it is denied', async () => {
    const a = asAgent().admin();
    await a.connect();
    const err = await a.createTopics({ topics: [{ topic: `${run}.forged` }] }).catch((e: unknown) => e);
    await a.disconnect();
    expect(explain(err)).toMatch(/denied this principal/);
  });
});
