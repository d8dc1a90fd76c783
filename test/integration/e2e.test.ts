/**
 * End to end, real components only: charon in the lab (on every build of the version
 * matrix, labCharons(): Debian's 5.9.8 and 6.0.6 from source) → `roamwatch agent` in the
 * gateway namespace → the real Kafka broker → `roamwatch processor` → the real InfluxDB,
 * and Grafana's alert rules evaluated against what landed there.
 *
 * The lab has two connections to the same peer: `rw` (local_addrs a hostname, the
 * reported bug) and `st` (local_addrs a literal address: charon keeps the static path).
 *   bug    unrelated route and address changes → one `spurious` finding per change for rw,
 *          attributed to that change, latency ≈ charon's 100 ms roam delay; none for st;
 *          the spurious-reauth alert fires.
 *   fix    doctor's first fix applied → doctor says valid → the same changes cause no reauth
 *          and no finding.
 *   static st: doctor says immune, and it never got a finding.
 *   gone   rw's local address really removed → a finding that is not `spurious`.
 *
 * Detection latency (route change → finding printed by the processor, → finding on the findings
 * topic, → point queryable in InfluxDB), with the processor's and the agent's default settings
 * (the agent declares its stream ordered at the source, so no allowed lateness is waited for),
 * and the agent's CPU are measured here; with ROAMWATCH_E2E_RESULTS=<file.json> they are written out
 * (`npm run bench -- e2e` does that and commits them under bench/results/).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, labCharons } from '../lab/index.js';
import type { Lab } from '../lab/index.js';
import { servers, uniqueRunId } from '../setup/servers.js';
import { CLI, bridgeKafkaInto, sleep, startAgent, until } from './agent-harness.js';
import type { AgentProcess, KafkaBridge } from './agent-harness.js';
import { queryInfluxQL, ruleStates } from '../../grafana/src/emulate.js';
import { RULES } from '../../grafana/src/alerting.js';

interface ReauthFinding {
  type: 'reauth';
  id: string;
  host: string;
  conn: string;
  classification: string;
  oldUniqueId: string;
  newUniqueId?: string;
  localBefore?: string;
  localAfter?: string;
  latencyMs: number | null;
  downtimeMs: number | null;
  order: string;
  triggers: Array<{ kind: string; summary: string; time: string }>;
  fix?: { command: string };
}
type Finding = ReauthFinding | { type: 'at-risk'; host: string; conn: string };

// per charon build (set in setUp)
let run = '';
let HOST = '';
let TOPIC = '';
const influxDb = servers.influx.bucket.split('/')[0]!;
const influx = { url: servers.influx.url, database: influxDb, token: servers.influx.token };

let lab: Lab;
let bridge: KafkaBridge;
let agent: AgentProcess;
let processor: ChildProcess;
let findingsConsumer: Consumer | undefined;
/** Finding id → when it arrived on the findings topic (ms). */
const onTopic = new Map<string, number>();
let processorErr = '';
const findings: Array<{ at: number; f: Finding }> = [];
const measured: { change: string; findingMs: number; topicMs: number; influxMs: number; latencyMs: number | null; downtimeMs: number | null }[] = [];
let agentCpuS = 0;

function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat (here 0-based 11 and 12 after the comm field)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function reauths(conn?: string): ReauthFinding[] {
  return findings.map((x) => x.f).filter((f): f is ReauthFinding => f.type === 'reauth' && (conn === undefined || f.conn === conn));
}

async function influxReauthCount(): Promise<number> {
  const s = await queryInfluxQL(influx, `SELECT count("count") FROM "roamwatch_reauth" WHERE "host" = '${HOST}' AND time > now() - 1h`);
  const v = s[0]?.values?.[0]?.[1];
  return typeof v === 'number' ? v : 0;
}

async function doctor(format: 'json' | 'text'): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await lab.gw.exec(
    [process.execPath, CLI, 'doctor', '--vici', lab.gw.viciUri, '--strongswan-conf', lab.gw.strongswanConfFile, '--swanctl-conf', path.join(lab.gw.swanctlDir, 'swanctl.conf'), '--format', format],
    { check: false, timeoutMs: 30_000 },
  );
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface DoctorSa {
  conn: string;
  verdict: string;
  reasonCode: string;
  fixes: Array<{ kind: string; command: string }>;
}
async function doctorJson(): Promise<{ code: number; sas: DoctorSa[] }> {
  const r = await doctor('json');
  expect(r.code, r.stderr).not.toBe(2);
  return { code: r.code, sas: (JSON.parse(r.stdout) as { sas: DoctorSa[] }).sas };
}

