/**
 * Incidents end to end on the lab fleet (test/lab/fleet.ts): five gateways with real charon
 * 5.9.8 and BIRD 2 behind one upstream BGP router, mixed kinds (three seed-style, one fixed,
 * one literal); a `roamwatch agent` per gateway → the real Kafka broker → one `roamwatch
 * processor` (per-host correlation and the incident grouping on the findings topic) → the real
 * InfluxDB; `roamwatch incidents list|show` reading it back; the incident alert rule evaluated
 * on what landed there (Grafana emulated, grafana/src/emulate.ts).
 *
 *   1. one BGP announcement → exactly one incident, listing exactly the seed-style gateways
 *      (none of the fixed or literal ones), each with the reauths charon logged (counted from
 *      charon's own log through the fleet API), its downtime and fix, and the announced prefix
 *      as the common trigger;
 *   2. a second, unrelated flap later (another prefix) → a second incident;
 *   3. the incident alert fires once per incident.
 *
 * Nothing waits a fixed time for an outcome: every wait is for positive evidence (a new IKE_SA,
 * a log line, an incident event), bounded by a timeout.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident, ReauthFinding } from '@roamwatch/processor';
import { createFleet, FLEET_NET } from '../lab/index.js';
import type { Fleet, FleetGateway, IkeSa, LogMark } from '../lab/index.js';
import { servers, uniqueRunId } from '../setup/servers.js';
import { CLI, bridgeKafkaInto, runCli, sleep, startAgent, until } from './agent-harness.js';
import type { AgentProcess, KafkaBridge } from './agent-harness.js';
import { queryInfluxQL, ruleStates } from '../../grafana/src/emulate.js';
import { RULES } from '../../grafana/src/alerting.js';

const KINDS = ['seed', 'fixed', 'literal', 'seed', 'seed'] as const;
const [FIRST, SECOND] = FLEET_NET.defaultPrefixes;
const RUN = uniqueRunId('inc');
const TOPIC = `roamwatch.incidents.${RUN}`;
const FINDINGS = `${TOPIC}.findings`;
const host = (g: FleetGateway) => `gw${g.index}-${RUN}`.slice(0, 60);
const influxDb = servers.influx.bucket.split('/')[0]!;
const influx = { url: servers.influx.url, database: influxDb, token: servers.influx.token };
const INFLUX_ARGS = ['--influx-url', servers.influx.url, '--influx-org', servers.influx.org, '--influx-bucket', servers.influx.bucket];
const INFLUX_ENV = { ROAMWATCH_INFLUX_TOKEN: servers.influx.token };

let fleet: Fleet;
const bridges: KafkaBridge[] = [];
const agents: AgentProcess[] = [];
let processor: ChildProcess;
let processorErr = '';
const reauths: ReauthFinding[] = [];
const atRisk: Array<{ host: string; atRisk: boolean }> = [];
const incidents: Incident[] = [];
const timings: string[] = [];
const started = performance.now();

/** One upstream routing event: waits until every seed-style gateway has a new IKE_SA; returns charon's reauth count per gateway. */
async function flap(action: () => Promise<void>, prefix: string, present: boolean): Promise<Map<FleetGateway, number>> {
  const marks = new Map<FleetGateway, LogMark>();
  const before = new Map<FleetGateway, IkeSa>();
  for (const g of fleet.gateways) {
    before.set(g, await g.lab.waitForSa());
    marks.set(g, g.logMark());
  }
  await action();
  await fleet.waitForRoute(prefix, { present, timeoutMs: 30_000 });
  await Promise.all(
    fleet.byKind('seed').map(async (g) => {
      await g.lab.waitForSa({ uniqueIdAbove: before.get(g)!.uniqueid, timeoutMs: 30_000 });
      await g.lab.gw.waitForLog('reauthenticating IKE_SA due to address change', { since: marks.get(g) });
    }),
  );
  return new Map(fleet.gateways.map((g) => [g, g.reauthCount(marks.get(g))]));
}

/** Waits for the closed event of the incident whose cause names `prefix`. */
function closedIncident(prefix: string): Promise<Incident> {
  return until(`the closed incident for ${prefix} (processor stderr: ${processorErr.slice(-500)})`, 90_000, () => incidents.find((i) => i.state === 'closed' && i.cause.target === prefix));
}

