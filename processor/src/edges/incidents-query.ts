/**
 * Incidents read back from InfluxDB (`roamwatch incidents list|show`): the latest report of each
 * incident is its `roamwatch_incident` point (every report overwrites the one before, at the
 * incident's anchor time), its gateways the `roamwatch_incident_host` points.
 *
 * Why InfluxDB and not the findings topic: the topic holds every report of every incident since
 * its retention began and can only be read from a position, so "the incidents of the last day"
 * means reading it all; InfluxDB answers it with one range query, and it is what Grafana shows,
 * so the CLI and the dashboard agree. Queries stay within Flux 0.65 (InfluxDB 1.8, docs/testing.md).
 */
import { InfluxDB } from '@influxdata/influxdb-client';
import { formatUs } from '@roamwatch/core';
import type { Incident, IncidentGateway } from '../incidents.js';

export interface IncidentQueryOptions {
  url: string;
  token: string;
  org: string;
  bucket: string;
  /** Per query (ms). Default 30000. */
  requestTimeoutMs?: number;
}

type Row = Record<string, unknown>;

const fluxString = (s: string) => JSON.stringify(s);
/** A Flux duration such as 24h, 7d, 30m. */
export const FLUX_DURATION = /^[1-9][0-9]*(ms|s|m|h|d|w)$/;

/** µs since the epoch of an RFC 3339 time with up to 9 fractional digits (Flux `_time`, formatUs). */
export function usOf(time: unknown): number {
  const s = String(time);
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(s);
  if (!m) return Date.parse(s) * 1000;
  return Date.parse(`${m[1]}Z`) * 1000 + Number(`${m[2] ?? ''}000000`.slice(0, 6));
}

const num = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown) => (v === undefined || v === null || v === '' ? null : String(v));

export function incidentFromRow(r: Row): Incident {
  const anchorUs = usOf(r._time);
  const startUs = r.start ? usOf(r.start) : anchorUs;
  const state = String(r.state ?? 'opened') as Incident['state'];
  const closedAt = str(r.closed_at);
  const lastReauth = str(r.last_reauth) ?? formatUs(startUs);
  return {
    type: 'incident',
    id: String(r.incident_id),
    state,
    revision: num(r.revision),
    anchorUs,
    cause: { key: String(r.cause ?? 'none'), kind: String(r.trigger_kind ?? 'none') as Incident['cause']['kind'], op: str(r.trigger_op), target: str(r.trigger_target), summary: str(r.trigger) },
    start: formatUs(startUs),
    startUs,
    lastReauth,
    lastReauthUs: usOf(lastReauth),
    closedAt,
    closedAtUs: closedAt ? usOf(closedAt) : null,
    hosts: num(r.hosts),
    connections: num(r.connections),
    reauths: num(r.reauths),
    downtimeMs: num(r.downtime_ms),
    downtimeUnknown: num(r.downtime_unknown),
    gateways: [],
  };
}

export function gatewayFromRow(r: Row): IncidentGateway {
  return {
    host: String(r.host),
    conns: String(r.conns ?? '')
      .split(',')
      .filter(Boolean),
    reauths: num(r.reauths),
    downtimeMs: num(r.downtime_ms),
    fix: str(r.fix),
    firstReauth: String(r.first_reauth ?? ''),
    lastReauth: String(r.last_reauth ?? ''),
  };
}

export class IncidentQuery {
  private readonly api;
  constructor(private readonly o: IncidentQueryOptions) {
    this.api = new InfluxDB({ url: o.url, token: o.token, timeout: o.requestTimeoutMs ?? 30_000 }).getQueryApi(o.org);
  }

  /** Incidents that started within `since` (a Flux duration), newest first. */
  async list({ since = '7d', limit = 50 }: { since?: string; limit?: number } = {}): Promise<Incident[]> {
    if (!FLUX_DURATION.test(since)) throw new Error(`since: expected a duration such as 24h or 7d, got ${JSON.stringify(since)}`);
    const rows = await this.api.collectRows<Row>(
      `from(bucket: ${fluxString(this.o.bucket)})
  |> range(start: -${since})
  |> filter(fn: (r) => r._measurement == "roamwatch_incident")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()`,
    );
    return rows
      .map(incidentFromRow)
      .sort((a, b) => b.startUs - a.startUs || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
  }

  /** One incident with its gateways, or undefined. `since` bounds the search. */
  async show(id: string, { since = '30d' }: { since?: string } = {}): Promise<Incident | undefined> {
    if (!FLUX_DURATION.test(since)) throw new Error(`since: expected a duration such as 24h or 7d, got ${JSON.stringify(since)}`);
    const q = (m: string) =>
      this.api.collectRows<Row>(
        `from(bucket: ${fluxString(this.o.bucket)})
  |> range(start: -${since})
  |> filter(fn: (r) => r._measurement == ${fluxString(m)} and r.incident_id == ${fluxString(id)})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()`,
      );
    const [inc, hosts] = await Promise.all([q('roamwatch_incident'), q('roamwatch_incident_host')]);
    if (!inc.length) return undefined;
    const i = incidentFromRow(inc[0]!);
    i.gateways = hosts.map(gatewayFromRow).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
    return i;
  }
}