/** One routing change; waits for the finding it causes (or proves none comes) and measures. */
async function change(args: string[], expectFinding: boolean): Promise<ReauthFinding | undefined> {
  const before = reauths().length;
  const influxBefore = await influxReauthCount();
  const t0 = Date.now();
  await lab.gw.ip(args);
  if (!expectFinding) {
    await sleep(4000);
    expect(reauths().length, `no reauth expected after ip ${args.join(' ')}`).toBe(before);
    return undefined;
  }
  const f = await until(`a finding after ip ${args.join(' ')}`, 20_000, () => reauths()[before]);
  const at = findings.find((x) => x.f === f)!.at;
  await until('the point in InfluxDB', 20_000, async () => ((await influxReauthCount()) > influxBefore ? true : undefined), 25);
  const influxAt = Date.now();
  const topicAt = await until('the finding on the findings topic', 20_000, () => onTopic.get(f.id), 10);
  measured.push({ change: `ip ${args.join(' ')}`, findingMs: at - t0, topicMs: topicAt - t0, influxMs: influxAt - t0, latencyMs: f.latencyMs, downtimeMs: f.downtimeMs });
  await sleep(1500); // let the new SA settle before the next change
  return f;
}

async function setUp(spec: string): Promise<void> {
  run = uniqueRunId(`e2e${spec.replace(/[^0-9a-z]/gi, '')}`);
  HOST = `gw-${run}`.slice(0, 60);
  TOPIC = `roamwatch.e2e.${run}`;
  findings.length = 0;
  measured.length = 0;
  processorErr = '';
  agentCpuS = 0;
  lab = await createLab({
    name: `e2e-${spec.replace(/[^0-9a-z]/gi, '')}`.slice(0, 20),
    charon: spec,
    connections: [
      { name: 'rw', localAddrs: 'hostname' },
      { name: 'st', localAddrs: 'literal' },
    ],
  });
  bridge = await bridgeKafkaInto(lab);
  agent = startAgent(lab, [
    '--vici', lab.gw.viciUri,
    '--topic', TOPIC,
    '--topic-partitions', '3',
    '--spool-dir', path.join(lab.dir, 'spool'),
    '--host-id', HOST,
    '--strongswan-conf', lab.gw.strongswanConfFile,
    '--swanctl-conf', path.join(lab.gw.swanctlDir, 'swanctl.conf'),
  ]);
  await agent.waitForLog(/sa-snapshot|snapshot/i, 30_000);
  processor = spawn(
    process.execPath,
    [
      CLI, 'processor',
      '--brokers', servers.kafka.brokers.join(','),
      '--topic', TOPIC,
      '--group', `e2e-${run}`,
      '--findings-topic', `${TOPIC}.findings`,
      '--print-findings', 'json',
      '--pair-window-ms', '5000',
      '--influx-url', servers.influx.url,
      '--influx-org', servers.influx.org,
      '--influx-bucket', servers.influx.bucket,
      '--log-level', 'warn',
    ],
    // The token is a secret: never a flag (it would show in ps).
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROAMWATCH_INFLUX_TOKEN: servers.influx.token } },
  );
  processor.stderr!.on('data', (d: Buffer) => {
    processorErr = (processorErr + d.toString()).slice(-20_000);
  });
  createInterface({ input: processor.stdout! }).on('line', (line) => {
    try {
      findings.push({ at: Date.now(), f: JSON.parse(line) as Finding });
    } catch {
      /* not a finding */
    }
  });
  onTopic.clear();
  const kafka = new Kafka({ clientId: `e2e-findings-${run}`, brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
  findingsConsumer = kafka.consumer({ groupId: `e2e-findings-${run}`, maxWaitTimeInMs: 50 });
  await findingsConsumer.connect();
  await until(`topic ${TOPIC}.findings`, 60_000, async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return (await admin.listTopics()).includes(`${TOPIC}.findings`) || undefined;
    } finally {
      await admin.disconnect();
    }
  }, 200);
  await findingsConsumer.subscribe({ topic: `${TOPIC}.findings`, fromBeginning: true });
  await findingsConsumer.run({
    eachMessage: async ({ message }) => {
      const id = (JSON.parse(message.value!.toString()) as { id?: string }).id;
      if (id && !onTopic.has(id)) onTopic.set(id, Date.now());
    },
  });
  await lab.waitForSa({ name: 'rw' });
  await lab.waitForSa({ name: 'st' });
  await sleep(3000); // consumer group joined, startup resync and snapshot processed
}

async function tearDown(): Promise<void> {
  agent?.kill('SIGTERM');
  processor?.kill('SIGTERM');
  await findingsConsumer?.disconnect().catch(() => undefined);
  await Promise.race([agent?.exited, sleep(5000)]);
  await bridge?.close();
  await lab?.teardown();
  // one charon build per results file: bench/e2e/run.mjs runs one (ROAMWATCH_LAB_CHARONS)
  const out = process.env['ROAMWATCH_E2E_RESULTS'];
  if (out && measured.length > 0) fs.writeFileSync(out, JSON.stringify({ charon: lab.charon.version, measured, agentCpuS }, null, 2));
}

