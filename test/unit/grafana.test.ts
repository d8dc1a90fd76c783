/**
 * Grafana provisioning, checked without a Grafana server: generated files are current,
 * every file matches Grafana's documented format (grafana/src/schemas.ts), uids are unique,
 * rule conditions and datasource references resolve, and every query uses only the names
 * of the metric contract in docs/metrics.md.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderAll } from '../../grafana/src/render.js';
import { alertingFile, EXPR_UID, runbookAnchor } from '../../grafana/src/alerting.js';
import { allDashboards, DASHBOARD_DATASOURCE } from '../../grafana/src/dashboards.js';
import { A, Q } from '../../grafana/src/queries.js';
import { interpolate, reduce, threshold } from '../../grafana/src/emulate.js';
import { alertingSchema, dashboardProvidersSchema, dashboardSchema, datasourcesSchema } from '../../grafana/src/schemas.js';
import type { AlertingFile, Dashboard } from '../../grafana/src/model.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const yamlFile = (p: string): unknown => parse(read(p));

const DATASOURCES = 'grafana/provisioning/datasources/roamwatch.yaml';
const PROVIDERS = 'grafana/provisioning/dashboards/roamwatch.yaml';
const ALERTING = 'grafana/provisioning/alerting/roamwatch.yaml';

function committedDashboards(): Dashboard[] {
  return readdirSync(join(root, 'grafana/dashboards'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(read(`grafana/dashboards/${f}`)) as Dashboard);
}

function validator(schema: object): (doc: unknown) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTuples: false });
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
}

/** Every InfluxQL query in the dashboards and rules, with where it comes from. */
function allQueries(): Array<{ where: string; query: string }> {
  const out: Array<{ where: string; query: string }> = [];
  for (const d of allDashboards()) {
    for (const v of d.templating.list) if (v.type === 'query') out.push({ where: `${d.uid} variable ${v.name}`, query: v.query });
    for (const a of d.annotations.list) if (a.query) out.push({ where: `${d.uid} annotation ${a.name}`, query: a.query });
    for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `${d.uid} panel ${p.id} ${t.refId}`, query: t.query });
  }
  for (const g of alertingFile().groups)
    for (const r of g.rules) for (const q of r.data) if (typeof q.model['query'] === 'string') out.push({ where: `rule ${r.uid} ${q.refId}`, query: q.model['query'] });
  return out;
}

describe('generated files', () => {
  it('when the generator runs, then its output equals the committed files (else run `npm run grafana:generate`)', () => {
    const files = renderAll();
    for (const [path, content] of files) {
      expect(read(path), `${path} is stale: run npm run grafana:generate`).toBe(content);
    }
    const committed = readdirSync(join(root, 'grafana/dashboards')).filter((f) => f.endsWith('.json'));
    expect(committed.sort()).toEqual([...files.keys()].filter((p) => p.startsWith('grafana/dashboards/')).map((p) => p.slice('grafana/dashboards/'.length)).sort());
  });

  it('when grafana/src is type-checked with the strict project settings, then it compiles', () => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'grafana/tsconfig.json'), '--noEmit'], { cwd: root, stdio: 'pipe' });
  }, 60_000);
});

describe('provisioning files match Grafana\'s documented formats', () => {
  it('datasources', () => {
    expect(validator(datasourcesSchema)(yamlFile(DATASOURCES))).toEqual([]);
  });
  it('dashboard provider', () => {
    expect(validator(dashboardProvidersSchema)(yamlFile(PROVIDERS))).toEqual([]);
  });
  it('alert rules, contact point, notification policy', () => {
    expect(validator(alertingSchema)(yamlFile(ALERTING))).toEqual([]);
  });
  it('dashboards', () => {
    const check = validator(dashboardSchema);
    for (const d of committedDashboards()) expect(check(d), d.uid).toEqual([]);
  });
  it('when a rule lacks a required field, then the schema rejects it (the schema is not vacuous)', () => {
    const doc = structuredClone(yamlFile(ALERTING)) as AlertingFile;
    delete (doc.groups[0]!.rules[0] as Partial<AlertingFile['groups'][0]['rules'][0]>).condition;
    expect(validator(alertingSchema)(doc).join('\n')).toContain('condition');
  });
});

