/**
 * The four roamwatch dashboards, built as plain objects of Grafana's dashboard JSON model
 * (schemaVersion 39, Grafana 11). `npm run grafana:generate` writes them to
 * grafana/dashboards/*.json; test/unit/grafana.test.ts fails when the committed JSON differs
 * from what this file builds.
 */
import { Q } from './queries.js';
import type { Annotation, Dashboard, DatasourceRef, DatasourceVariable, FieldConfig, GridPos, InfluxQLTarget, Panel, QueryVariable } from './model.js';

/**
 * The provisioned InfluxQL datasource (grafana/provisioning/datasources/roamwatch.yaml). Alert
 * rules use it by uid (rules cannot use dashboard variables); dashboards use DASHBOARD_DATASOURCE.
 */
export const DATASOURCE: DatasourceRef = { type: 'influxdb', uid: 'roamwatch-influxdb' };
export const DATASOURCE_NAME = 'roamwatch InfluxDB (InfluxQL)';

/**
 * What every panel, target, variable and annotation of a dashboard refers to: the dashboard's
 * `$datasource` variable (first in each dashboard's variables), whose default is the
 * provisioned datasource. Imported into an existing Grafana, the dashboards run on whichever
 * InfluxDB datasource (InfluxQL) is picked there.
 */
export const DASHBOARD_DATASOURCE: DatasourceRef = { type: 'influxdb', uid: '${datasource}' };

export const DASHBOARD_UIDS = {
  fleet: 'roamwatch-fleet',
  gateway: 'roamwatch-gateway',
  incidents: 'roamwatch-incidents',
  pipeline: 'roamwatch-pipeline',
} as const;

/** Panel ids that alert rules link to (dashboardUid + panelId). */
export const PANEL_IDS = {
  fleetSpurious: 2,
  fleetAtRisk: 6,
  fleetSilent: 7,
  pipelineProcessorLag: 8,
  incidentsTimeline: 3,
} as const;

// ------------------------------------------------------------------ small builders

function target(query: string, opts: { refId?: string; format?: 'time_series' | 'table'; alias?: string } = {}): InfluxQLTarget {
  const t: InfluxQLTarget = {
    refId: opts.refId ?? 'A',
    datasource: DASHBOARD_DATASOURCE,
    query,
    rawQuery: true,
    resultFormat: opts.format ?? 'time_series',
  };
  if (opts.alias !== undefined) t.alias = opts.alias;
  return t;
}

function fields(defaults: Record<string, unknown> = {}): FieldConfig {
  return { defaults, overrides: [] };
}

interface PanelSpec {
  id: number;
  title: string;
  description: string;
  gridPos: GridPos;
  targets: InfluxQLTarget[];
}

