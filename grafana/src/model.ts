/**
 * The parts of Grafana's dashboard JSON model and alerting file-provisioning format that
 * roamwatch uses, as TypeScript types.
 *
 * Why plain typed objects and not @grafana/grafana-foundation-sdk: the SDK's builders
 * cover the dashboard model well, but its datasource query kinds include no InfluxDB one
 * (checked on 11.6.0-cogv0.0.x), and its alerting builders follow the provisioning HTTP
 * API rather than the file format Grafana reads from disk. Every query and every alert
 * rule would bypass its types anyway, for one more pinned dependency. Instead, these types are small and explicit, and the output is checked in tests
 * against JSON Schemas transcribed from Grafana's documentation (grafana/src/schemas.ts).
 * See docs/grafana.md.
 */

export interface DatasourceRef {
  type: string;
  uid: string;
}

/** An InfluxQL query in raw mode (Grafana's InfluxDB datasource, InfluxQL dialect). */
export interface InfluxQLTarget {
  refId: string;
  datasource: DatasourceRef;
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  /** Series alias; `$tag_<name>` is replaced by the series' tag value. */
  alias?: string;
  hide?: boolean;
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface FieldConfig {
  defaults: Record<string, unknown>;
  overrides: Array<{ matcher: { id: string; options: unknown }; properties: Array<{ id: string; value: unknown }> }>;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'table' | 'state-timeline' | 'row' | 'text';
  title: string;
  description?: string;
  gridPos: GridPos;
  datasource?: DatasourceRef;
  targets?: InfluxQLTarget[];
  fieldConfig?: FieldConfig;
  options?: Record<string, unknown>;
  transformations?: Array<{ id: string; options: Record<string, unknown> }>;
  /** Panel time override, e.g. "30d": the panel's `$timeFilter` covers the last 30 days. */
  timeFrom?: string;
  interval?: string;
  collapsed?: boolean;
  panels?: Panel[];
}

export interface QueryVariable {
  type: 'query';
  name: string;
  label: string;
  datasource: DatasourceRef;
  query: string;
  definition: string;
  /** 1 = on dashboard load, 2 = on time range change. */
  refresh: 1 | 2;
  multi: boolean;
  includeAll: boolean;
  allValue?: string;
  current: Record<string, unknown>;
  options: unknown[];
  regex: string;
  sort: number;
  hide: 0 | 1 | 2;
}

/**
 * A data source variable: the dashboard's queries use `${datasource}`, so a dashboard imported
 * into an existing Grafana runs on whichever InfluxDB (InfluxQL) data source is chosen, not
 * only on one with the provisioned uid.
 */
export interface DatasourceVariable {
  type: 'datasource';
  name: string;
  label: string;
  /** The plugin id of the data sources offered. */
  query: string;
  /** Default choice; Grafana falls back to the first matching data source when it does not exist. */
  current: { selected: boolean; text: string; value: string };
  options: unknown[];
  refresh: 1;
  regex: string;
  multi: false;
  includeAll: false;
  hide: 0 | 1 | 2;
}

export interface Annotation {
  name: string;
  datasource: DatasourceRef;
  enable: boolean;
  hide: boolean;
  iconColor: string;
  builtIn?: 1;
  type?: string;
  /** InfluxQL annotation query: one annotation per returned row. */
  query?: string;
  target?: InfluxQLTarget;
  textColumn?: string;
  tagsColumn?: string;
  titleColumn?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: 'utc' | 'browser';
  schemaVersion: number;
  version: number;
  editable: boolean;
  graphTooltip: 0 | 1 | 2;
  refresh: string;
  time: { from: string; to: string };
  templating: { list: Array<DatasourceVariable | QueryVariable> };
  annotations: { list: Annotation[] };
  links: Array<{ title: string; type: 'dashboards' | 'link'; tags?: string[]; asDropdown?: boolean; url?: string; includeVars?: boolean; keepTime?: boolean }>;
  panels: Panel[];
}

// ------------------------------------------------------------------ alerting (file format)

/** One query or expression of a rule (`data[]`). */
export interface AlertQuery {
  refId: string;
  datasourceUid: string;
  /** Seconds before the evaluation time: { from: 900, to: 0 } is "the last 15 minutes". */
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, unknown> & { refId: string };
}

export interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: AlertQuery[];
  noDataState: 'OK' | 'NoData' | 'Alerting' | 'KeepLast';
  execErrState: 'OK' | 'Error' | 'Alerting' | 'KeepLast';
  for: string;
  dashboardUid?: string;
  panelId?: number;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  isPaused: boolean;
}

export interface AlertRuleGroup {
  orgId: number;
  name: string;
  folder: string;
  interval: string;
  rules: AlertRule[];
}

export interface ContactPoint {
  orgId: number;
  name: string;
  receivers: Array<{ uid: string; type: string; settings: Record<string, unknown>; disableResolveMessage: boolean }>;
}

export interface NotificationPolicy {
  orgId: number;
  receiver: string;
  group_by: string[];
  group_wait: string;
  group_interval: string;
  repeat_interval: string;
  routes?: Array<{ receiver: string; object_matchers: Array<[string, string, string]>; group_by?: string[]; continue?: boolean }>;
}

export interface AlertingFile {
  apiVersion: 1;
  groups: AlertRuleGroup[];
  contactPoints: ContactPoint[];
  policies: NotificationPolicy[];
}
