/**
 * Metric points (docs/metrics.md) and their InfluxDB line-protocol encoding.
 *
 * Every point's timestamp and tags come from events (µs event time × 1000 = ns), so the
 * same events always give byte-identical lines: writing them twice overwrites a point
 * with the same values. Tags are sorted by key, as InfluxDB recommends.
 */
import type { MetricPoint } from './types.js';

export function nsOf(timeUs: number): string {
  return `${Math.trunc(timeUs)}000`;
}

const MEAS_RE = /[,\s\\]/g;
const TAG_RE = /[,=\s\\]/g;
const STR_RE = /["\\]/g;

function escMeasurement(s: string): string {
  return s.replace(MEAS_RE, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
function escTag(s: string): string {
  // Newlines are not allowed in tag values: replace them.
  return s.replace(TAG_RE, (c) => (c === '\n' || c === '\r' ? ' ' : `\\${c}`));
}
function escString(s: string): string {
  return s.replace(STR_RE, (c) => `\\${c}`);
}

function formatFloat(n: number): string {
  if (!Number.isFinite(n)) return '0';
  return String(n);
}

/** One line of InfluxDB line protocol. */
export function toLineProtocol(p: MetricPoint): string {
  let line = escMeasurement(p.measurement);
  const tagKeys = Object.keys(p.tags).sort();
  for (const k of tagKeys) {
    const v = p.tags[k]!;
    if (v === '') continue;
    line += `,${escTag(k)}=${escTag(v)}`;
  }
  const fields: string[] = [];
  if (p.ints) for (const k of Object.keys(p.ints).sort()) fields.push(`${escTag(k)}=${Math.trunc(p.ints[k]!)}i`);
  if (p.floats) for (const k of Object.keys(p.floats).sort()) fields.push(`${escTag(k)}=${formatFloat(p.floats[k]!)}`);
  if (p.strings) for (const k of Object.keys(p.strings).sort()) fields.push(`${escTag(k)}="${escString(p.strings[k]!)}"`);
  return `${line} ${fields.join(',')} ${p.timeNs}`;
}

/** Identity of a point in InfluxDB (measurement + tag set + time): two points with the same key overwrite each other. */
export function pointKey(p: MetricPoint): string {
  const tagKeys = Object.keys(p.tags).sort();
  return `${p.measurement}|${tagKeys.map((k) => `${k}=${p.tags[k]}`).join(',')}|${p.timeNs}`;
}