function timeseries(p: PanelSpec & { unit?: string; decimals?: number; stack?: boolean; bars?: boolean }): Panel {
  return {
    id: p.id,
    type: 'timeseries',
    title: p.title,
    description: p.description,
    gridPos: p.gridPos,
    datasource: DASHBOARD_DATASOURCE,
    targets: p.targets,
    fieldConfig: fields({
      unit: p.unit ?? 'short',
      ...(p.decimals !== undefined ? { decimals: p.decimals } : {}),
      min: 0,
      custom: {
        drawStyle: p.bars ? 'bars' : 'line',
        fillOpacity: p.bars ? 80 : 10,
        stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' },
        spanNulls: false,
        showPoints: 'auto',
      },
    }),
    options: { legend: { displayMode: 'table', placement: 'right', calcs: ['sum', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

function stat(p: PanelSpec & { unit?: string; thresholds: Array<{ color: string; value: number | null }>; timeFrom?: string }): Panel {
  const panel: Panel = {
    id: p.id,
    type: 'stat',
    title: p.title,
    description: p.description,
    gridPos: p.gridPos,
    datasource: DASHBOARD_DATASOURCE,
    targets: p.targets,
    fieldConfig: fields({
      unit: p.unit ?? 'short',
      noValue: '0',
      thresholds: { mode: 'absolute', steps: p.thresholds },
      color: { mode: 'thresholds' },
    }),
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'value' },
  };
  if (p.timeFrom !== undefined) panel.timeFrom = p.timeFrom;
  return panel;
}

function table(p: PanelSpec & { timeFrom?: string; overrides?: FieldConfig['overrides'] }): Panel {
  const panel: Panel = {
    id: p.id,
    type: 'table',
    title: p.title,
    description: p.description,
    gridPos: p.gridPos,
    datasource: DASHBOARD_DATASOURCE,
    targets: p.targets,
    fieldConfig: { defaults: { custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: true } }, overrides: p.overrides ?? [] },
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
    // InfluxQL returns one frame per GROUP BY series; show them as one table.
    transformations: [{ id: 'merge', options: {} }],
  };
  if (p.timeFrom !== undefined) panel.timeFrom = p.timeFrom;
  return panel;
}

function unitOverride(field: string, unit: string): FieldConfig['overrides'][number] {
  return { matcher: { id: 'byName', options: field }, properties: [{ id: 'unit', value: unit }] };
}

function hostVariable(opts: { multi: boolean; query?: string }): QueryVariable {
  const query = opts.query ?? Q.vars.hostAny;
  return {
    type: 'query',
    name: 'host',
    label: 'Gateway',
    datasource: DASHBOARD_DATASOURCE,
    query,
    definition: query,
    refresh: 2,
    multi: opts.multi,
    includeAll: opts.multi,
    ...(opts.multi ? { allValue: '.*' } : {}),
    current: {},
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
  };
}

function connVariable(): QueryVariable {
  return {
    type: 'query',
    name: 'conn',
    label: 'Connection',
    datasource: DASHBOARD_DATASOURCE,
    query: Q.vars.conn,
    definition: Q.vars.conn,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: {},
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
  };
}

function incidentVariable(): QueryVariable {
  return {
    type: 'query',
    name: 'incident',
    label: 'Incident',
    datasource: DASHBOARD_DATASOURCE,
    query: Q.vars.incident,
    definition: Q.vars.incident,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: {},
    options: [],
    regex: '',
    sort: 2,
    hide: 0,
  };
}

function instanceVariable(): QueryVariable {
  return {
    type: 'query',
    name: 'instance',
    label: 'Processor instance',
    datasource: DASHBOARD_DATASOURCE,
    query: Q.vars.instance,
    definition: Q.vars.instance,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: {},
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
  };
}

function datasourceVariable(): DatasourceVariable {
  return {
    type: 'datasource',
    name: 'datasource',
    label: 'InfluxDB (InfluxQL)',
    query: 'influxdb',
    current: { selected: false, text: DATASOURCE_NAME, value: DATASOURCE.uid },
    options: [],
    refresh: 1,
    regex: '',
    multi: false,
    includeAll: false,
    hide: 0,
  };
}

const BUILTIN_ANNOTATION: Annotation = {
  name: 'Annotations & Alerts',
  builtIn: 1,
  type: 'dashboard',
  datasource: { type: 'grafana', uid: '-- Grafana --' },
  enable: true,
  hide: true,
  iconColor: 'rgba(0, 211, 255, 1)',
};

function influxAnnotation(name: string, query: string, iconColor: string, columns: { text: string; tags: string }): Annotation {
  return {
    name,
    datasource: DASHBOARD_DATASOURCE,
    enable: true,
    hide: false,
    iconColor,
    query,
    target: target(query, { refId: 'Anno', format: 'table' }),
    textColumn: columns.text,
    tagsColumn: columns.tags,
    titleColumn: '',
  };
}

function dashboard(d: Pick<Dashboard, 'uid' | 'title' | 'description' | 'templating' | 'panels'> & { annotations?: Annotation[]; from?: string }): Dashboard {
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['roamwatch'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    editable: false,
    graphTooltip: 1,
    refresh: '1m',
    time: { from: d.from ?? 'now-6h', to: 'now' },
    templating: { list: [datasourceVariable(), ...d.templating.list] },
    annotations: { list: [BUILTIN_ANNOTATION, ...(d.annotations ?? [])] },
    links: [{ title: 'roamwatch', type: 'dashboards', tags: ['roamwatch'], asDropdown: true, includeVars: false, keepTime: true }],
    panels: d.panels,
  };
}

const W = 24;

// ------------------------------------------------------------------ the dashboards

export function fleetOverview(): Dashboard {
  return dashboard({
    uid: DASHBOARD_UIDS.fleet,
    title: 'roamwatch / Fleet overview',
    description: 'Spurious IKE_SA reauthentications caused by routing churn across the fleet, what they cost, and which SAs are at risk now.',
    templating: { list: [hostVariable({ multi: true })] },
    panels: [
      stat({
        id: 1,
        title: 'Spurious reauths',
        description: 'Reauthentications classified `spurious` in the time range: charon tore an IKE_SA down although its path had not changed.',
        gridPos: { x: 0, y: 0, w: 4, h: 4 },
        targets: [target(Q.fleet.spuriousTotal)],
        thresholds: [{ color: 'green', value: null }, { color: 'red', value: 1 }],
      }),
      stat({
        id: 3,
        title: 'Tunnel downtime caused',
        description: 'Sum of `downtime_ms` of spurious reauths: time without an IKE_SA between the old one going down and the new one coming up.',
        gridPos: { x: 4, y: 0, w: 4, h: 4 },
        targets: [target(Q.fleet.downtimeTotal)],
        unit: 's',
        thresholds: [{ color: 'green', value: null }, { color: 'orange', value: 0.001 }],
      }),
      stat({
        id: PANEL_IDS.fleetAtRisk,
        title: 'SAs at risk now',
        description: 'IKE_SAs whose latest path verdict is `at_risk = 1`: the next unrelated route change will reauthenticate them. Looks back 30 days because a verdict is written only when it changes.',
        gridPos: { x: 8, y: 0, w: 4, h: 4 },
        targets: [target(Q.fleet.atRiskNow)],
        thresholds: [{ color: 'green', value: null }, { color: 'orange', value: 1 }],
        timeFrom: '30d',
      }),
      stat({
        id: PANEL_IDS.fleetSilent,
        title: 'Agents silent',
        description: 'Agents seen in the last 24 h that sent no heartbeat in the last 5–6 minutes.',
        gridPos: { x: 12, y: 0, w: 4, h: 4 },
        targets: [target(Q.fleet.agentsSilent)],
        thresholds: [{ color: 'green', value: null }, { color: 'red', value: 1 }],
        timeFrom: '24h',
      }),
      table({
        id: 9,
        title: 'SAs at risk: what to change',
        description: 'Every SA at risk now, with the reason and the exact fix (from the agent\'s path analyzer).',
        gridPos: { x: 16, y: 0, w: 8, h: 8 },
        targets: [target(Q.fleet.atRiskTable, { format: 'table' })],
        timeFrom: '30d',
      }),
      timeseries({
        id: PANEL_IDS.fleetSpurious,
        title: 'Spurious reauths by gateway and connection',
        description: 'Count of spurious reauthentications per interval, one series per host / connection.',
        gridPos: { x: 0, y: 4, w: 16, h: 8 },
        targets: [target(Q.fleet.spuriousOverTime, { alias: '$tag_host / $tag_conn' })],
        bars: true,
        stack: true,
      }),
      timeseries({
        id: 4,
        title: 'Reauths by class',
        description: 'All reauthentications by class: spurious, address-moved, legitimate, scheduled, manual, peer, unknown.',
        gridPos: { x: 0, y: 12, w: 12, h: 8 },
        targets: [target(Q.fleet.reauthsByClass, { alias: '$tag_class' })],
        bars: true,
        stack: true,
      }),
      timeseries({
        id: 5,
        title: 'Route-change rate',
        description: 'Route add/remove/replace events seen by the agents, per minute, per gateway.',
        gridPos: { x: 12, y: 12, w: 12, h: 8 },
        targets: [target(Q.fleet.routeChangeRate, { alias: '$tag_host' })],
        unit: 'short',
      }),
      timeseries({
        id: 10,
        title: 'Tunnel downtime caused by spurious reauths',
        description: 'Seconds without an IKE_SA caused by spurious reauthentications, per interval.',
        gridPos: { x: 0, y: 20, w: 24, h: 8 },
        targets: [target(Q.fleet.downtimeOverTime, { alias: '$tag_host / $tag_conn' })],
        unit: 's',
        bars: true,
        stack: true,
      }),
      timeseries({
        id: 11,
        title: 'Remediation progress: SAs fixed per gateway',
        description: 'IKE_SAs whose path went from at risk to valid (roamwatch_remediation), per gateway, split by who applied the fix: roamwatch (doctor --apply) or by hand.',
        gridPos: { x: 0, y: 28, w: 24, h: 8 },
        targets: [target(Q.fleet.remediatedOverTime, { alias: '$tag_host ($tag_applied_by)' })],
        bars: true,
        stack: true,
      }),
      table({
        id: 12,
        title: 'Fixed since',
        description:
          'IKE_SAs whose path moved out of at risk and stayed so: the time is when (roamwatch_path_change). With "SAs at risk: what to change" this is the at-risk inventory of a remediation campaign; an SA at risk again leaves this table.',
        gridPos: { x: 0, y: 36, w: 14, h: 8 },
        targets: [target(Q.fleet.fixedSince, { format: 'table' })],
        timeFrom: '30d',
      }),
      table({
        id: 13,
        title: 'Remediation campaign by gateway',
        description: 'Per gateway, IKE_SAs that were at risk within 30 days: how many are fixed now and how many are still at risk.',
        gridPos: { x: 14, y: 36, w: 10, h: 8 },
        targets: [target(Q.fleet.fixedByGateway, { format: 'table' })],
        timeFrom: '30d',
      }),
    ],
  });
}

export function gatewayDrilldown(): Dashboard {
  return dashboard({
    uid: DASHBOARD_UIDS.gateway,
    title: 'roamwatch / Gateway',
    description: 'One gateway: its connections, reauthentications, SA events and the network changes that preceded them.',
    templating: { list: [hostVariable({ multi: false }), connVariable()] },
    annotations: [
      influxAnnotation('Route changes', Q.gateway.annoRouteChanges, 'orange', { text: 'count', tags: 'kind,op' }),
      influxAnnotation('Reauths', Q.gateway.annoReauths, 'red', { text: 'trigger', tags: 'class,conn' }),
    ],
    from: 'now-3h',
    panels: [
      timeseries({
        id: 1,
        title: 'Reauths by connection and class',
        description: 'Reauthentications of this gateway; red annotations mark each one, orange ones each route-change window.',
        gridPos: { x: 0, y: 0, w: 12, h: 8 },
        targets: [target(Q.gateway.reauthsByConnClass, { alias: '$tag_conn $tag_class' })],
        bars: true,
        stack: true,
      }),
      timeseries({
        id: 2,
        title: 'Downtime per reauth',
        description: 'Tunnel downtime of each reauthentication (ms).',
        gridPos: { x: 12, y: 0, w: 12, h: 8 },
        targets: [target(Q.gateway.downtime, { alias: '$tag_conn $tag_class' })],
        unit: 'ms',
        bars: true,
      }),
      timeseries({
        id: 3,
        title: 'Network changes by kind',
        description: 'Route, address, link and rule changes seen by the agent (10-second windows).',
        gridPos: { x: 0, y: 8, w: 12, h: 8 },
        targets: [target(Q.gateway.netChanges, { alias: '$tag_kind $tag_op' })],
        bars: true,
        stack: true,
      }),
      timeseries({
        id: 4,
        title: 'IKE_SA up/down events',
        description: 'IKE_SA up and down events per connection.',
        gridPos: { x: 12, y: 8, w: 12, h: 8 },
        targets: [target(Q.gateway.saEvents, { alias: '$tag_conn $tag_state' })],
        bars: true,
      }),
      {
        id: 5,
        type: 'state-timeline',
        title: 'IKE_SAs at risk per connection',
        description: 'How many of the connection\'s IKE_SAs (one per peer, docs/metrics.md) the path analyzer holds at risk: the next route change will reauthenticate them. 0 = ok.',
        gridPos: { x: 0, y: 16, w: 12, h: 6 },
        datasource: DASHBOARD_DATASOURCE,
        targets: [target(Q.gateway.pathAtRisk, { alias: '$tag_conn' })],
        fieldConfig: fields({
          thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: 1 }] },
          color: { mode: 'thresholds' },
          mappings: [{ type: 'value', options: { '0': { text: 'ok', index: 0 } } }],
        }),
        options: { showValue: 'auto', mergeValues: true, rowHeight: 0.9 },
      },
      timeseries({
        id: 6,
        title: 'Rekeys',
        description: 'IKE and CHILD_SA rekeys (these are not reauthentications and cause no downtime).',
        gridPos: { x: 12, y: 16, w: 12, h: 6 },
        targets: [target(Q.gateway.rekeys, { alias: '$tag_conn $tag_sa' })],
        bars: true,
      }),
      table({
        id: 7,
        title: 'Reauthentications',
        description: 'Every reauthentication of this gateway with its class, trigger, latency, downtime and suggested fix.',
        gridPos: { x: 0, y: 22, w: W, h: 10 },
        targets: [target(Q.gateway.reauthTable, { format: 'table' })],
        overrides: [unitOverride('latency_ms', 'ms'), unitOverride('downtime_ms', 'ms')],
      }),
    ],
  });
}

