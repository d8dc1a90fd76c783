/**
 * What Grafana does with our queries, re-done here so that tests can run every dashboard
 * and alert query against a real InfluxDB without a Grafana server (none can run on the
 * test machines). This is an emulation, and it is only as faithful as the parts below:
 *
 *  - InfluxQL macro interpolation, as Grafana's InfluxDB datasource does it for raw queries:
 *    `$timeFilter` → `time >= <from>ms and time <= <to>ms`, `$__interval` / `$__interval_ms`,
 *    template variables inside `/^$var$/` regexes (one value: regex-escaped; several:
 *    `(a|b)`; "All" with a custom all value: that value);
 *  - a query result becomes one series per (InfluxQL series × value column), labelled with
 *    the series' tags, as Grafana's InfluxQL backend builds data frames;
 *  - server-side expressions: `reduce` (mode dropNN: null/NaN/±Inf are dropped first) and
 *    `threshold` (gt, lt, within_range, outside_range), one alert instance per series;
 *  - the rule state machine: Normal → Pending while the condition holds → Alerting once it
 *    has held for the rule's `for`; `noDataState` when the query returns no series.
 * Not emulated: notification routing, keep_firing_for, recovery thresholds, math expressions.
 */
import type { AlertRule } from './model.js';

export interface TimeRange {
  fromMs: number;
  toMs: number;
}

/** A template variable's value: one or more values, or "All" (uses the variable's allValue). */
export type VarValue = string[] | { all: string };

export interface InterpolationContext extends TimeRange {
  intervalMs: number;
  vars?: Record<string, VarValue>;
}

function escapeRegex(v: string): string {
  // Grafana escapes regex metacharacters (and '/') in values placed inside /.../.
  return v.replace(/[\\^$*+?.()|[\]{}/-]/g, '\\$&');
}

