/**
 * Every InfluxQL query that roamwatch's dashboards and alert rules run, in one place.
 *
 * Why InfluxQL and not Flux (docs/grafana.md has the long version):
 *  - the same text runs on InfluxDB 1.8 (the test server), 2.x through its DBRP mapping
 *    (docker-compose; a bucket gets a "virtual" mapping automatically) and 3.x, which has
 *    no Flux at all; Flux is in maintenance mode upstream;
 *  - the test server's Flux is 0.65 (2020), so a Flux query proven there says little about
 *    the Flux of InfluxDB 2.7, while InfluxQL's SELECT has not changed between them;
 *  - Grafana evaluates InfluxQL alert rules in its backend, with `$timeFilter` and
 *    `$__interval` filled in from the rule's relative time range.
 *
 * Rules of the house, checked by test/unit/grafana.test.ts:
 *  - identifiers are always double-quoted, string literals single-quoted;
 *  - every query bounds time with `$timeFilter` (never `now()`), so that a test can evaluate
 *    a query "as of" any instant, exactly as Grafana does from the rule's relative range;
 *  - dashboard queries filter by the `$host` (and `$conn`, `$instance`) template variables
 *    with `=~ /^$var$/`, the form Grafana expands for multi-value and "All" (`.*`);
 *  - names come from docs/metrics.md (the processor's contract) and nothing else.
 */

/** Measurements of docs/metrics.md. */
export const M = {
  reauth: 'roamwatch_reauth',
  rekey: 'roamwatch_rekey',
  sa: 'roamwatch_sa',
  netChanges: 'roamwatch_net_changes',
  path: 'roamwatch_path',
  remediation: 'roamwatch_remediation',
  pathChange: 'roamwatch_path_change',
  incident: 'roamwatch_incident',
  incidentHost: 'roamwatch_incident_host',
  agent: 'roamwatch_agent',
  processor: 'roamwatch_processor',
} as const;

/**
 * An agent is "silent" when it sent no heartbeat in the last SILENT_WINDOW_MIN one-minute
 * buckets (the newest bucket is the current, partial minute): between
 * SILENT_WINDOW_MIN − 1 and SILENT_WINDOW_MIN minutes without a heartbeat. Only agents
 * seen within the query's range (24 h for the alert) are considered.
 */
export const SILENT_WINDOW_MIN = 6;

/** Processor lag above this bound (ms) is an alert (after its for-duration). */
export const PROCESSOR_LAG_BOUND_MS = 60_000;

const hostF = `"host" =~ /^$host$/`;
const connF = `"conn" =~ /^$conn$/`;
const instF = `"instance" =~ /^$instance$/`;
const incF = `"incident_id" =~ /^$incident$/`;

/** Per-host heartbeat counts over the last SILENT_WINDOW_MIN minutes (newest value = now). */
function heartbeatsRecent(where: string): string {
  return (
    `SELECT last("hb") AS "heartbeats" FROM (` +
    `SELECT moving_average(count("uptime_s"), ${SILENT_WINDOW_MIN}) AS "hb" FROM "${M.agent}" ` +
    `WHERE ${where}$timeFilter GROUP BY time(1m), "host" fill(0)` +
    `) GROUP BY "host"`
  );
}