export function incidentTable(): Dashboard {
  return dashboard({
    uid: DASHBOARD_UIDS.incidents,
    title: 'roamwatch / Incidents',
    description:
      'Incidents: spurious reauths on many gateways with one cause (one upstream route change), grouped by the processor; ' +
      'per incident its gateways, connections, reauths, downtime, the common trigger and the fix per gateway. Below: every spurious reauth on its own.',
    templating: { list: [incidentVariable(), hostVariable({ multi: true })] },
    annotations: [influxAnnotation('Incidents', Q.incidents.annoIncidents, 'red', { text: 'cause', tags: 'incident_id,trigger_kind' })],
    from: 'now-7d',
    panels: [
      timeseries({
        id: PANEL_IDS.incidentsTimeline,
        title: 'Incidents: gateways hit',
        description: 'One bar per incident at its start: how many gateways reauthenticated for its cause. Red annotations mark each incident with its cause.',
        gridPos: { x: 0, y: 0, w: W, h: 7 },
        targets: [target(Q.incidents.timeline, { alias: '$tag_incident_id' })],
        bars: true,
        stack: true,
      }),
      table({
        id: 4,
        title: 'Incidents',
        description:
          'Newest first, the latest report of each: `state` opened / updated / closed (after the quiet period), `cause` the common trigger (kind, op, prefix), ' +
          '`trigger` one gateway\'s view of it, gateways (`hosts`), `connections`, `reauths` and total tunnel `downtime_ms`.',
        gridPos: { x: 0, y: 7, w: W, h: 8 },
        targets: [target(Q.incidents.list, { format: 'table' })],
        overrides: [unitOverride('downtime_ms', 'ms')],
      }),
      table({
        id: 5,
        title: 'Gateways of the incident',
        description: 'The gateways of the incident(s) chosen in the Incident variable: connections, reauths and downtime on each, and the fix that would have prevented it there.',
        gridPos: { x: 0, y: 15, w: W, h: 9 },
        targets: [target(Q.incidents.gateways, { format: 'table' })],
        overrides: [unitOverride('downtime_ms', 'ms')],
      }),
      table({
        id: 1,
        title: 'Spurious reauths',
        description: 'Newest first. `trigger` is the route/address/link change that armed charon\'s roam job; `fix` is what to change on the gateway.',
        gridPos: { x: 0, y: 24, w: W, h: 14 },
        targets: [target(Q.incidents.table, { format: 'table' })],
        overrides: [unitOverride('latency_ms', 'ms'), unitOverride('downtime_ms', 'ms')],
      }),
      table({
        id: 2,
        title: 'By gateway and connection',
        description: 'Spurious reauths, total downtime and mean latency (route change → reauth) per host and connection.',
        gridPos: { x: 0, y: 38, w: W, h: 8 },
        targets: [target(Q.incidents.downtimeByConn, { format: 'table' })],
        overrides: [unitOverride('downtime_s', 's'), unitOverride('mean_latency_ms', 'ms')],
      }),
    ],
  });
}