describe('provisioning YAML is read the same by strict and YAML 1.1 parsers', () => {
  it.each([DATASOURCES, PROVIDERS, ALERTING])('when %s is parsed as YAML 1.1 and 1.2, then both give the same document', (file) => {
    expect(parse(read(file), { version: '1.1' })).toEqual(parse(read(file), { version: '1.2' }));
  });

  it('when a policy matches on a label, then the `=` operator is quoted', () => {
    const text = read(ALERTING);
    expect(text).toMatch(/^ *- '='$/m);
    expect(text).not.toMatch(/^ *- =$/m);
    expect((yamlFile(ALERTING) as AlertingFile).policies[0]!.routes![0]!.object_matchers).toEqual([['severity', '=', 'critical']]);
  });
});

describe('one query language', () => {
  it('when datasources are provisioned, then there is only the InfluxQL one, and the former Flux one is deleted', () => {
    const doc = yamlFile(DATASOURCES) as { datasources: Array<{ jsonData: { version: string } }>; deleteDatasources: Array<{ name: string }> };
    expect(doc.datasources.map((d) => d.jsonData.version)).toEqual(['InfluxQL']);
    expect(doc.deleteDatasources.map((d) => d.name)).toEqual(['roamwatch InfluxDB (Flux)']);
    expect(read('docs/grafana.md')).not.toMatch(/roamwatch-influxdb-flux/);
  });
});

describe('panels', () => {
  const byTitle = (uid: string, title: string) => allDashboards().find((d) => d.uid === uid)!.panels.find((p) => p.title === title)!;

  it('when agent lag and dropped events are shown, then each has its own panel with its own unit', () => {
    const lag = byTitle('roamwatch-pipeline', 'Agent lag');
    const dropped = byTitle('roamwatch-pipeline', 'Events dropped');
    expect(lag.targets!.map((t) => t.query)).toEqual([Q.pipeline.agentLag]);
    expect(lag.fieldConfig!.defaults['unit']).toBe('ms');
    expect(dropped.targets!.map((t) => t.query)).toEqual([Q.pipeline.eventsDropped]);
    expect(dropped.fieldConfig!.defaults['unit']).toBe('none');
    expect(dropped.fieldConfig!.defaults['decimals']).toBe(0);
  });

  it('a time-series panel plots one field (or fields of one unit): a *_ms field only on an ms or s axis', () => {
    for (const d of allDashboards())
      for (const p of d.panels.filter((x) => x.type === 'timeseries')) {
        const fields = new Set((p.targets ?? []).map((t) => /SELECT \w+\("(\w+)"\)/.exec(t.query)?.[1]));
        if ([...fields].some((f) => f?.endsWith('_ms'))) {
          expect(['ms', 's'], `${d.uid} panel ${p.id}`).toContain(p.fieldConfig!.defaults['unit']);
          expect([...fields].every((f) => f?.endsWith('_ms')), `${d.uid} panel ${p.id} mixes units: ${[...fields].join(', ')}`).toBe(true);
        }
      }
  });
});