/** Grafana's textual form of an interval: 500ms, 10s, 1m, 1h, 1d. */
export function formatInterval(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function interpolate(query: string, ctx: InterpolationContext): string {
  let q = query
    .replaceAll('$timeFilter', `time >= ${Math.floor(ctx.fromMs)}ms and time <= ${Math.floor(ctx.toMs)}ms`)
    .replaceAll('$__interval_ms', String(ctx.intervalMs))
    .replaceAll('$__interval', formatInterval(ctx.intervalMs));
  for (const [name, value] of Object.entries(ctx.vars ?? {})) {
    const text = Array.isArray(value) ? (value.length === 1 ? escapeRegex(value[0] ?? '') : `(${value.map(escapeRegex).join('|')})`) : value.all;
    q = q.replace(new RegExp(`\\$(?:${name}\\b|\\{${name}\\})`, 'g'), () => text);
  }
  const left = /\$(\w+)/.exec(q);
  if (left) throw new Error(`query still has an unresolved variable $${left[1]}: ${q}`);
  return q;
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Runs one InfluxQL statement on InfluxDB's /query endpoint (1.x, or 2.x with a DBRP mapping). */
export async function queryInfluxQL(opts: { url: string; database: string; token?: string }, q: string): Promise<InfluxSeries[]> {
  const body = new URLSearchParams({ q, db: opts.database, epoch: 'ms' });
  const res = await fetch(`${opts.url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(opts.token ? { authorization: `Token ${opts.token}` } : {}) },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`InfluxQL query failed (HTTP ${res.status}): ${text}\n${q}`);
  const json = JSON.parse(text) as { results?: Array<{ error?: string; series?: InfluxSeries[] }>; error?: string };
  if (json.error) throw new Error(`InfluxQL query failed: ${json.error}\n${q}`);
  const r = json.results?.[0];
  if (r?.error) throw new Error(`InfluxQL query failed: ${r.error}\n${q}`);
  return r?.series ?? [];
}

export interface NumericSeries {
  labels: Record<string, string>;
  field: string;
  points: Array<[number, number | null]>;
}

/** One series per (InfluxQL series × value column), as Grafana's time_series frames. */
export function toNumericSeries(series: InfluxSeries[]): NumericSeries[] {
  const out: NumericSeries[] = [];
  for (const s of series) {
    const t = s.columns.indexOf('time');
    s.columns.forEach((col, i) => {
      if (i === t) return;
      out.push({
        labels: { ...(s.tags ?? {}) },
        field: col,
        points: s.values.map((row) => [Number(row[t]), typeof row[i] === 'number' ? (row[i] as number) : null]),
      });
    });
  }
  return out;
}

export type Reducer = 'last' | 'sum' | 'max' | 'min' | 'mean' | 'count';

/** Grafana's reduce expression in dropNN mode; null when nothing is left. */
export function reduce(values: Array<number | null>, reducer: Reducer): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (reducer === 'count') return v.length;
  if (v.length === 0) return null;
  switch (reducer) {
    case 'last':
      return v[v.length - 1] ?? null;
    case 'sum':
      return v.reduce((a, b) => a + b, 0);
    case 'max':
      return Math.max(...v);
    case 'min':
      return Math.min(...v);
    case 'mean':
      return v.reduce((a, b) => a + b, 0) / v.length;
  }
}

export interface EvaluatorModel {
  type: 'gt' | 'lt' | 'within_range' | 'outside_range';
  params: number[];
}

export function threshold(value: number | null, e: EvaluatorModel): boolean {
  if (value === null) return false;
  const [a = NaN, b = NaN] = e.params;
  switch (e.type) {
    case 'gt':
      return value > a;
    case 'lt':
      return value < a;
    case 'within_range':
      return value > a && value < b;
    case 'outside_range':
      return value < a || value > b;
  }
}

export function parseDurationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`bad duration ${JSON.stringify(d)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export interface InstanceResult {
  labels: Record<string, string>;
  value: number | null;
  conditionMet: boolean;
}

export interface Evaluation {
  /** The query returned no series at all. */
  noData: boolean;
  instances: InstanceResult[];
  /** The interpolated InfluxQL that ran. */
  query: string;
}

type RunQuery = (q: string) => Promise<InfluxSeries[]>;

function ruleParts(rule: AlertRule): { query: string; rangeS: number; reducer: Reducer; evaluator: EvaluatorModel } {
  const byRef = new Map(rule.data.map((d) => [d.refId, d]));
  const cond = byRef.get(rule.condition);
  if (!cond || cond.model['type'] !== 'threshold') throw new Error(`${rule.uid}: condition ${rule.condition} is not a threshold expression`);
  const red = byRef.get(String(cond.model['expression']));
  if (!red || red.model['type'] !== 'reduce') throw new Error(`${rule.uid}: threshold input is not a reduce expression`);
  const src = byRef.get(String(red.model['expression']));
  if (!src || typeof src.model['query'] !== 'string' || !src.relativeTimeRange) throw new Error(`${rule.uid}: reduce input is not a query`);
  const conditions = cond.model['conditions'] as Array<{ evaluator: EvaluatorModel }>;
  const evaluator = conditions[0]?.evaluator;
  if (!evaluator) throw new Error(`${rule.uid}: threshold has no evaluator`);
  return { query: src.model['query'], rangeS: src.relativeTimeRange.from, reducer: red.model['reducer'] as Reducer, evaluator };
}

/** Evaluates a rule's A → reduce → threshold chain once, as of `atMs`. */
export async function evaluateRule(rule: AlertRule, atMs: number, run: RunQuery): Promise<Evaluation> {
  const p = ruleParts(rule);
  const src = rule.data.find((d) => d.refId !== rule.condition && typeof d.model['query'] === 'string');
  const toS = src?.relativeTimeRange?.to ?? 0;
  const intervalMs = Number(src?.model['intervalMs'] ?? 1000);
  const query = interpolate(p.query, { fromMs: atMs - p.rangeS * 1000, toMs: atMs - toS * 1000, intervalMs });
  const series = toNumericSeries(await run(query));
  const instances = series.map((s) => {
    const value = reduce(
      s.points.map(([, v]) => v),
      p.reducer,
    );
    return { labels: s.labels, value, conditionMet: threshold(value, p.evaluator) };
  });
  return { noData: series.length === 0, instances, query };
}

export type AlertState = 'Normal' | 'Pending' | 'Alerting' | 'NoData';

/**
 * Runs the rule at every group-interval tick from `atMs - for` to `atMs` (as Grafana's
 * scheduler would have) and returns each instance's state at `atMs`, keyed by its labels.
 */
export async function ruleStates(rule: AlertRule, opts: { atMs: number; intervalMs: number; run: RunQuery }): Promise<Map<string, { state: AlertState; labels: Record<string, string>; value: number | null }>> {
  const forMs = parseDurationMs(rule.for);
  const ticks: number[] = [];
  for (let t = opts.atMs - forMs; t <= opts.atMs; t += opts.intervalMs) ticks.push(t);
  const pendingSince = new Map<string, number>();
  let states = new Map<string, { state: AlertState; labels: Record<string, string>; value: number | null }>();
  for (const t of ticks) {
    const ev = await evaluateRule(rule, t, opts.run);
    const next = new Map<string, { state: AlertState; labels: Record<string, string>; value: number | null }>();
    if (ev.noData) {
      const s: AlertState = rule.noDataState === 'OK' ? 'Normal' : rule.noDataState === 'Alerting' ? 'Alerting' : 'NoData';
      next.set('{}', { state: s, labels: {}, value: null });
    }
    for (const inst of ev.instances) {
      const key = JSON.stringify(Object.entries(inst.labels).sort());
      if (!inst.conditionMet) {
        pendingSince.delete(key);
        next.set(key, { state: 'Normal', labels: inst.labels, value: inst.value });
        continue;
      }
      const since = pendingSince.get(key) ?? t;
      pendingSince.set(key, since);
      next.set(key, { state: t - since >= forMs ? 'Alerting' : 'Pending', labels: inst.labels, value: inst.value });
    }
    states = next;
  }
  return states;
}
