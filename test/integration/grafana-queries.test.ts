/**
 * Every dashboard panel, template variable, annotation and alert-rule query, run against the
 * real InfluxDB test server (scripts/servers.sh) with data loaded into it, and the alert
 * rules evaluated on the results.
 *
 * Grafana cannot run here, so what Grafana does is emulated (grafana/src/emulate.ts): macro
 * and template-variable interpolation, reduce + threshold expressions and the
 * Normal → Pending → Alerting state machine with each rule's `for`. The InfluxQL itself is
 * executed by the real server, exactly as written in the provisioned files.
 *
 * The data: points written through the InfluxDB 2.x write API (as the processor writes them)
 * that follow docs/metrics.md, for two gateways that see the same four route changes:
 *   - "bug": local address on lo, local_addrs a hostname: each change causes a spurious
 *     reauth (≈100 ms roam delay + a few ms; ≈10 ms downtime) and the path is at risk;
 *   - "fix": the same gateway with `ip route add <peer>/32 dev <if> src <local>`: no reauth
 *     but one scheduled reauth and a rekey, path ok;
 * plus an agent that went silent, an SA that became at risk only 2 minutes ago, and two
 * processor instances, one of them lagging. Host and instance names carry a unique run id,
 * and every assertion is restricted to them, so reruns and other tests do not interfere.
 *
 * The last part loads the two scenarios recorded from real charon in the lab
 * (test/fixtures/scenarios/bug-unrelated-route.jsonl and fix-route-with-src.jsonl) through
 * the real processor — its RxJS pipeline and its InfluxDB sink, as `roamwatch replay` runs
 * them — under run-unique host names, and evaluates the same panels and rules on what it wrote.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentGrouper, InfluxSink, processEvents, toLineProtocol } from '@roamwatch/processor';
import type { Incident, IncidentOutput, MetricPoint, PipelineInput, ReauthFinding } from '@roamwatch/processor';
import { servers, uniqueRunId, START_COMMAND } from '../setup/servers.js';
import { allDashboards } from '../../grafana/src/dashboards.js';
import { RULES } from '../../grafana/src/alerting.js';
import { interpolate, queryInfluxQL, ruleStates, toNumericSeries, type InfluxSeries, type VarValue } from '../../grafana/src/emulate.js';
import type { Dashboard, Panel } from '../../grafana/src/model.js';

const { url, token, bucket } = servers.influx;
const database = bucket.split('/')[0]!;
const influx = { url, database, token };
const run = (q: string): Promise<InfluxSeries[]> => queryInfluxQL(influx, q);

const RUN = uniqueRunId('graf');
const H = { bug: `gw-bug-${RUN}`, fix: `gw-fix-${RUN}`, silent: `gw-silent-${RUN}`, fresh: `gw-fresh-${RUN}`, hub: `gw-hub-${RUN}`, recBug: `rec-bug-${RUN}`, recFix: `rec-fix-${RUN}` };
const P = { ok: `proc-ok-${RUN}`, slow: `proc-slow-${RUN}` };
const CONN = 'dc1-to-dc2';
const HUB_CONN = 'road-warriors';
/** The evaluation instant: "now" for every query and rule of this test. */
const E = Math.floor(Date.now() / 1000) * 1000;
const MIN = 60_000;

// ------------------------------------------------------------------ line protocol