describe.each(labCharons())('end to end on charon %s: charon → agent → Kafka → processor → InfluxDB → alert', (spec) => {
  beforeAll(() => setUp(spec), 120_000);
  afterAll(() => tearDown());

  const bugChanges = [
    ['route', 'add', '192.0.2.0/24', 'dev', 'rw-gw0'],
    ['route', 'add', '198.18.0.0/15', 'via', '10.231.1.2'],
    ['addr', 'add', '10.231.77.1/32', 'dev', 'lo'],
    ['route', 'del', '192.0.2.0/24', 'dev', 'rw-gw0'],
  ];

  it('when unrelated routes and addresses change, then each change gives one spurious finding attributed to it, about 100 ms later', async () => {
    const cpu0 = cpuSeconds(agent.proc.pid!);
    for (const args of bugChanges) {
      const f = (await change(args, true))!;
      expect(f.conn, processorErr).toBe('rw');
      expect(f.classification).toBe('spurious');
      expect(f.localBefore).toBe(f.localAfter);
      const dst = args[2]!.split('/')[0]!;
      expect(f.triggers.map((t) => t.summary).join(' | ')).toContain(dst);
      // charon's ROAM_DELAY is 100 ms (5.9.8 and 6.0.6); the agent stamps the route and the log
      // line when it reads them, through different paths, so on a loaded machine the measured
      // latency also came out below 100 (77 ms seen on 6.0.6): only bound it loosely
      expect(f.latencyMs).toBeGreaterThan(20);
      expect(f.latencyMs).toBeLessThan(1000);
      expect(f.downtimeMs).not.toBeNull();
      expect(f.downtimeMs!).toBeGreaterThanOrEqual(0);
      // no make_before_break line in the lab: 5.9.8 breaks before it makes, 6.0.6 makes first (no downtime)
      expect(f.order).toBe(Number(lab.charon.version.split('.')[0]) >= 6 ? 'make-before-break' : 'break-before-make');
      if (f.order === 'make-before-break') expect(f.downtimeMs).toBe(0);
    }
    agentCpuS = cpuSeconds(agent.proc.pid!) - cpu0;
    expect(reauths('rw')).toHaveLength(bugChanges.length);
    expect(reauths('st')).toHaveLength(0);
  });

  it('when the spurious reauths are in InfluxDB, then the spurious-reauth alert fires for this host and rw only', async () => {
    const rule = RULES.find((r) => r.uid === 'roamwatch-spurious-reauth')!;
    const states = await ruleStates(rule, { atMs: Date.now() + 1000, intervalMs: 60_000, run: (q) => queryInfluxQL(influx, q) });
    const mine = [...states.values()].filter((s) => s.labels['host'] === HOST);
    expect(mine.map((s) => [s.labels['conn'], s.state])).toEqual([['rw', 'Alerting']]);
  });

  it('when doctor is asked, then rw is at risk with a route fix and st is immune', async () => {
    const d = await doctorJson();
    expect(d.code).toBe(1);
    const byConn = new Map(d.sas.map((s) => [s.conn, s]));
    expect(byConn.get('rw')?.verdict).toBe('at-risk');
    expect(byConn.get('st')?.verdict).toBe('immune');
    expect(byConn.get('rw')?.fixes[0]?.kind).toBe('route');
  });

  it("when doctor's first fix is applied, then doctor says valid and the same changes cause no reauth and no finding", async () => {
    const fix = (await doctorJson()).sas.find((s) => s.conn === 'rw')!.fixes[0]!;
    const argv = fix.command.split(/\s+/);
    expect(argv[0]).toBe('ip');
    await lab.gw.ip(argv.slice(1));
    const d = await doctorJson();
    expect(d.code).toBe(0);
    expect(d.sas.find((s) => s.conn === 'rw')?.verdict).toBe('valid');
    const n = reauths().length;
    await change(['route', 'add', '192.0.2.0/24', 'dev', 'rw-gw0'], false);
    await change(['route', 'del', '198.18.0.0/15', 'via', '10.231.1.2'], false);
    await change(['addr', 'del', '10.231.77.1/32', 'dev', 'lo'], false);
    expect(reauths().length).toBe(n);
  });

  it('when rw\'s local address really disappears, then on 5.9.8 the reauth is not classified spurious; on 6.0.6 the make-before-break reauth fails and no reauth is reported', { timeout: 90_000 }, async () => {
    const before = reauths('rw').length;
    const mark = lab.gw.logMark();
    await lab.gw.ip(['addr', 'del', '10.231.0.1/32', 'dev', 'lo']);
    if (Number(lab.charon.version.split('.')[0]) < 6) {
      const f = await until('a finding after the local address was removed', 60_000, () => reauths('rw')[before]);
      expect(['legitimate', 'address-moved']).toContain(f.classification);
    } else {
      // the new IKE_SA cannot leave the vanished address; charon gives up on it and, make-before-break,
      // never deletes the old one: no IKE_SA went down or up, so there is no reauth to report
      await lab.gw.waitForLog('establishing IKE_SA failed', { since: mark, timeoutMs: 30_000 });
      await sleep(3000);
      expect(reauths('rw')).toHaveLength(before);
      expect((await lab.gw.listSas('rw')).map((s) => s.state)).toEqual(['ESTABLISHED']);
      // doctor names it: at risk, stranded on a local address that is on no interface
      const d = await doctorJson();
      expect(d.sas.find((s) => s.conn === 'rw')).toMatchObject({ verdict: 'at-risk', reasonCode: 'local-address-missing' });
    }
    expect(reauths('st')).toHaveLength(0);
  });
});