/** Queries of the dashboards, by dashboard. */
export const Q = {
  vars: {
    host: `SHOW TAG VALUES FROM "${M.agent}" WITH KEY = "host"`,
    hostAny: `SHOW TAG VALUES FROM "${M.reauth}", "${M.sa}", "${M.path}", "${M.agent}" WITH KEY = "host"`,
    conn: `SHOW TAG VALUES FROM "${M.sa}", "${M.path}", "${M.reauth}" WITH KEY = "conn" WHERE ${hostF}`,
    instance: `SHOW TAG VALUES FROM "${M.processor}" WITH KEY = "instance"`,
    incident: `SHOW TAG VALUES FROM "${M.incident}" WITH KEY = "incident_id"`,
  },
  fleet: {
    spuriousOverTime:
      `SELECT sum("count") FROM "${M.reauth}" WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host", "conn" fill(0)`,
    spuriousTotal: `SELECT sum("count") FROM "${M.reauth}" WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter`,
    reauthsByClass:
      `SELECT sum("count") FROM "${M.reauth}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "class" fill(0)`,
    routeChangeRate:
      `SELECT sum("count") * 60000 / $__interval_ms FROM "${M.netChanges}" WHERE "kind" = 'route' AND ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(0)`,
    downtimeOverTime:
      `SELECT sum("downtime_ms") / 1000 FROM "${M.reauth}" WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host", "conn" fill(0)`,
    downtimeTotal: `SELECT sum("downtime_ms") / 1000 FROM "${M.reauth}" WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter`,
    /** Runs over the panel's 30-day time override: a verdict is written only when it changes. */
    atRiskNow:
      `SELECT sum("at_risk") FROM (SELECT last("at_risk") AS "at_risk" FROM "${M.path}" ` +
      `WHERE ${hostF} AND $timeFilter GROUP BY "host", "conn", "peer")`,
    atRiskTable:
      `SELECT "host", "conn", "peer", "verdict", "reason_code", "unique_id", "fix" FROM (` +
      `SELECT last("at_risk") AS "at_risk", "verdict", "reason_code", "unique_id", "fix" FROM "${M.path}" ` +
      `WHERE ${hostF} AND $timeFilter GROUP BY "host", "conn", "peer") WHERE "at_risk" = 1`,
    /** IKE_SAs that went from at risk to valid (path.verdict remediation), per gateway and who applied the fix. */
    remediatedOverTime:
      `SELECT sum("count") FROM "${M.remediation}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host", "applied_by" fill(0)`,
    agentsSilent:
      `SELECT count("heartbeats") FROM (${heartbeatsRecent(`${hostF} AND `)}) WHERE "heartbeats" = 0`,
    /**
     * "Fixed since": IKE_SAs whose latest move (roamwatch_path_change, 30-day override) took them
     * out of at risk; the row's time is when. An SA at risk again drops out.
     */
    fixedSince:
      `SELECT "host", "conn", "verdict", "reason_code", "previous", "unique_id" FROM (` +
      `SELECT last("fixed") AS "fixed", "verdict", "reason_code", "previous", "unique_id" FROM "${M.pathChange}" ` +
      `WHERE ${hostF} AND $timeFilter GROUP BY "host", "conn") WHERE "fixed" = 1`,
    /** Per gateway: IKE_SAs that were ever at risk (in the 30-day range), how many are fixed now and how many are still at risk. */
    fixedByGateway:
      `SELECT sum("fixed") AS "fixed", count("fixed") - sum("fixed") AS "still_at_risk" FROM (` +
      `SELECT last("fixed") AS "fixed" FROM "${M.pathChange}" ` +
      `WHERE ${hostF} AND $timeFilter GROUP BY "host", "conn") GROUP BY "host"`,
  },
  gateway: {
    reauthsByConnClass:
      `SELECT sum("count") FROM "${M.reauth}" WHERE ${hostF} AND ${connF} AND $timeFilter ` +
      `GROUP BY time($__interval), "conn", "class" fill(0)`,
    downtime:
      `SELECT sum("downtime_ms") FROM "${M.reauth}" WHERE ${hostF} AND ${connF} AND $timeFilter ` +
      `GROUP BY time($__interval), "conn", "class" fill(none)`,
    saEvents:
      `SELECT sum("count") FROM "${M.sa}" WHERE ${hostF} AND ${connF} AND $timeFilter ` +
      `GROUP BY time($__interval), "conn", "state" fill(0)`,
    rekeys:
      `SELECT sum("count") FROM "${M.rekey}" WHERE ${hostF} AND ${connF} AND $timeFilter ` +
      `GROUP BY time($__interval), "conn", "sa" fill(0)`,
    netChanges:
      `SELECT sum("count") FROM "${M.netChanges}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "kind", "op" fill(0)`,
    /** IKE_SAs at risk per connection: each SA's (conn + peer) last verdict, summed per connection. */
    pathAtRisk:
      `SELECT sum("at_risk") FROM (SELECT last("at_risk") AS "at_risk" FROM "${M.path}" WHERE ${hostF} AND ${connF} AND $timeFilter ` +
      `GROUP BY time($__interval), "conn", "peer" fill(previous)) GROUP BY time($__interval), "conn"`,
    reauthTable:
      `SELECT "conn", "class", "trigger_kind", "trigger", "latency_ms", "downtime_ms", ` +
      `"old_unique_id", "new_unique_id", "local_before", "local_after", "fix" FROM "${M.reauth}" ` +
      `WHERE ${hostF} AND ${connF} AND $timeFilter ORDER BY time DESC LIMIT 500`,
    annoRouteChanges:
      `SELECT "count", "kind"::tag, "op"::tag FROM "${M.netChanges}" WHERE ${hostF} AND "kind" = 'route' AND $timeFilter`,
    annoReauths:
      `SELECT "trigger", "fix", "class"::tag, "conn"::tag FROM "${M.reauth}" WHERE ${hostF} AND ${connF} AND $timeFilter`,
  },
  incidents: {
    /** One row per incident, its latest report (each report overwrites the point at the incident's start). */
    list:
      `SELECT "incident_id", "state", "cause", "trigger", "hosts", "connections", "reauths", "downtime_ms", "last_reauth", "closed_at" ` +
      `FROM "${M.incident}" WHERE ${incF} AND $timeFilter ORDER BY time DESC LIMIT 500`,
    /** Timeline: gateways hit per incident, at the incident's start. */
    timeline:
      `SELECT last("hosts") AS "hosts" FROM "${M.incident}" WHERE ${incF} AND $timeFilter ` +
      `GROUP BY time($__interval), "incident_id" fill(none)`,
    /** The affected gateways of the chosen incident(s): reauths, downtime and the fix that would have prevented it. */
    gateways:
      `SELECT "host", "incident_id", "conns", "reauths", "downtime_ms", "fix", "first_reauth" FROM "${M.incidentHost}" ` +
      `WHERE ${incF} AND ${hostF} AND $timeFilter LIMIT 5000`,
    annoIncidents:
      `SELECT "cause", "hosts", "reauths", "incident_id"::tag, "trigger_kind"::tag FROM "${M.incident}" WHERE ${incF} AND $timeFilter`,
    table:
      `SELECT "host", "conn", "trigger_kind", "trigger", "latency_ms", "downtime_ms", "fix", ` +
      `"old_unique_id", "new_unique_id", "local_before", "remote_before", "finding_id" FROM "${M.reauth}" ` +
      `WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter ORDER BY time DESC LIMIT 1000`,
    downtimeByConn:
      `SELECT sum("downtime_ms") / 1000 AS "downtime_s", sum("count") AS "reauths", mean("latency_ms") AS "mean_latency_ms" ` +
      `FROM "${M.reauth}" WHERE "class" = 'spurious' AND ${hostF} AND $timeFilter GROUP BY "host", "conn"`,
  },
  pipeline: {
    heartbeats:
      `SELECT count("uptime_s") FROM "${M.agent}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(0)`,
    heartbeatsRecent: heartbeatsRecent(`${hostF} AND `),
    sourcesConnected:
      `SELECT min("vici_connected") AS "vici", min("rtnetlink_connected") AS "rtnetlink" FROM "${M.agent}" ` +
      `WHERE ${hostF} AND $timeFilter GROUP BY time($__interval), "host" fill(none)`,
    spoolBytes:
      `SELECT last("spool_bytes") FROM "${M.agent}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(none)`,
    spoolEvents:
      `SELECT last("spool_events") FROM "${M.agent}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(none)`,
    agentLag:
      `SELECT max("lag_ms") FROM "${M.agent}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(none)`,
    eventsDropped:
      `SELECT last("events_dropped") FROM "${M.agent}" WHERE ${hostF} AND $timeFilter ` +
      `GROUP BY time($__interval), "host" fill(none)`,
    processorLag:
      `SELECT max("lag_ms") FROM "${M.processor}" WHERE ${instF} AND $timeFilter ` +
      `GROUP BY time($__interval), "instance" fill(none)`,
    // events_in, dead_letters and findings are per self-report (since the previous one).
    processorEvents:
      `SELECT sum("events_in") FROM "${M.processor}" WHERE ${instF} AND $timeFilter ` +
      `GROUP BY time($__interval), "instance" fill(0)`,
    deadLetters:
      `SELECT sum("dead_letters") FROM "${M.processor}" WHERE ${instF} AND $timeFilter ` +
      `GROUP BY time($__interval), "instance" fill(0)`,
  },
} as const;

/**
 * Queries of the alert rules. Alert rules cannot use template variables; each one groups
 * by the tags that make an alert instance (one instance per host and connection, per host,
 * or per processor instance).
 */
export const A = {
  spuriousReauth: `SELECT sum("count") FROM "${M.reauth}" WHERE "class" = 'spurious' AND $timeFilter GROUP BY "host", "conn"`,
  /** One alert instance per host and connection; its value = how many of the connection's IKE_SAs (conn + peer) are at risk. */
  saAtRisk: `SELECT sum("at_risk") FROM (SELECT last("at_risk") AS "at_risk" FROM "${M.path}" WHERE $timeFilter GROUP BY "host", "conn", "peer") GROUP BY "host", "conn"`,
  agentSilent: heartbeatsRecent(''),
  processorLag: `SELECT last("lag_ms") FROM "${M.processor}" WHERE $timeFilter GROUP BY "instance", "group"`,
  /** One instance per incident: its latest report within the range (points sit at the incident's start). */
  incident: `SELECT last("hosts") FROM "${M.incident}" WHERE $timeFilter GROUP BY "incident_id"`,
} as const;