beforeAll(async () => {
  fleet = await createFleet({ size: KINDS.length, kinds: [...KINDS] });
  timings.push(`fleet ${(performance.now() - started).toFixed(0)} ms`);
  for (const g of fleet.gateways) {
    const bridge = await bridgeKafkaInto(g.lab);
    bridges.push(bridge);
    agents.push(
      startAgent(
        g.lab,
        [
          '--vici', g.lab.gw.viciUri,
          '--topic', TOPIC,
          '--topic-partitions', '3',
          '--spool-dir', path.join(g.lab.dir, 'spool'),
          '--host-id', host(g),
          '--strongswan-conf', g.lab.gw.strongswanConfFile,
          '--swanctl-conf', path.join(g.lab.gw.swanctlDir, 'swanctl.conf'),
          '--status-interval-ms', '1000',
        ],
        { ROAMWATCH_KAFKA_LINGER_MS: '5' },
      ),
    );
  }
  await Promise.all(agents.map((a) => a.waitForLog(/sa-snapshot|snapshot/i, 60_000)));
  processor = spawn(
    process.execPath,
    [
      CLI, 'processor',
      '--brokers', servers.kafka.brokers.join(','),
      '--topic', TOPIC,
      '--group', `inc-${RUN}`,
      '--findings-topic', FINDINGS,
      '--print-findings', 'json',
      '--allowed-lateness-ms', '1000',
      '--pair-window-ms', '5000',
      // short enough for a test, long enough for five gateways' reauths (≈100 ms apart at most)
      '--incident-quiet-ms', '3000',
      '--incident-lateness-ms', '2000',
      ...INFLUX_ARGS,
      '--log-level', 'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...INFLUX_ENV } },
  );
  processor.stderr!.on('data', (d: Buffer) => {
    processorErr = (processorErr + d.toString()).slice(-20_000);
  });
  createInterface({ input: processor.stdout! }).on('line', (line) => {
    const o = JSON.parse(line) as ReauthFinding | Incident | { type: string };
    if (o.type === 'incident') incidents.push(o as Incident);
    else if (o.type === 'reauth') reauths.push(o as ReauthFinding);
    else if (o.type === 'at-risk') atRisk.push(o as unknown as { host: string; atRisk: boolean });
  });
  // caught up: the processor reported every seed-style gateway's SA at risk (the verdict the fixes come from)
  const seedHosts = fleet.byKind('seed').map(host);
  await until(`at-risk findings of ${seedHosts.join(', ')} (processor stderr: ${processorErr.slice(-500)})`, 60_000, () =>
    seedHosts.every((h) => atRisk.some((f) => f.host === h && f.atRisk)) ? true : undefined,
  );
  timings.push(`ready ${(performance.now() - started).toFixed(0)} ms`);
}, 240_000);

afterAll(async () => {
  processor?.kill('SIGTERM');
  for (const a of agents) a.kill('SIGTERM');
  await Promise.race([Promise.all(agents.map((a) => a.exited)), sleep(5000)]);
  for (const b of bridges) await b.close();
  await fleet?.teardown();
  console.info(`[incidents-fleet] N=${KINDS.length}: ${timings.join(', ')}, whole file ${(performance.now() - started).toFixed(0)} ms`);
});

describe('incidents on the lab fleet: BGP → charon → agents → Kafka → processor → InfluxDB → alert', () => {
  const counted = new Map<string, Map<string, number>>();

  it('when the upstream router announces a prefix, then exactly one incident lists exactly the seed-style gateways with the reauths charon did, their downtime and fix, and the prefix', async () => {
    const t0 = performance.now();
    const charon = await flap(() => fleet.announce(FIRST), FIRST, true);
    const seeds = fleet.byKind('seed');
    for (const g of fleet.gateways) expect(charon.get(g), `gateway ${g.index} (${g.kind}) reauths in charon's log`).toBe(g.kind === 'seed' ? 1 : 0);
    const inc = await closedIncident(FIRST);
    timings.push(`announce → incident closed ${(performance.now() - t0).toFixed(0)} ms`);
    counted.set(inc.id, new Map(seeds.map((g) => [host(g), charon.get(g)!])));

    expect(incidents.filter((i) => i.state === 'closed')).toHaveLength(1);
    expect(new Set(incidents.map((i) => i.id))).toEqual(new Set([inc.id]));
    expect(inc.cause).toMatchObject({ kind: 'route', op: 'added', target: FIRST });
    expect(inc.gateways.map((g) => g.host)).toEqual(seeds.map(host).sort());
    for (const g of seeds) {
      const row = inc.gateways.find((x) => x.host === host(g))!;
      expect(row.reauths, `${host(g)}: reauths = charon's`).toBe(charon.get(g));
      expect(row.conns).toEqual(['rw']);
      expect(row.fix, `${host(g)}: the path verdict's fix`).toMatch(/^ip route (add|replace) .* src /);
      // the downtime of the gateway = the sum of its reauth findings' downtime
      const mine = reauths.filter((f) => f.host === host(g) && f.classification === 'spurious');
      expect(row.downtimeMs).toBeCloseTo(mine.reduce((a, f) => a + (f.downtimeMs ?? 0), 0), 3);
    }
    expect(inc).toMatchObject({ hosts: 3, connections: 3, reauths: 3, downtimeUnknown: 0 });
    expect(inc.downtimeMs).toBeGreaterThan(0);
    // none of the fixed or literal gateways reauthenticated or appears anywhere
    const others = new Set([...fleet.byKind('fixed'), ...fleet.byKind('literal')].map(host));
    expect(reauths.filter((f) => others.has(f.host))).toEqual([]);
    // the lifecycle: opened first, closed last, one id
    const mine = incidents.filter((i) => i.id === inc.id).map((i) => i.state);
    expect(mine[0]).toBe('opened');
    expect(mine.at(-1)).toBe('closed');
  });

  it('when a second, unrelated flap comes later, then it is a second incident with its own prefix and the same gateways', async () => {
    const t0 = performance.now();
    const charon = await flap(() => fleet.announce(SECOND), SECOND, true);
    const inc = await closedIncident(SECOND);
    timings.push(`second flap → incident closed ${(performance.now() - t0).toFixed(0)} ms`);
    const seeds = fleet.byKind('seed');
    counted.set(inc.id, new Map(seeds.map((g) => [host(g), charon.get(g)!])));
    const closed = incidents.filter((i) => i.state === 'closed');
    expect(closed.map((i) => i.cause.target)).toEqual([FIRST, SECOND]);
    expect(new Set(closed.map((i) => i.id)).size).toBe(2);
    expect(inc.gateways.map((g) => [g.host, g.reauths])).toEqual(seeds.map((g) => [host(g), charon.get(g)]).sort());
  });

  it('when the CLI reads InfluxDB, then incidents list shows both and incidents show gives the gateways with their fixes', async () => {
    const ids = [...counted.keys()];
    const list = await until('both incidents in InfluxDB', 30_000, () => {
      const r = runCli(['incidents', 'list', '--format', 'json', '--since', '1h', ...INFLUX_ARGS], INFLUX_ENV);
      const mine = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Incident).filter((i) => ids.includes(i.id));
      return mine.length === 2 && mine.every((i) => i.state === 'closed') ? mine : undefined;
    });
    expect(list.map((i) => [i.cause.target, i.hosts, i.reauths])).toEqual([
      [SECOND, 3, 3],
      [FIRST, 3, 3],
    ]);
    for (const id of ids) {
      const r = runCli(['incidents', 'show', id, '--format', 'json', '--since', '1h', ...INFLUX_ARGS], INFLUX_ENV);
      expect(r.code, r.stderr).toBe(0);
      const shown = JSON.parse(r.stdout) as Incident;
      expect(Object.fromEntries(shown.gateways.map((g) => [g.host, g.reauths]))).toEqual(Object.fromEntries(counted.get(id)!));
      expect(shown.gateways.every((g) => g.fix !== null)).toBe(true);
      const text = runCli(['incidents', 'show', id, '--since', '1h', ...INFLUX_ARGS], INFLUX_ENV);
      expect(text.stdout).toContain(`${id} CLOSED`);
    }
    const missing = runCli(['incidents', 'show', 'inc-0000000000000000', '--since', '1h', ...INFLUX_ARGS], INFLUX_ENV);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no incident inc-0000000000000000/);
  });

  it('when the events topic is replayed (roamwatch replay --from-kafka --incidents), then the same incidents come out: causes, times, gateways, reauths, downtime', async () => {
    const r = runCli(['replay', '--from-kafka', '--brokers', servers.kafka.brokers.join(','), '--topic', TOPIC, '--incidents', '--incident-quiet-ms', '3000', '--incident-lateness-ms', '2000', '--format', 'json', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    const replayed = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string }).filter((x): x is Incident => x.type === 'incident');
    const content = (i: Incident) => ({ cause: i.cause, start: i.start, lastReauth: i.lastReauth, closedAt: i.closedAt, hosts: i.hosts, connections: i.connections, reauths: i.reauths, downtimeMs: i.downtimeMs, gateways: i.gateways });
    const live = incidents.filter((i) => i.state === 'closed');
    expect(replayed.map(content)).toEqual(live.map(content));
  });

  it('when Grafana evaluates the incident rule every minute, then it fires once per incident (not once per reauth)', async () => {
    const r = RULES.find((x) => x.uid === 'roamwatch-incident')!;
    const ids = new Set(counted.keys());
    const run = (q: string) => queryInfluxQL(influx, q);
    const now = Date.now();
    const fired = new Map<string, number>();
    let before = new Map<string, string>();
    for (let t = now - 5 * 60_000; t <= now + 20 * 60_000; t += 60_000) {
      const states = new Map([...(await ruleStates(r, { atMs: t, intervalMs: 60_000, run })).values()].filter((s) => ids.has(s.labels['incident_id']!)).map((s) => [s.labels['incident_id']!, s.state]));
      for (const [id, st] of states) if (st === 'Alerting' && before.get(id) !== 'Alerting') fired.set(id, (fired.get(id) ?? 0) + 1);
      before = states;
    }
    expect(Object.fromEntries(fired)).toEqual(Object.fromEntries([...ids].map((id) => [id, 1])));
    // the per-reauth rule is still there, per host and connection
    expect(RULES.some((x) => x.uid === 'roamwatch-spurious-reauth')).toBe(true);
  });
});
