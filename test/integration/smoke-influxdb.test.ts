// Smoke test of the real InfluxDB test server (scripts/servers.sh) through the same
// client and settings the processor uses: @influxdata/influxdb-client, 2.x write
// API and Flux queries on one bucket.
import { InfluxDB, Point } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { servers, uniqueRunId } from '../setup/servers.js';

const { url, token, org, bucket } = servers.influx;
const client = new InfluxDB({ url, token, timeout: 10_000 });

interface Row {
  time: string;
  host: string;
  field: string;
  value: number;
}

// A fixed base time (whole seconds), so that written and read timestamps compare exactly.
const base = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
const at = (seconds: number): Date => new Date(base.getTime() + seconds * 1000);

function points(runId: string): { points: Point[]; rows: Row[] } {
  const samples = [
    { host: 'gw-1', t: 0, reauths: 1, downtimeMs: 12.5 },
    { host: 'gw-1', t: 5, reauths: 2, downtimeMs: 7.25 },
    { host: 'gw-2', t: 10, reauths: 1, downtimeMs: 103 },
  ];
  return {
    points: samples.map((s) =>
      new Point('roamwatch_smoke')
        .tag('run', runId)
        .tag('host', s.host)
        .intField('reauths', s.reauths)
        .floatField('downtime_ms', s.downtimeMs)
        .timestamp(at(s.t)),
    ),
    rows: samples
      .flatMap((s) => [
        { time: at(s.t).toISOString(), host: s.host, field: 'downtime_ms', value: s.downtimeMs },
        { time: at(s.t).toISOString(), host: s.host, field: 'reauths', value: s.reauths },
      ])
      .sort(byKey),
  };
}

function byKey(a: Row, b: Row): number {
  const ka = `${a.time} ${a.host} ${a.field}`;
  const kb = `${b.time} ${b.host} ${b.field}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

async function write(ps: Point[]): Promise<void> {
  const writeApi = client.getWriteApi(org, bucket, 'ns', { maxRetries: 0 });
  writeApi.writePoints(ps);
  await writeApi.close();
}

async function query(runId: string): Promise<Row[]> {
  const flux = `
from(bucket: ${JSON.stringify(bucket)})
  |> range(start: ${at(-60).toISOString()}, stop: ${at(60).toISOString()})
  |> filter(fn: (r) => r._measurement == "roamwatch_smoke" and r.run == ${JSON.stringify(runId)})`;
  const raw = await client
    .getQueryApi(org)
    .collectRows<{ _time: string; host: string; _field: string; _value: number }>(flux);
  return raw
    .map((r) => ({ time: new Date(r._time).toISOString(), host: r.host, field: r._field, value: r._value }))
    .sort(byKey);
}

describe('InfluxDB test server', () => {
  it('when points are written to the bucket, then a Flux query on that bucket returns exactly those points', async () => {
    const runId = uniqueRunId('smoke');
    const { points: ps, rows } = points(runId);
    await write(ps);
    expect(await query(runId)).toEqual(rows);
  });

  it('when the same points are written twice, then the query still returns each point once', async () => {
    const runId = uniqueRunId('smoke');
    const { points: ps, rows } = points(runId);
    await write(ps);
    await write(points(runId).points);
    expect(await query(runId)).toEqual(rows);
  });

  it('when another run wrote points, then a query for a fresh run id returns none of them', async () => {
    const other = uniqueRunId('smoke');
    await write(points(other).points);
    expect(await query(uniqueRunId('smoke'))).toEqual([]);
  });
});