describe('references', () => {
  const ds = yamlFile(DATASOURCES) as { datasources: Array<{ uid: string; type: string }> };
  const dsUids = new Set(ds.datasources.map((d) => d.uid));
  const alerting = yamlFile(ALERTING) as AlertingFile;
  const dashboards = committedDashboards();

  it('uids are unique: datasources, dashboards, rules, receivers; panel ids within a dashboard', () => {
    const unique = (xs: string[]): void => expect(new Set(xs).size, xs.join(',')).toBe(xs.length);
    unique(ds.datasources.map((d) => d.uid));
    unique(dashboards.map((d) => d.uid));
    unique(alerting.groups.flatMap((g) => g.rules.map((r) => r.uid)));
    unique(alerting.contactPoints.flatMap((c) => c.receivers.map((r) => r.uid)));
    for (const d of dashboards) unique(d.panels.map((p) => String(p.id)));
  });

  it('each rule\'s condition names one of its refIds, and each expression\'s input exists', () => {
    for (const r of alerting.groups.flatMap((g) => g.rules)) {
      const refs = r.data.map((d) => d.refId);
      expect(new Set(refs).size, r.uid).toBe(refs.length);
      expect(refs, r.uid).toContain(r.condition);
      for (const d of r.data) {
        expect(d.model.refId, r.uid).toBe(d.refId);
        if (d.datasourceUid === EXPR_UID) expect(refs, `${r.uid} ${d.refId}`).toContain(d.model['expression']);
        else expect(d.relativeTimeRange, `${r.uid} ${d.refId} needs a relativeTimeRange`).toBeDefined();
      }
    }
  });

  it('every dashboard picks its datasource with a $datasource variable whose default is the provisioned one', () => {
    for (const d of dashboards) {
      const first = d.templating.list[0]!;
      expect(first, d.uid).toMatchObject({ type: 'datasource', name: 'datasource', query: 'influxdb' });
      if (first.type !== 'datasource') continue;
      expect(dsUids.has(first.current.value), `${d.uid}: default ${first.current.value}`).toBe(true);
      expect(d.templating.list.filter((v) => v.type === 'datasource'), d.uid).toHaveLength(1);
    }
    // The dashboards name no datasource uid directly: imported into another Grafana, they run on the datasource picked there.
    for (const d of dashboards) expect(JSON.stringify(d).match(/"uid":"roamwatch-influxdb[^"]*"/g), d.uid).toBeNull();
  });

  it('every datasource reference resolves to the $datasource variable (dashboards) or a provisioned datasource (rules), or Grafana\'s built-ins', () => {
    const refs: Array<{ where: string; uid: string; type?: string }> = [];
    const viaVariable = (ref: { uid: string; type?: string }) => (ref.uid === DASHBOARD_DATASOURCE.uid ? { uid: (d0.templating.list[0] as { current: { value: string } }).current.value, type: ref.type } : ref);
    const d0 = dashboards[0]!;
    for (const d of dashboards) {
      for (const v of d.templating.list) if (v.type === 'query') refs.push({ where: `${d.uid}/$${v.name}`, ...viaVariable(v.datasource) });
      for (const a of d.annotations.list) if (a.builtIn !== 1) refs.push({ where: `${d.uid}/anno ${a.name}`, ...viaVariable(a.datasource) });
      for (const p of d.panels) {
        if (p.datasource) refs.push({ where: `${d.uid}/panel ${p.id}`, ...viaVariable(p.datasource) });
        for (const t of p.targets ?? []) refs.push({ where: `${d.uid}/panel ${p.id}/${t.refId}`, ...viaVariable(t.datasource) });
      }
      const refsHere = JSON.stringify({ a: d.annotations.list.filter((a) => a.builtIn !== 1), p: d.panels, v: d.templating.list.filter((v) => v.type === 'query') });
      expect(refsHere.match(/"uid":"[^"]*"/g)?.every((u) => u === `"uid":"${DASHBOARD_DATASOURCE.uid}"`), d.uid).toBe(true);
    }
    for (const r of alerting.groups.flatMap((g) => g.rules)) for (const q of r.data) if (q.datasourceUid !== EXPR_UID) refs.push({ where: r.uid, uid: q.datasourceUid });
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(dsUids.has(ref.uid), `${ref.where} → ${ref.uid}`).toBe(true);
      if (ref.type) expect(ds.datasources.find((d) => d.uid === ref.uid)?.type, ref.where).toBe(ref.type);
    }
  });

  it('rules link to existing dashboards and panels; policies route to existing contact points; one folder', () => {
    const provider = (yamlFile(PROVIDERS) as { providers: Array<{ folder: string }> }).providers[0]!;
    for (const g of alerting.groups) {
      expect(g.folder).toBe(provider.folder);
      for (const r of g.rules) {
        const d = dashboards.find((x) => x.uid === r.dashboardUid);
        expect(d, r.uid).toBeDefined();
        expect(d!.panels.map((p) => p.id), r.uid).toContain(r.panelId);
      }
    }
    const receivers = new Set(alerting.contactPoints.map((c) => c.name));
    for (const p of alerting.policies) {
      expect(receivers.has(p.receiver)).toBe(true);
      for (const r of p.routes ?? []) expect(receivers.has(r.receiver)).toBe(true);
    }
  });

  it('every rule has a summary, a description stating its threshold and for-duration, and a runbook_url to its section of docs/runbook.md', () => {
    const runbook = read('docs/runbook.md');
    const sections = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((m) => runbookAnchor(m[1]!)));
    for (const r of alerting.groups.flatMap((g) => g.rules)) {
      expect(r.annotations['summary'], r.uid).toBeTruthy();
      expect(r.annotations['description'], r.uid).toMatch(/\bfor (\d+[smh]|\d+ minutes?)\b/);
      expect(r.annotations, `${r.uid}: prose runbooks live in docs/runbook.md`).not.toHaveProperty('runbook');
      // Labels are expanded by Grafana's provisioning, annotations are not: the URL comes in through the label.
      expect(r.labels['runbook'], r.uid).toBe('${ROAMWATCH_RUNBOOK_URL}');
      const url = /^\{\{ \$labels\.runbook \}\}#([a-z0-9_-]+)$/.exec(r.annotations['runbook_url'] ?? '');
      expect(url, `${r.uid}: runbook_url ${r.annotations['runbook_url']}`).not.toBeNull();
      expect(url![1], r.uid).toBe(runbookAnchor(r.title));
      expect(sections.has(url![1]!), `docs/runbook.md needs a section "## ${r.title}"`).toBe(true);
    }
    expect(runbookAnchor('Spurious IKE_SA reauthentication')).toBe('spurious-ike_sa-reauthentication');
  });

  it('when Grafana expands environment variables in provisioning files, then it only touches what is meant to be a variable', () => {
    // Grafana expands $VAR in alerting files except rule models and annotations; `$$` escapes.
    const a = alertingFile();
    for (const r of a.groups.flatMap((g) => g.rules)) {
      const { runbook, ...labels } = r.labels;
      expect(JSON.stringify(labels), r.uid).not.toContain('$');
      expect(runbook, r.uid).toMatch(/^\$\{[A-Z_]+\}$/);
      expect(r.title + r.uid + r.condition + r.for, r.uid).not.toContain('$');
    }
    const envVars = (text: string): string[] => [...text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)\}?/g)].map((m) => m[1]!);
    const used = new Set([...envVars(JSON.stringify(a.contactPoints)), ...envVars(JSON.stringify(a.groups.map((g) => g.rules.map((r) => r.labels)))), ...envVars(read(DATASOURCES))]);
    expect(used).toContain('ROAMWATCH_RUNBOOK_URL');
    const example = read('.env.example');
    for (const v of used) expect(example, `${v} must be documented in .env.example`).toMatch(new RegExp(`^#? ?${v}=`, 'm'));
    const compose = read('docker-compose.yml');
    // Secrets (the InfluxDB token) reach Grafana through its entrypoint from a compose secret file.
    for (const v of used) {
      const passed = compose.includes(`${v}:`) || compose.includes(`${v}=\\"$$(cat /run/secrets/`);
      expect(passed, `${v} must be passed to grafana in docker-compose.yml`).toBe(true);
    }
  });

  it('panels fit the 24-column grid without overlapping', () => {
    for (const d of dashboards) {
      const cells = new Set<string>();
      for (const p of d.panels) {
        const g = p.gridPos;
        expect(g.x + g.w, `${d.uid} panel ${p.id}`).toBeLessThanOrEqual(24);
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            const k = `${x},${y}`;
            expect(cells.has(k), `${d.uid} panel ${p.id} overlaps at ${k}`).toBe(false);
            cells.add(k);
          }
      }
    }
  });

  it('the gateway dashboard has host and conn variables and annotations for route changes and reauths', () => {
    const g = dashboards.find((d) => d.uid === 'roamwatch-gateway')!;
    expect(g.templating.list.map((v) => v.name)).toEqual(['datasource', 'host', 'conn']);
    expect(g.annotations.list.map((a) => a.name)).toEqual(expect.arrayContaining(['Route changes', 'Reauths']));
  });
});