type FieldValue = number | string | { int: number };
function line(measurement: string, tags: Record<string, string>, fields: Record<string, FieldValue>, timeMs: number): string {
  const esc = (s: string): string => s.replace(/[ ,=\\]/g, '\\$&');
  const t = Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${esc(k)}=${esc(v)}`)
    .join(',');
  const f = Object.entries(fields)
    .map(([k, v]) => `${esc(k)}=${typeof v === 'string' ? `"${v.replace(/["\\]/g, '\\$&')}"` : typeof v === 'number' ? String(v) : `${v.int}i`}`)
    .join(',');
  // docs/metrics.md: nanosecond precision.
  return `${measurement},${t} ${f} ${BigInt(Math.round(timeMs * 1000)) * 1000n}`;
}

const int = (n: number): { int: number } => ({ int: n });

/** The four route changes both gateways see, and what each does on the "bug" gateway. */
const CHANGES = [0, 1, 2, 3].map((k) => {
  const at = E - 12 * MIN + k * MIN + 3_000;
  return { k, at, op: k % 2 === 0 ? 'added' : 'removed', latencyMs: 101.5 + k, downtimeMs: 9.5 + k };
});
const PEER = '198.51.100.7';
const LOCAL = '192.0.2.1';
const FIX = `ip route add ${PEER}/32 dev eth0 src ${LOCAL}`;

function scenarioLines(): string[] {
  const out: string[] = [];
  for (const host of [H.bug, H.fix]) {
    for (const c of CHANGES) {
      const window = Math.floor(c.at / 10_000) * 10_000;
      out.push(line('roamwatch_net_changes', { host, kind: 'route', op: c.op }, { count: int(1) }, window));
    }
    out.push(line('roamwatch_sa', { host, conn: CONN, state: 'up' }, { count: int(1), unique_id: '1' }, E - 40 * MIN));
  }
  // bug: every route change → spurious break-before-make reauth.
  for (const c of CHANGES) {
    const start = c.at + c.latencyMs;
    out.push(
      line(
        'roamwatch_reauth',
        { host: H.bug, conn: CONN, class: 'spurious', trigger_kind: 'route' },
        {
          count: int(1),
          latency_ms: c.latencyMs,
          downtime_ms: c.downtimeMs,
          old_unique_id: String(c.k + 1),
          new_unique_id: String(c.k + 2),
          local_before: LOCAL,
          local_after: LOCAL,
          remote_before: PEER,
          remote_after: PEER,
          trigger: `route ${c.op} 10.20.${c.k}.0/24 via 192.0.2.254 dev eth0`,
          fix: FIX,
          finding_id: `${RUN}-f${c.k}`,
        },
        start,
      ),
    );
    out.push(line('roamwatch_sa', { host: H.bug, conn: CONN, state: 'down' }, { count: int(1), unique_id: String(c.k + 1) }, start + 1));
    out.push(line('roamwatch_sa', { host: H.bug, conn: CONN, state: 'up' }, { count: int(1), unique_id: String(c.k + 2) }, start + c.downtimeMs));
  }
  out.push(line('roamwatch_path', { host: H.bug, conn: CONN, peer: PEER }, { at_risk: int(1), verdict: 'at-risk', reason_code: 'no-route-to-local-address', unique_id: '1', fix: FIX }, E - 40 * MIN));
  // fix: no reauth from the route changes; one scheduled reauth and an IKE rekey.
  out.push(line('roamwatch_path', { host: H.fix, conn: CONN, peer: PEER }, { at_risk: int(0), verdict: 'ok', reason_code: 'route-with-src', unique_id: '1', fix: '' }, E - 40 * MIN));
  out.push(
    line(
      'roamwatch_reauth',
      { host: H.fix, conn: CONN, class: 'scheduled', trigger_kind: 'none' },
      { count: int(1), latency_ms: 0, downtime_ms: 11, old_unique_id: '1', new_unique_id: '2', local_before: LOCAL, local_after: LOCAL, remote_before: PEER, remote_after: PEER, trigger: '', fix: '', finding_id: `${RUN}-s1` },
      E - 3 * MIN,
    ),
  );
  out.push(line('roamwatch_rekey', { host: H.fix, conn: CONN, sa: 'ike' }, { count: int(1) }, E - 20 * MIN));
  // fix: the SA went from at risk to valid when `roamwatch doctor --apply` added the route, 30 minutes ago.
  out.push(line('roamwatch_remediation', { host: H.fix, conn: CONN, applied_by: 'roamwatch' }, { count: int(1), fix: `${PEER} dev eth0 src ${LOCAL}`, unique_id: '1', journal_id: '20261130T160102Z-a1b2c3' }, E - 30 * MIN));
  // fresh: an SA that became at risk 2 minutes ago (the at-risk rule waits 5 minutes).
  out.push(line('roamwatch_path', { host: H.fresh, conn: CONN, peer: PEER }, { at_risk: int(1), verdict: 'at-risk', reason_code: 'no-route-to-local-address', unique_id: '7', fix: FIX }, E - 2 * MIN));
  // hub: one connection, four road-warrior IKE_SAs (one series each, docs/metrics.md): two at risk,
  // one valid written last (keyed by conn alone, the connection looked fine), one gone while at risk.
  const hubPath = (i: number, v: 'at-risk' | 'valid' | 'gone', at: number) =>
    line('roamwatch_path', { host: H.hub, conn: HUB_CONN, peer: `203.0.113.${i}` }, { at_risk: int(v === 'at-risk' ? 1 : 0), verdict: v, reason_code: v === 'valid' ? 'route-with-src' : v === 'gone' ? 'ike-sa-down' : 'no-route-to-local-address', unique_id: String(i), fix: FIX }, at);
  out.push(hubPath(1, 'at-risk', E - 40 * MIN), hubPath(2, 'at-risk', E - 39 * MIN), hubPath(4, 'at-risk', E - 38 * MIN), hubPath(3, 'valid', E - 37 * MIN), hubPath(4, 'gone', E - 36 * MIN));
  // Agents: a heartbeat every 30 s (the agent's default); "silent" stopped 12 minutes ago.
  for (let t = E - 40 * MIN; t <= E - 5_000; t += 30_000) {
    for (const host of [H.bug, H.fix, H.silent]) {
      if (host === H.silent && t > E - 12 * MIN) continue;
      const i = (t - (E - 40 * MIN)) / 30_000;
      out.push(
        line(
          'roamwatch_agent',
          { host },
          {
            vici_connected: int(1),
            rtnetlink_connected: int(1),
            spool_bytes: int(host === H.fix ? 4096 * i : 0),
            spool_events: int(host === H.fix ? 8 * i : 0),
            events_sent: int(100 * i),
            // bug: a drop every 10 minutes (a count since the agent started).
            events_dropped: int(host === H.bug ? Math.floor(i / 20) : 0),
            lag_ms: 15,
            ike_sas: int(1),
            uptime_s: 30 * i,
          },
          t,
        ),
      );
    }
  }
  // Processors (wall-clock self-reports every 10 s): "slow" lags 90 s for the last 12 minutes.
  for (let t = E - 30 * MIN; t <= E - 1_000; t += 10_000) {
    const i = (t - (E - 30 * MIN)) / 10_000;
    // events_in, dead_letters, findings: since the previous report (processor/src/edges/processor.ts).
    out.push(line('roamwatch_processor', { instance: P.ok, group: `roamwatch-${RUN}` }, { lag_ms: 200, events_in: int(50), dead_letters: int(0), findings: int(0) }, t));
    const slow = t > E - 12 * MIN;
    out.push(line('roamwatch_processor', { instance: P.slow, group: `roamwatch-${RUN}` }, { lag_ms: slow ? 90_000 : 150, events_in: int(slow ? 1 : 10), dead_letters: int(i % 60 === 0 ? 1 : 0), findings: int(0) }, t));
  }
  return out;
}

// ------------------------------------------------------------------ incidents (the processor's grouping)

/** Two upstream flaps: the first hits three gateways 50 minutes ago, the second two gateways 10 minutes ago. */
const INC_HOSTS = [0, 1, 2].map((k) => `gw-inc${k}-${RUN}`);
const FLAPS = [
  { at: E - 50 * MIN, prefix: '203.0.113.0/24', op: 'added' as const, hosts: INC_HOSTS },
  { at: E - 10 * MIN, prefix: '198.51.100.0/24', op: 'removed' as const, hosts: INC_HOSTS.slice(0, 2) },
];
function incidentFinding(host: string, atMs: number, prefix: string, op: 'added' | 'removed'): ReauthFinding {
  const timeUs = atMs * 1000;
  return {
    type: 'reauth', id: `${host}/${CONN}/1/${timeUs}`, host, conn: CONN, classification: 'spurious', reason: '', order: 'break-before-make',
    time: new Date(atMs).toISOString(), timeUs, oldUniqueId: '1', newUniqueId: '2', localBefore: LOCAL, localAfter: LOCAL, remoteBefore: PEER, remoteAfter: PEER,
    latencyMs: 101, downtimeMs: 10,
    triggers: [{ kind: 'route', op, target: prefix, summary: `route ${prefix} via 10.9.0.1 dev up0 table main proto bird metric 32 ${op}`, time: '', timeUs: timeUs - 101_000, eventId: `${host}-${timeUs}` }],
    moreTriggers: 0, evidence: [], fix: { rank: 1, command: FIX } as unknown as ReauthFinding['fix'],
  };
}
/** The grouping's outputs for the two flaps (findings 30 ms apart per gateway), as the processor's incidents edge gets them. */
function incidentOutputs(): IncidentOutput[] {
  const g = new IncidentGrouper({ quietPeriodMs: 30_000, allowedLatenessMs: 10_000 });
  const out: IncidentOutput[] = [];
  for (const f of FLAPS) f.hosts.forEach((h, i) => g.push({ type: 'finding', finding: incidentFinding(h, f.at + i * 30, f.prefix, f.op) }, (o) => out.push(o)));
  g.flush((o) => out.push(o));
  return out;
}
const INCIDENTS: Incident[] = incidentOutputs().flatMap((o) => (o.type === 'incident' && o.incident.state === 'closed' ? [o.incident] : []));

/** "Fixed since": the fix gateway's SA went into at risk 40 minutes ago and out of it 30 minutes ago; the bug gateway's stays at risk. */
function pathChangeLines(): string[] {
  return [
    line('roamwatch_path_change', { host: H.fix, conn: CONN }, { at_risk: int(1), fixed: int(0), verdict: 'at-risk', reason_code: 'no-route-to-local-address', unique_id: '1', finding_id: `${RUN}-p1`, fix: FIX }, E - 40 * MIN),
    line('roamwatch_path_change', { host: H.fix, conn: CONN }, { at_risk: int(0), fixed: int(1), verdict: 'valid', previous: 'at-risk', reason_code: 'route-with-src', unique_id: '1', finding_id: `${RUN}-p2` }, E - 30 * MIN),
    line('roamwatch_path_change', { host: H.bug, conn: CONN }, { at_risk: int(1), fixed: int(0), verdict: 'at-risk', reason_code: 'no-route-to-local-address', unique_id: '1', finding_id: `${RUN}-p3`, fix: FIX }, E - 40 * MIN),
  ];
}

async function write(lines: string[]): Promise<void> {
  const res = await fetch(`${url}/api/v2/write?bucket=${encodeURIComponent(bucket)}&precision=ns`, {
    method: 'POST',
    headers: { authorization: `Token ${token}`, 'content-type': 'text/plain; charset=utf-8' },
    body: lines.join('\n'),
  });
  if (res.status !== 204) throw new Error(`write failed: HTTP ${res.status} ${await res.text()}`);
}

// ------------------------------------------------------------------ running dashboard queries

const dashboards = new Map(allDashboards().map((d) => [d.uid, d]));
const dash = (uid: string): Dashboard => dashboards.get(uid) ?? expect.fail(`no dashboard ${uid}`);
const panel = (uid: string, title: string): Panel => dash(uid).panels.find((p) => p.title === title) ?? expect.fail(`no panel ${title} in ${uid}`);

const VARS: Record<string, Record<string, VarValue>> = {
  'roamwatch-fleet': { host: [H.bug, H.fix, H.silent, H.fresh, H.hub] },
  'roamwatch-gateway': { host: [H.bug], conn: { all: '.*' } },
  'roamwatch-incidents': { incident: INCIDENTS.map((i) => i.id), host: [H.bug, H.fix, ...INC_HOSTS] },
  'roamwatch-pipeline': { host: [H.bug, H.fix, H.silent], instance: [P.ok, P.slow] },
};

const RANGE_MS = 60 * MIN;
const INTERVAL_MS = MIN;

function timeFromMs(timeFrom: string | undefined): number {
  if (!timeFrom) return RANGE_MS;
  const m = /^(\d+)([mhd])$/.exec(timeFrom) ?? expect.fail(`timeFrom ${timeFrom}`);
  return Number(m[1]) * { m: MIN, h: 60 * MIN, d: 24 * 60 * MIN }[m[2] as 'm' | 'h' | 'd'];
}

async function runPanel(uid: string, title: string, refId = 'A'): Promise<InfluxSeries[]> {
  const p = panel(uid, title);
  const t = p.targets?.find((x) => x.refId === refId) ?? expect.fail(`${title}: no target ${refId}`);
  return run(interpolate(t.query, { fromMs: E - timeFromMs(p.timeFrom), toMs: E, intervalMs: INTERVAL_MS, vars: VARS[uid] ?? {} }));
}

/** Series → { "tag=v,tag=v": sum of non-null values of `column` }. */
function sums(series: InfluxSeries[], column?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of toNumericSeries(series)) {
    if (column && s.field !== column) continue;
    const key = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',');
    out[key] = (out[key] ?? 0) + s.points.reduce((a, [, v]) => a + (v ?? 0), 0);
  }
  return out;
}

/** Table rows as objects (one InfluxQL series, or several merged as Grafana's merge transformation does). */
function rows(series: InfluxSeries[]): Array<Record<string, unknown>> {
  return series.flatMap((s) => s.values.map((v) => ({ ...(s.tags ?? {}), ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])) })));
}

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

beforeAll(async () => {
  try {
    const res = await fetch(`${url}/health`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(`InfluxDB is not reachable at ${url} (${String(err)}); start it with: ${START_COMMAND}`);
  }
  await write(scenarioLines());
  await write([...pathChangeLines(), ...incidentOutputs().flatMap((o) => (o.type === 'point' ? [toLineProtocol(o.point)] : []))]);
  recorded = await replayRecorded();
});

afterAll(async () => {
  // Leave nothing behind on a long-lived server: drop this run's series (InfluxDB 1.x).
  const hosts = [...Object.values(H), ...INC_HOSTS].join('|');
  await run(`DROP SERIES FROM "roamwatch_incident" WHERE "incident_id" =~ /^(${INCIDENTS.map((i) => i.id).join('|')})$/`).catch(() => undefined);
  const instances = Object.values(P).join('|');
  await run(`DROP SERIES WHERE "host" =~ /^(${hosts})$/`).catch(() => undefined);
  await run(`DROP SERIES WHERE "instance" =~ /^(${instances})$/`).catch(() => undefined);
});

describe('every query runs on the real InfluxDB', () => {
  it('when each panel, variable and annotation query of each dashboard is interpolated as Grafana does, then InfluxDB answers without error', async () => {
    let n = 0;
    for (const d of dashboards.values()) {
      const vars = VARS[d.uid] ?? {};
      for (const v of d.templating.list) {
        // The $datasource variable lists data sources of a plugin type: nothing to run on InfluxDB.
        if (v.type === 'datasource') continue;
        await run(interpolate(v.query, { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars }));
        n++;
      }
      for (const a of d.annotations.list) {
        if (!a.query) continue;
        const r = await run(interpolate(a.query, { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars }));
        expect(rows(r).length, `${d.uid} annotation ${a.name}`).toBeGreaterThan(0);
        n++;
      }
      for (const p of d.panels) {
        for (const t of p.targets ?? []) {
          const r = await run(interpolate(t.query, { fromMs: E - timeFromMs(p.timeFrom), toMs: E, intervalMs: INTERVAL_MS, vars }));
          // Rekeys of the "bug" gateway: there are none, an empty answer is right.
          if (!(d.uid === 'roamwatch-gateway' && p.title === 'Rekeys')) expect(r.length, `${d.uid} / ${p.title} / ${t.refId} returned no series`).toBeGreaterThan(0);
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(35);
  });
});

describe('fleet overview', () => {
  const F = 'roamwatch-fleet';
  it('spurious reauths: 4, all on the bug gateway\'s connection, none on the fixed one', async () => {
    expect(sums(await runPanel(F, 'Spurious reauths'))).toEqual({ '': 4 });
    expect(sums(await runPanel(F, 'Spurious reauths by gateway and connection'))).toEqual({ [`conn=${CONN},host=${H.bug}`]: 4 });
  });
  it('reauths by class: 4 spurious, 1 scheduled', async () => {
    expect(sums(await runPanel(F, 'Reauths by class'))).toEqual({ 'class=spurious': 4, 'class=scheduled': 1 });
  });
  it('route-change rate: 4 changes per gateway (per minute, with a 1-minute interval)', async () => {
    expect(sums(await runPanel(F, 'Route-change rate'))).toEqual({ [`host=${H.bug}`]: 4, [`host=${H.fix}`]: 4 });
  });
  it('tunnel downtime caused: the sum of the spurious reauths\' downtime, in seconds', async () => {
    const expected = CHANGES.reduce((a, c) => a + c.downtimeMs, 0) / 1000;
    expect(close(sums(await runPanel(F, 'Tunnel downtime caused'))['']!, expected)).toBe(true);
    expect(close(sums(await runPanel(F, 'Tunnel downtime caused by spurious reauths'))[`conn=${CONN},host=${H.bug}`]!, expected)).toBe(true);
  });
  it('SAs at risk now: 4 (bug, the SA that became at risk 2 minutes ago, two of the hub\'s road warriors), with the fix', async () => {
    expect(sums(await runPanel(F, 'SAs at risk now'))).toEqual({ '': 4 });
    const table = rows(await runPanel(F, 'SAs at risk: what to change'));
    expect(table.map((r) => `${r['host']} ${r['peer']}`).sort()).toEqual([`${H.bug} ${PEER}`, `${H.fresh} ${PEER}`, `${H.hub} 203.0.113.1`, `${H.hub} 203.0.113.2`].sort());
    expect(table.every((r) => r['fix'] === FIX && r['reason_code'] === 'no-route-to-local-address')).toBe(true);
  });
  it('remediation progress: one SA fixed on the fix gateway, by roamwatch', async () => {
    expect(sums(await runPanel(F, 'Remediation progress: SAs fixed per gateway'))).toEqual({ [`applied_by=roamwatch,host=${H.fix}`]: 1 });
  });
  it('agents silent: 1', async () => {
    expect(sums(await runPanel(F, 'Agents silent'))).toEqual({ '': 1 });
  });
});

describe('gateway drill-down (host = bug, conn = All)', () => {
  const G = 'roamwatch-gateway';
  it('template variables list this run\'s gateways and the connection', async () => {
    const values = async (name: string, vars: Record<string, VarValue>): Promise<unknown[]> => {
      const v = dash(G).templating.list.find((x) => x.name === name)!;
      return rows(await run(interpolate(v.query, { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars }))).map((r) => r['value']);
    };
    expect(await values('host', {})).toEqual(expect.arrayContaining([H.bug, H.fix, H.fresh]));
    // One answer per measurement; Grafana de-duplicates the values.
    expect([...new Set(await values('conn', { host: [H.bug] }))]).toEqual([CONN]);
  });
  it('annotations: one per route-change window and one per reauth, with trigger text and tags', async () => {
    const anno = (name: string): string => dash(G).annotations.list.find((a) => a.name === name)!.query!;
    const routes = rows(await run(interpolate(anno('Route changes'), { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars: VARS[G]! })));
    expect(routes.map((r) => [r['kind'], r['op']])).toEqual(CHANGES.map((c) => ['route', c.op]));
    const reauths = rows(await run(interpolate(anno('Reauths'), { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars: VARS[G]! })));
    expect(reauths.map((r) => r['time'])).toEqual(CHANGES.map((c) => Math.floor(c.at + c.latencyMs)));
    expect(reauths.every((r) => r['class'] === 'spurious' && r['conn'] === CONN && String(r['trigger']).startsWith('route '))).toBe(true);
  });
  it('panels: reauths, downtime, SA up/down, network changes, path verdict, reauth table', async () => {
    expect(sums(await runPanel(G, 'Reauths by connection and class'))).toEqual({ [`class=spurious,conn=${CONN}`]: 4 });
    expect(close(sums(await runPanel(G, 'Downtime per reauth'))[`class=spurious,conn=${CONN}`]!, 44)).toBe(true);
    expect(sums(await runPanel(G, 'IKE_SA up/down events'))).toEqual({ [`conn=${CONN},state=down`]: 4, [`conn=${CONN},state=up`]: 5 });
    expect(sums(await runPanel(G, 'Network changes by kind'))).toEqual({ 'kind=route,op=added': 2, 'kind=route,op=removed': 2 });
    const verdict = toNumericSeries(await runPanel(G, 'IKE_SAs at risk per connection'));
    expect(verdict.map((s) => s.labels['conn'])).toEqual([CONN]);
    expect(verdict[0]!.points.at(-1)?.[1]).toBe(1);
    const table = rows(await runPanel(G, 'Reauthentications'));
    expect(table).toHaveLength(4);
    expect(table[0]).toMatchObject({ conn: CONN, class: 'spurious', trigger_kind: 'route', latency_ms: 104.5, downtime_ms: 12.5, fix: FIX, old_unique_id: '4', new_unique_id: '5' });
  });
});

describe('incident table', () => {
  const I = 'roamwatch-incidents';
  it('lists each spurious reauth, newest first, with trigger, latency, downtime and fix; none from the fixed gateway', async () => {
    const table = rows(await runPanel(I, 'Spurious reauths'));
    expect(table.map((r) => [r['host'], r['conn'], r['trigger_kind'], r['latency_ms'], r['downtime_ms'], r['fix']])).toEqual(
      [...CHANGES].reverse().map((c) => [H.bug, CONN, 'route', c.latencyMs, c.downtimeMs, FIX]),
    );
    expect(table.every((r) => String(r['trigger']).includes('via 192.0.2.254'))).toBe(true);
  });
  it('sums downtime and averages latency per gateway and connection', async () => {
    const [row] = rows(await runPanel(I, 'By gateway and connection'));
    expect(row).toMatchObject({ host: H.bug, conn: CONN, reauths: 4 });
    expect(close(Number(row!['downtime_s']), 0.044)).toBe(true);
    expect(close(Number(row!['mean_latency_ms']), 103)).toBe(true);
  });
});

describe('pipeline health', () => {
  const PL = 'roamwatch-pipeline';
  it('heartbeats: 2 per minute from live agents, none from the silent one lately', async () => {
    const hb = sums(await runPanel(PL, 'Agent heartbeats'));
    // Every 30 s from 40 minutes ago: 80 heartbeats; the silent agent stopped after 57.
    expect(hb[`host=${H.bug}`]).toBe(80);
    expect(hb[`host=${H.silent}`]).toBe(57);
    const recent = Object.fromEntries(rows(await runPanel(PL, 'Heartbeats in the last minutes')).map((r) => [r['host'], r['heartbeats']]));
    expect(recent[H.silent]).toBe(0);
    expect(Number(recent[H.bug])).toBeGreaterThan(1);
  });
  it('spool, sources, agent lag, processor lag, events in and dead letters', async () => {
    const spool = toNumericSeries(await runPanel(PL, 'Spool size')).find((s) => s.labels['host'] === H.fix)!;
    expect(spool.points.at(-1)?.[1]).toBe(4096 * 79);
    expect(toNumericSeries(await runPanel(PL, 'Spooled events')).length).toBe(3);
    expect(Object.keys(sums(await runPanel(PL, 'Agent sources connected'))).length).toBe(3);
    // Lag (ms) and drops (a count) have a panel, unit and axis each.
    const agentLag = toNumericSeries(await runPanel(PL, 'Agent lag'));
    expect(agentLag.map((s) => s.labels['host']).sort()).toEqual([H.bug, H.fix, H.silent].sort());
    for (const s of agentLag) expect(Math.max(...s.points.map(([, v]) => v ?? 0)), s.labels['host']).toBe(15);
    expect(panel(PL, 'Agent lag').fieldConfig?.defaults['unit']).toBe('ms');
    const dropped = toNumericSeries(await runPanel(PL, 'Events dropped'));
    expect(dropped.find((s) => s.labels['host'] === H.bug)!.points.filter(([, v]) => v !== null).at(-1)?.[1]).toBe(3);
    expect(dropped.find((s) => s.labels['host'] === H.fix)!.points.filter(([, v]) => v !== null).at(-1)?.[1]).toBe(0);
    expect(panel(PL, 'Events dropped').fieldConfig?.defaults['unit']).toBe('none');
    const lag = toNumericSeries(await runPanel(PL, 'Processor lag'));
    expect(Math.max(...lag.find((s) => s.labels['instance'] === P.slow)!.points.map(([, v]) => v ?? 0))).toBe(90_000);
    expect(Math.max(...lag.find((s) => s.labels['instance'] === P.ok)!.points.map(([, v]) => v ?? 0))).toBe(200);
    // Self-reports every 10 s for 30 minutes: 180; "slow" consumed 1 per report in its last 71.
    expect(sums(await runPanel(PL, 'Processor events in'))).toEqual({ [`instance=${P.ok}`]: 50 * 180, [`instance=${P.slow}`]: 10 * 109 + 1 * 71 });
    expect(sums(await runPanel(PL, 'Dead letters'))).toEqual({ [`instance=${P.ok}`]: 0, [`instance=${P.slow}`]: 3 });
  });
});

describe('incidents view', () => {
  const I = 'roamwatch-incidents';
  it('the grouping made two incidents: three gateways for the first flap, two for the second', () => {
    expect(INCIDENTS.map((i) => [i.cause.key, i.hosts, i.reauths])).toEqual([
      ['route added 203.0.113.0/24', 3, 3],
      ['route removed 198.51.100.0/24', 2, 2],
    ]);
  });
  it('lists both incidents, newest first, closed, with cause, gateways, connections, reauths and downtime', async () => {
    const table = rows(await runPanel(I, 'Incidents'));
    expect(table.map((r) => [r['incident_id'], r['state'], r['cause'], r['hosts'], r['connections'], r['reauths'], r['downtime_ms']])).toEqual([
      [INCIDENTS[1]!.id, 'closed', 'route removed 198.51.100.0/24', 2, 2, 2, 20],
      [INCIDENTS[0]!.id, 'closed', 'route added 203.0.113.0/24', 3, 3, 3, 30],
    ]);
  });
  it('the timeline has one bar per incident (gateways hit) and one annotation per incident naming its cause', async () => {
    expect(sums(await runPanel(I, 'Incidents: gateways hit'))).toEqual({ [`incident_id=${INCIDENTS[0]!.id}`]: 3, [`incident_id=${INCIDENTS[1]!.id}`]: 2 });
    const anno = dash(I).annotations.list.find((a) => a.name === 'Incidents') ?? expect.fail('no Incidents annotation');
    const r = rows(await run(interpolate(anno.query!, { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars: VARS[I]! })));
    expect(r.map((x) => x['cause']).sort()).toEqual(['route added 203.0.113.0/24', 'route removed 198.51.100.0/24']);
  });
  it('per incident: its gateways, each with reauths, downtime and the fix', async () => {
    const one = { ...VARS[I]!, incident: [INCIDENTS[1]!.id] };
    const p = panel(I, 'Gateways of the incident');
    const table = rows(await run(interpolate(p.targets![0]!.query, { fromMs: E - RANGE_MS, toMs: E, intervalMs: INTERVAL_MS, vars: one })));
    expect(table.map((r) => [r['host'], r['reauths'], r['downtime_ms'], r['fix'], r['conns']]).sort()).toEqual(INC_HOSTS.slice(0, 2).map((h) => [h, 1, 10, FIX, CONN]));
  });
});

describe('fleet at-risk inventory: fixed since', () => {
  const F = 'roamwatch-fleet';
  it('the SA fixed 30 minutes ago is listed with that time; the one still at risk is not', async () => {
    const table = rows(await runPanel(F, 'Fixed since'));
    expect(table.map((r) => [r['host'], r['conn'], r['verdict'], r['time']])).toEqual([[H.fix, CONN, 'valid', E - 30 * MIN]]);
  });
  it('per gateway: fixed and still at risk', async () => {
    const table = rows(await runPanel(F, 'Remediation campaign by gateway')).filter((r) => r['host'] === H.fix || r['host'] === H.bug);
    expect(Object.fromEntries(table.map((r) => [r['host'], [r['fixed'], r['still_at_risk']]]))).toEqual({ [H.fix]: [1, 0], [H.bug]: [0, 1] });
  });
});

describe('alert rules (Grafana evaluation emulated: reduce + threshold + for)', () => {
  const rule = (uid: string): (typeof RULES)[number] => RULES.find((r) => r.uid === uid) ?? expect.fail(`no rule ${uid}`);
  const mine = new Set([H.bug, H.fix, H.silent, H.fresh, H.hub, ...Object.values(P)]);
  async function states(uid: string): Promise<Record<string, string>> {
    const all = await ruleStates(rule(uid), { atMs: E, intervalMs: MIN, run });
    const out: Record<string, string> = {};
    for (const s of all.values()) {
      const who = s.labels['host'] ?? s.labels['instance'];
      if (who && mine.has(who)) out[[who, s.labels['conn']].filter(Boolean).join('/')] = s.state;
    }
    return out;
  }

  it('spurious reauth: fires for the bug gateway\'s connection, stays quiet for the fixed one', async () => {
    expect(await states('roamwatch-spurious-reauth')).toEqual({ [`${H.bug}/${CONN}`]: 'Alerting' });
  });

  it('spurious reauth: resolves 15 minutes after the last one', async () => {
    const later = await ruleStates(rule('roamwatch-spurious-reauth'), { atMs: CHANGES[3]!.at + 16 * MIN, intervalMs: MIN, run });
    expect([...later.values()].filter((s) => s.labels['host'] === H.bug)).toEqual([]);
  });

  it('SA at risk: fires for the bug gateway after 5 minutes, is pending for an SA at risk for 2 minutes, quiet for the fixed one', async () => {
    expect(await states('roamwatch-sa-at-risk')).toEqual({ [`${H.bug}/${CONN}`]: 'Alerting', [`${H.fresh}/${CONN}`]: 'Pending', [`${H.fix}/${CONN}`]: 'Normal', [`${H.hub}/${HUB_CONN}`]: 'Alerting' });
  });

  it('SA at risk: the hub connection\'s value is the number of its IKE_SAs at risk (2), not the verdict of its last-written SA', async () => {
    const r = rule('roamwatch-sa-at-risk');
    const series = toNumericSeries(await run(interpolate(r.data[0]!.model.query as string, { fromMs: E - 30 * 24 * 60 * MIN, toMs: E, intervalMs: MIN, vars: {} })));
    const hub = series.find((x) => x.labels['host'] === H.hub)!;
    expect(hub.points.at(-1)?.[1]).toBe(2);
  });

  it('agent silent: fires for the agent silent for 12 minutes only', async () => {
    expect(await states('roamwatch-agent-silent')).toEqual({ [H.bug]: 'Normal', [H.fix]: 'Normal', [H.silent]: 'Alerting' });
  });

  it('agent silent: still fires after 2 days of silence (it resolved after 24 h with the old look-back)', async () => {
    const r = rule('roamwatch-agent-silent');
    const later = await ruleStates(r, { atMs: E + 2 * 24 * 60 * MIN, intervalMs: MIN, run });
    const mineLater = Object.fromEntries([...later.values()].filter((s) => [H.bug, H.fix, H.silent].includes(s.labels['host']!)).map((s) => [s.labels['host'], s.state]));
    // Two days on, every agent of this data set has been silent for two days.
    expect(mineLater).toEqual({ [H.bug]: 'Alerting', [H.fix]: 'Alerting', [H.silent]: 'Alerting' });
    expect(r.noDataState).toBe('Alerting');
  });

  it('processor lag: fires for the instance above the bound for 5 minutes only', async () => {
    expect(await states('roamwatch-processor-lag')).toEqual({ [P.ok]: 'Normal', [P.slow]: 'Alerting' });
  });

  it('incident: fires exactly once per incident over the hour (one alert instance per incident, not per reauth), and resolves', async () => {
    const r = rule('roamwatch-incident');
    const ids = new Set(INCIDENTS.map((i) => i.id));
    const fired = new Map<string, number>();
    let before = new Map<string, string>();
    for (let t = E - 60 * MIN; t <= E + 20 * MIN; t += MIN) {
      const now = new Map([...(await ruleStates(r, { atMs: t, intervalMs: MIN, run })).values()].filter((s) => ids.has(s.labels['incident_id']!)).map((s) => [s.labels['incident_id']!, s.state]));
      for (const [id, st] of now) if (st === 'Alerting' && before.get(id) !== 'Alerting') fired.set(id, (fired.get(id) ?? 0) + 1);
      before = now;
    }
    expect(Object.fromEntries(fired)).toEqual(Object.fromEntries(INCIDENTS.map((i) => [i.id, 1])));
    expect([...before.values()]).toEqual([]);
  });

  it('no rule fires for anything on the fixed gateway', async () => {
    for (const r of RULES) {
      const all = await ruleStates(r, { atMs: E, intervalMs: MIN, run });
      for (const s of all.values()) if (s.labels['host'] === H.fix) expect(s.state, r.uid).toBe('Normal');
    }
  });
});

// ------------------------------------------------------------------ recorded scenarios, real processor

const SCENARIOS = fileURLToPath(new URL('../fixtures/scenarios/', import.meta.url));

interface Recorded {
  /** Every point the processor wrote, by scenario. */
  points: { bug: MetricPoint[]; fix: MetricPoint[] };
  /** One minute after the last recorded event: when the rules are evaluated. */
  atMs: number;
}
let recorded: Recorded;

/** Runs a recorded event stream (host renamed) through the processor pipeline into InfluxDB via its sink. */
async function replayRecorded(): Promise<Recorded> {
  const sink = new InfluxSink({ url, token, org: servers.influx.org, bucket, lingerMs: 10 });
  const points = { bug: [] as MetricPoint[], fix: [] as MetricPoint[] };
  let lastUs = 0;
  for (const [name, file, host] of [
    ['bug', 'bug-unrelated-route.jsonl', H.recBug],
    ['fix', 'fix-route-with-src.jsonl', H.recFix],
  ] as const) {
    const records: PipelineInput<never>[] = readFileSync(SCENARIOS + file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const e = JSON.parse(l) as { host: string; timeUs: number };
        lastUs = Math.max(lastUs, e.timeUs);
        return { type: 'record', value: JSON.stringify({ ...e, host }) };
      });
    const out = await lastValueFrom(from(records).pipe(processEvents<never>(), toArray()));
    for (const o of out) {
      if (o.type !== 'point') continue;
      points[name].push(o.point);
      sink.push(toLineProtocol(o.point));
    }
  }
  await sink.drained();
  sink.close();
  return { points, atMs: Math.floor(lastUs / 1000) + MIN };
}

describe('recorded scenarios through the real processor', () => {
  const reauths = (ps: MetricPoint[]): MetricPoint[] => ps.filter((p) => p.measurement === 'roamwatch_reauth');
  const at = (): number => recorded.atMs;
  const vars = (): Record<string, VarValue> => ({ host: [H.recBug, H.recFix] });
  const q = async (query: string, rangeMs = RANGE_MS): Promise<InfluxSeries[]> => run(interpolate(query, { fromMs: at() - rangeMs, toMs: at(), intervalMs: INTERVAL_MS, vars: vars() }));

  it('the processor found the spurious reauth in the bug recording and none in the fix recording', () => {
    expect(reauths(recorded.points.bug).map((p) => p.tags['class'])).toEqual(['spurious']);
    expect(reauths(recorded.points.fix)).toEqual([]);
    expect(recorded.points.fix.some((p) => p.measurement === 'roamwatch_net_changes')).toBe(true);
  });

  it('fleet overview and incident table show it, with the trigger, latency, downtime and fix the processor computed', async () => {
    const [p] = reauths(recorded.points.bug);
    expect(sums(await q(panel('roamwatch-fleet', 'Spurious reauths').targets![0]!.query))).toEqual({ '': 1 });
    expect(sums(await q(panel('roamwatch-fleet', 'Spurious reauths by gateway and connection').targets![0]!.query))).toEqual({ [`conn=${p!.tags['conn']},host=${H.recBug}`]: 1 });
    const table = rows(await q(panel('roamwatch-incidents', 'Spurious reauths').targets![0]!.query));
    expect(table).toHaveLength(1);
    expect(table[0]).toMatchObject({
      host: H.recBug,
      conn: p!.tags['conn'],
      trigger_kind: p!.tags['trigger_kind'],
      trigger: p!.strings?.['trigger'],
      latency_ms: p!.floats?.['latency_ms'],
      downtime_ms: p!.floats?.['downtime_ms'],
      fix: p!.strings?.['fix'],
    });
    expect(String(table[0]!['fix'])).toMatch(/^ip route add .+ src /);
  });

  it('route changes of both recordings are on the dashboards, reauth annotations only for the bug one', async () => {
    const rate = sums(await q(panel('roamwatch-fleet', 'Route-change rate').targets![0]!.query));
    expect(Object.keys(rate).sort()).toEqual([`host=${H.recBug}`, `host=${H.recFix}`]);
    const anno = dash('roamwatch-gateway').annotations.list.find((a) => a.name === 'Reauths')!.query!;
    const forHost = async (host: string): Promise<number> =>
      rows(await run(interpolate(anno, { fromMs: at() - RANGE_MS, toMs: at(), intervalMs: INTERVAL_MS, vars: { host: [host], conn: { all: '.*' } } }))).length;
    expect(await forHost(H.recBug)).toBe(1);
    expect(await forHost(H.recFix)).toBe(0);
  });

  it('the spurious-reauth rule fires for the bug recording and stays quiet for the fix recording; no rule fires for the fix', async () => {
    for (const r of RULES) {
      const states = await ruleStates(r, { atMs: at(), intervalMs: MIN, run });
      const byHost = (h: string): string[] => [...states.values()].filter((s) => s.labels['host'] === h).map((s) => s.state);
      if (r.uid === 'roamwatch-spurious-reauth') expect(byHost(H.recBug), r.uid).toEqual(['Alerting']);
      expect(byHost(H.recFix).filter((st) => st !== 'Normal'), r.uid).toEqual([]);
    }
  });
});
