/**
 * influxdb sink: metric points as line protocol to InfluxDB's 2.x write API
 * (`POST /api/v2/write?org=…&bucket=…&precision=ns`, also served by InfluxDB 1.8), through
 * the transport of @influxdata/influxdb-client. Batches, one request in flight, retries
 * with exponential backoff while the server is unreachable or answers 5xx/429; a 4xx
 * other than 429 drops that batch (logged, counted). Points are idempotent (docs/metrics.md),
 * so a batch retried after a lost response does no harm.
 */
import { InfluxDB, HttpError } from '@influxdata/influxdb-client';
import { ConfigError, silentLogger } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { BatchingSink } from './batching-sink.js';

export interface InfluxSinkOptions {
  url: string;
  /** InfluxDB 2 token; against 1.8 `user:password` or any string while auth is off. */
  token: string;
  org: string;
  /** InfluxDB 2 bucket; against 1.8 `database/retention-policy`. */
  bucket: string;
  /** Lines per request. Default 5000. */
  batchSize?: number;
  /** How long a partial batch waits (ms). Default 100. */
  lingerMs?: number;
  /** Default 100 / 5000. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Per request (ms). Default 10000. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export class InfluxSink extends BatchingSink<string> {
  private readonly influx: InfluxDB;
  private readonly path: string;

  constructor(options: InfluxSinkOptions) {
    for (const key of ['url', 'org', 'bucket'] as const) {
      if (!options[key]) throw new ConfigError(`influx.${key}`, 'is required');
    }
    if (!/^https?:\/\//.test(options.url)) throw new ConfigError('influx.url', `expected http(s)://host:port, got ${JSON.stringify(options.url)}`);
    super({
      name: 'influxdb',
      batchSize: options.batchSize ?? 5000,
      lingerMs: options.lingerMs ?? 100,
      retryMinMs: options.retryMinMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5000,
      logger: options.logger ?? silentLogger(),
    });
    this.influx = new InfluxDB({ url: options.url, token: options.token, timeout: options.requestTimeoutMs ?? 10_000 });
    this.path = `/api/v2/write?org=${encodeURIComponent(options.org)}&bucket=${encodeURIComponent(options.bucket)}&precision=ns`;
  }

  protected async send(lines: string[]): Promise<void> {
    await this.influx.transport.request(this.path, lines.join('\n'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  }

  protected retriable(err: unknown): boolean {
    if (err instanceof HttpError) return err.statusCode >= 500 || err.statusCode === 429 || err.statusCode === 408;
    return true; // network errors, timeouts
  }
}
