/**
 * roamwatch's alert rules, contact point and notification policy, in Grafana's alerting
 * file-provisioning format (apiVersion 1). Written to grafana/provisioning/alerting/roamwatch.yaml.
 *
 * Every rule is A (InfluxQL query) → B (reduce, dropping non-numbers) → C (threshold), with
 * C as the condition. One alert instance per series of A, i.e. per the GROUP BY tags.
 * The threshold semantics and for-durations are stated in each rule's `description`
 * annotation and in docs/grafana.md.
 */
import { A, PROCESSOR_LAG_BOUND_MS, SILENT_WINDOW_MIN } from './queries.js';
import { DASHBOARD_UIDS, DATASOURCE, PANEL_IDS } from './dashboards.js';
import type { AlertQuery, AlertRule, AlertingFile } from './model.js';

export const ALERT_FOLDER = 'roamwatch';
/**
 * Where docs/runbook.md is served for the operators (a repository's web view, a wiki). Grafana
 * expands environment variables in rule *labels* but not in annotations (Grafana 11; annotations
 * keep `{{ $labels… }}` templates intact), so the URL goes into the `runbook` label and each
 * rule's `runbook_url` annotation is templated from it plus the rule's section anchor. Grafana
 * shows `runbook_url` as a link on the alert and passes it to notifications.
 */
export const RUNBOOK_ENV = 'ROAMWATCH_RUNBOOK_URL';
/** How far back the agent-silent rule looks for agents that ever sent a heartbeat (days). */
export const SILENT_LOOKBACK_DAYS = 7;
export const CONTACT_POINT = 'roamwatch-oncall';
/** Grafana's server-side expressions "datasource". */
export const EXPR_UID = '__expr__';

export type Reducer = 'last' | 'sum' | 'max' | 'min' | 'mean' | 'count';
export type Evaluator = { type: 'gt' | 'lt'; params: [number] } | { type: 'within_range' | 'outside_range'; params: [number, number] };

function influxql(query: string, fromSeconds: number): AlertQuery {
  return {
    refId: 'A',
    datasourceUid: DATASOURCE.uid,
    relativeTimeRange: { from: fromSeconds, to: 0 },
    model: { refId: 'A', datasource: DATASOURCE, query, rawQuery: true, resultFormat: 'time_series', intervalMs: 60_000, maxDataPoints: 43_200 },
  };
}

function reduce(reducer: Reducer): AlertQuery {
  return {
    refId: 'B',
    datasourceUid: EXPR_UID,
    model: { refId: 'B', datasource: { type: '__expr__', uid: EXPR_UID }, type: 'reduce', expression: 'A', reducer, settings: { mode: 'dropNN' } },
  };
}

function threshold(evaluator: Evaluator): AlertQuery {
  return {
    refId: 'C',
    datasourceUid: EXPR_UID,
    model: { refId: 'C', datasource: { type: '__expr__', uid: EXPR_UID }, type: 'threshold', expression: 'B', conditions: [{ evaluator }] },
  };
}

interface RuleSpec {
  uid: string;
  title: string;
  query: string;
  /** Look-back of the query, seconds before the evaluation time. */
  rangeSeconds: number;
  reducer: Reducer;
  evaluator: Evaluator;
  for: string;
  noDataState: AlertRule['noDataState'];
  severity: 'critical' | 'warning';
  dashboardUid: string;
  panelId: number;
  summary: string;
  description: string;
}

/**
 * The anchor of a rule's section in docs/runbook.md, whose heading is the rule's title: the
 * heading slug of GitHub/GitLab-style Markdown (lower case; what is not a letter, digit, space,
 * `-` or `_` removed; spaces become `-`).
 */