// ------------------------------------------------------------------ the metric contract

interface Contract {
  tags: Map<string, Set<string>>;
  fields: Map<string, Set<string>>;
  enums: Map<string, Set<string>>;
}

/** Reads measurement, tag and field names (and tag enumerations) from docs/metrics.md's table. */
function readContract(): Contract {
  const c: Contract = { tags: new Map(), fields: new Map(), enums: new Map() };
  for (const line of read('docs/metrics.md').split('\n')) {
    const cells = line.split('|').map((s) => s.trim());
    const m = /^`(roamwatch_[a-z_]+)`$/.exec(cells[1] ?? '');
    if (!m) continue;
    const names = (cell: string): string[] => [...cell.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!);
    c.tags.set(m[1]!, new Set(names(cells[2] ?? '')));
    c.fields.set(m[1]!, new Set(names(cells[3] ?? '')));
    for (const e of (cells[2] ?? '').matchAll(/`([a-z_]+)` \(([^)]*)\)/g)) c.enums.set(e[1]!, new Set([...e[2]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!)));
  }
  return c;
}

describe('queries follow docs/metrics.md', () => {
  const contract = readContract();

  it('the contract table is readable', () => {
    expect([...contract.tags.keys()]).toEqual(expect.arrayContaining(['roamwatch_reauth', 'roamwatch_path', 'roamwatch_agent', 'roamwatch_processor', 'roamwatch_net_changes']));
    expect(contract.enums.get('class')).toContain('spurious');
  });

  it('every quoted identifier is a measurement, or a tag or field of a measurement the query reads, or an alias it defines', () => {
    for (const { where, query } of allQueries()) {
      const measurements = [...query.matchAll(/"(roamwatch_[a-z_]+)"/g)].map((m) => m[1]!);
      expect(measurements.length, where).toBeGreaterThan(0);
      const known = new Set<string>(measurements);
      for (const m of measurements) {
        expect(contract.tags.has(m), `${where}: unknown measurement ${m}`).toBe(true);
        for (const n of [...(contract.tags.get(m) ?? []), ...(contract.fields.get(m) ?? [])]) known.add(n);
      }
      for (const a of query.matchAll(/ AS "([a-z_]+)"/g)) known.add(a[1]!);
      for (const id of query.matchAll(/"([a-z_]+)"/g)) expect(known.has(id[1]!), `${where}: "${id[1]}" is not in docs/metrics.md`).toBe(true);
      for (const lit of query.matchAll(/"([a-z_]+)" = '([^']+)'/g)) {
        const values = contract.enums.get(lit[1]!);
        if (values) expect(values.has(lit[2]!), `${where}: ${lit[1]} = '${lit[2]}' is not an enumerated value`).toBe(true);
      }
    }
  });

  it('every SELECT is bounded by $timeFilter and never by now()', () => {
    for (const { where, query } of allQueries()) {
      expect(query, where).not.toMatch(/now\(\)/i);
      if (query.startsWith('SELECT')) expect(query, where).toContain('$timeFilter');
    }
  });

  it('dashboard queries honour the dashboard\'s template variables', () => {
    for (const d of allDashboards()) {
      const vars = d.templating.list.map((v) => v.name);
      for (const p of d.panels)
        for (const t of p.targets ?? []) {
          const filters = vars.filter((v) => t.query.includes(`/^$${v}$/`));
          expect(filters.length, `${d.uid} panel ${p.id}`).toBeGreaterThan(0);
        }
    }
    expect(Object.keys(Q)).toEqual(['vars', 'fleet', 'gateway', 'incidents', 'pipeline']);
    expect(Object.keys(A)).toEqual(['spuriousReauth', 'saAtRisk', 'agentSilent', 'processorLag', 'incident']);
  });
});