export function pipelineHealth(): Dashboard {
  return dashboard({
    uid: DASHBOARD_UIDS.pipeline,
    title: 'roamwatch / Pipeline health',
    description: 'Is roamwatch itself working: agent heartbeats and spools, processor lag and dead letters.',
    templating: { list: [hostVariable({ multi: true, query: Q.vars.host }), instanceVariable()] },
    from: 'now-3h',
    panels: [
      timeseries({
        id: 1,
        title: 'Agent heartbeats',
        description: '`agent.status` heartbeats received per interval, per gateway. A gap is an agent (or its Kafka path) down.',
        gridPos: { x: 0, y: 0, w: 12, h: 8 },
        targets: [target(Q.pipeline.heartbeats, { alias: '$tag_host' })],
        bars: true,
      }),
      table({
        id: 2,
        title: 'Heartbeats in the last minutes',
        description: 'Per agent: heartbeats per minute over the last 5–6 minutes. 0 = silent.',
        gridPos: { x: 12, y: 0, w: 12, h: 8 },
        targets: [target(Q.pipeline.heartbeatsRecent, { format: 'table' })],
        timeFrom: '24h',
      }),
      timeseries({
        id: 3,
        title: 'Spool size',
        description: 'Bytes in each agent\'s on-disk spool: events not yet acknowledged by Kafka. Growing = Kafka unreachable from that gateway.',
        gridPos: { x: 0, y: 8, w: 12, h: 8 },
        targets: [target(Q.pipeline.spoolBytes, { alias: '$tag_host' })],
        unit: 'bytes',
      }),
      timeseries({
        id: 4,
        title: 'Spooled events',
        description: 'Events waiting in each agent\'s spool.',
        gridPos: { x: 12, y: 8, w: 12, h: 8 },
        targets: [target(Q.pipeline.spoolEvents, { alias: '$tag_host' })],
      }),
      timeseries({
        id: 5,
        title: 'Agent sources connected',
        description: '1 = connected. vici: charon\'s control socket; rtnetlink: the kernel\'s routing events.',
        gridPos: { x: 0, y: 16, w: 12, h: 6 },
        targets: [target(Q.pipeline.sourcesConnected, { alias: '$tag_host $col' })],
      }),
      timeseries({
        id: 6,
        title: 'Agent lag',
        description: 'Per gateway: age of the oldest event the agent has not yet had acknowledged by Kafka (max per interval).',
        gridPos: { x: 12, y: 16, w: 6, h: 6 },
        targets: [target(Q.pipeline.agentLag, { alias: '$tag_host' })],
        unit: 'ms',
      }),
      timeseries({
        id: 11,
        title: 'Events dropped',
        description: 'Per gateway: events the agent dropped since it started (a count, not a rate; it rises only when a source overflowed or the spool bound was hit).',
        gridPos: { x: 18, y: 16, w: 6, h: 6 },
        targets: [target(Q.pipeline.eventsDropped, { alias: '$tag_host' })],
        unit: 'none',
        decimals: 0,
      }),
      timeseries({
        id: PANEL_IDS.pipelineProcessorLag,
        title: 'Processor lag',
        description: 'How far each processor instance is behind the newest event (ms, wall clock).',
        gridPos: { x: 0, y: 22, w: 8, h: 8 },
        targets: [target(Q.pipeline.processorLag, { alias: '$tag_instance' })],
        unit: 'ms',
      }),
      timeseries({
        id: 9,
        title: 'Processor events in',
        description: 'Events consumed per interval, from each instance\'s self-reports (every 10 s).',
        gridPos: { x: 8, y: 22, w: 8, h: 8 },
        targets: [target(Q.pipeline.processorEvents, { alias: '$tag_instance' })],
      }),
      timeseries({
        id: 10,
        title: 'Dead letters',
        description: 'Records the processor could not decode and sent to the dead-letter topic, per interval and instance. Any is worth a look: an agent of another version, or a corrupted record.',
        gridPos: { x: 16, y: 22, w: 8, h: 8 },
        targets: [target(Q.pipeline.deadLetters, { alias: '$tag_instance' })],
      }),
    ],
  });
}

export function allDashboards(): Dashboard[] {
  return [fleetOverview(), gatewayDrilldown(), incidentTable(), pipelineHealth()];
}