export function runbookAnchor(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

function rule(s: RuleSpec): AlertRule {
  return {
    uid: s.uid,
    title: s.title,
    condition: 'C',
    data: [influxql(s.query, s.rangeSeconds), reduce(s.reducer), threshold(s.evaluator)],
    noDataState: s.noDataState,
    execErrState: 'Error',
    for: s.for,
    dashboardUid: s.dashboardUid,
    panelId: s.panelId,
    annotations: { summary: s.summary, description: s.description, runbook_url: `{{ $labels.runbook }}#${runbookAnchor(s.title)}` },
    labels: { team: 'network', component: 'roamwatch', severity: s.severity, runbook: `\${${RUNBOOK_ENV}}` },
    isPaused: false,
  };
}

export const RULES: AlertRule[] = [
  rule({
    uid: 'roamwatch-spurious-reauth',
    title: 'Spurious IKE_SA reauthentication',
    query: A.spuriousReauth,
    rangeSeconds: 15 * 60,
    reducer: 'sum',
    evaluator: { type: 'gt', params: [0] },
    for: '0s',
    noDataState: 'OK',
    severity: 'warning',
    dashboardUid: DASHBOARD_UIDS.fleet,
    panelId: PANEL_IDS.fleetSpurious,
    summary: '{{ $labels.host }} / {{ $labels.conn }}: {{ $values.B }} spurious reauthentication(s) in the last 15 minutes',
    description:
      'Fires per host and connection as soon as (for 0s) the sum of roamwatch_reauth.count with class=spurious over the last 15 minutes is > 0, ' +
      'i.e. on the first evaluation after a spurious reauth is written; it resolves 15 minutes after the last one. No data (no reauths) is OK.',
  }),
  rule({
    uid: 'roamwatch-sa-at-risk',
    title: 'IKE_SA at risk of spurious reauthentication',
    query: A.saAtRisk,
    rangeSeconds: 30 * 24 * 3600,
    reducer: 'last',
    evaluator: { type: 'gt', params: [0] },
    for: '5m',
    noDataState: 'OK',
    severity: 'warning',
    dashboardUid: DASHBOARD_UIDS.fleet,
    panelId: PANEL_IDS.fleetAtRisk,
    summary: '{{ $labels.host }} / {{ $labels.conn }}: the next route change will reauthenticate {{ $values.B }} IKE_SA(s) of this connection',
    description:
      'Fires per host and connection when the number of its IKE_SAs (one roamwatch_path series per SA: conn + peer) whose latest at_risk verdict within 30 days is 1 is > 0 ' +
      'on every evaluation for 5 minutes (the grace lets an operator apply a fix without a page). A verdict is written only when it changes, ' +
      'hence the 30-day look-back. No data is OK.',
  }),
  rule({
    uid: 'roamwatch-agent-silent',
    title: 'roamwatch agent silent',
    query: A.agentSilent,
    rangeSeconds: SILENT_LOOKBACK_DAYS * 24 * 3600,
    reducer: 'last',
    evaluator: { type: 'lt', params: [0.5] },
    for: '0s',
    noDataState: 'Alerting',
    severity: 'critical',
    dashboardUid: DASHBOARD_UIDS.fleet,
    panelId: PANEL_IDS.fleetSilent,
    summary: '{{ $labels.host }}: no roamwatch agent heartbeat for at least ' + (SILENT_WINDOW_MIN - 1) + ' minutes',
    description:
      `Fires per host that sent heartbeats (roamwatch_agent) within the last ${SILENT_LOOKBACK_DAYS} days when it sent none in the last ${SILENT_WINDOW_MIN} one-minute buckets ` +
      `(the value is heartbeats per minute averaged over those buckets; the threshold is < 0.5, i.e. zero), so after ${SILENT_WINDOW_MIN - 1} to ${SILENT_WINDOW_MIN} minutes of silence; ` +
      `for 0s because the window is in the query. It keeps firing for ${SILENT_LOOKBACK_DAYS} days of silence; only then does the host drop out of the query and the alert resolve ` +
      '(decommissioning a gateway therefore needs no action; a longer horizon costs one more bucket per host and minute on every evaluation). ' +
      `No data at all (no agent sent a heartbeat in ${SILENT_LOOKBACK_DAYS} days) alerts too: roamwatch sees no gateway.`,
  }),
  rule({
    uid: 'roamwatch-processor-lag',
    title: 'roamwatch processor lagging',
    query: A.processorLag,
    rangeSeconds: 5 * 60,
    reducer: 'last',
    evaluator: { type: 'gt', params: [PROCESSOR_LAG_BOUND_MS] },
    for: '5m',
    noDataState: 'Alerting',
    severity: 'critical',
    dashboardUid: DASHBOARD_UIDS.pipeline,
    panelId: PANEL_IDS.pipelineProcessorLag,
    summary: '{{ $labels.instance }}: processor lag {{ $values.B }} ms is above ' + PROCESSOR_LAG_BOUND_MS + ' ms',
    description:
      `Fires per processor instance when its latest self-reported lag_ms (roamwatch_processor, last 5 minutes) is > ${PROCESSOR_LAG_BOUND_MS} ms ` +
      'on every evaluation for 5 minutes. No data at all (no instance reported for 5 minutes) alerts too: the processor is down.',
  }),
  rule({
    uid: 'roamwatch-incident',
    title: 'Fleet incident: spurious reauths with one cause',
    query: A.incident,
    rangeSeconds: 15 * 60,
    reducer: 'last',
    evaluator: { type: 'gt', params: [0] },
    for: '0s',
    noDataState: 'OK',
    severity: 'warning',
    dashboardUid: DASHBOARD_UIDS.incidents,
    panelId: PANEL_IDS.incidentsTimeline,
    summary: 'Incident {{ $labels.incident_id }}: {{ $values.B }} gateway(s) reauthenticated for one cause',
    description:
      'One alert per incident (instead of one per reauth: the rule "Spurious IKE_SA reauthentication" stays for per-connection paging). ' +
      'Fires per incident_id as soon as (for 0s) an incident started in the last 15 minutes (roamwatch_incident points sit at the incident start; the value is its gateways so far, > 0); ' +
      'it resolves 15 minutes after the incident started. No data (no incident) is OK. The incidents dashboard shows its cause, gateways and fixes.',
  }),
];

export function alertingFile(): AlertingFile {
  return {
    apiVersion: 1,
    groups: [{ orgId: 1, name: 'roamwatch', folder: ALERT_FOLDER, interval: '1m', rules: RULES }],
    contactPoints: [
      {
        orgId: 1,
        name: CONTACT_POINT,
        receivers: [
          {
            uid: 'roamwatch-oncall-webhook',
            type: 'webhook',
            // Grafana expands environment variables in provisioning files.
            settings: { url: '$ROAMWATCH_ALERT_WEBHOOK_URL', httpMethod: 'POST' },
            disableResolveMessage: false,
          },
        ],
      },
    ],
    policies: [
      {
        orgId: 1,
        receiver: CONTACT_POINT,
        group_by: ['grafana_folder', 'alertname', 'host'],
        group_wait: '30s',
        group_interval: '5m',
        repeat_interval: '4h',
        routes: [{ receiver: CONTACT_POINT, object_matchers: [['severity', '=', 'critical']], group_by: ['alertname', 'host', 'instance'], continue: false }],
      },
    ],
  };
}