describe('Grafana emulation helpers', () => {
  it('when a query is interpolated, then macros and variables take Grafana\'s forms', () => {
    const q = interpolate(`SELECT sum("count") FROM "m" WHERE "host" =~ /^$host$/ AND "conn" =~ /^$conn$/ AND $timeFilter GROUP BY time($__interval) / $__interval_ms`, {
      fromMs: 1000,
      toMs: 61_000,
      intervalMs: 10_000,
      vars: { host: ['gw.a', 'gw-b'], conn: { all: '.*' } },
    });
    expect(q).toBe(`SELECT sum("count") FROM "m" WHERE "host" =~ /^(gw\\.a|gw\\-b)$/ AND "conn" =~ /^.*$/ AND time >= 1000ms and time <= 61000ms GROUP BY time(10s) / 10000`);
    expect(() => interpolate('SELECT x FROM y WHERE $nope', { fromMs: 0, toMs: 1, intervalMs: 1 })).toThrow(/nope/);
  });

  it('when values are reduced in dropNN mode and thresholded, then nulls are ignored', () => {
    expect(reduce([1, null, 3], 'last')).toBe(3);
    expect(reduce([null, 2, null], 'sum')).toBe(2);
    expect(reduce([null], 'last')).toBeNull();
    expect(threshold(null, { type: 'gt', params: [0] })).toBe(false);
    expect(threshold(0, { type: 'lt', params: [0.5] })).toBe(true);
    expect(threshold(5, { type: 'outside_range', params: [1, 4] })).toBe(true);
  });
});
