/**
 * influxdb sink: metric points as line protocol to InfluxDB's 2.x write API
 * (`POST /api/v2/write?org=…&bucket=…&precision=ns`, also served by InfluxDB 1.8), through
 * the transport of @influxdata/influxdb-client. Batches, one request in flight, retries
 * with exponential backoff while the server is unreachable or answers 5xx/429, and while it
 * refuses the token (401/403: a credential fixed on the server, or a restart with the right
 * one, lets the same points through; nothing is dropped and, in the processor, no offset
 * past them is committed); another 4xx drops that batch (logged, counted). Points are idempotent (docs/metrics.md),
 * so a batch retried after a lost response does no harm.
 */
import { InfluxDB, HttpError } from '@influxdata/influxdb-client';
import { ConfigError, RoamwatchError, maskUrl, silentLogger } from '@roamwatch/core';
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

/** InfluxDB refused the credentials (HTTP 401 or 403). Retriable: the points wait. */
export class InfluxAuthError extends RoamwatchError {
  readonly statusCode: number;
  constructor(url: string, statusCode: number, cause: unknown) {
    super(
      `InfluxDB at ${maskUrl(url)} refused the token (HTTP ${statusCode} ${statusCode === 401 ? 'unauthorized' : 'forbidden'}): ` +
        'check influx.token (influx.tokenFile, ROAMWATCH_INFLUX_TOKEN) and its write permission on the bucket; the points are kept and retried',
      { code: 'INFLUX_AUTH', retriable: true, cause },
    );
    this.name = 'InfluxAuthError';
    this.statusCode = statusCode;
  }
}

export class InfluxSink extends BatchingSink<string> {
  private readonly influx: InfluxDB;
  private readonly path: string;
  private readonly url: string;

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
    this.url = options.url;
    this.influx = new InfluxDB({ url: options.url, token: options.token, timeout: options.requestTimeoutMs ?? 10_000 });
    this.path = `/api/v2/write?org=${encodeURIComponent(options.org)}&bucket=${encodeURIComponent(options.bucket)}&precision=ns`;
  }

  protected async send(lines: string[]): Promise<void> {
    try {
      await this.influx.transport.request(this.path, lines.join('\n'), {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    } catch (err) {
      if (err instanceof HttpError && (err.statusCode === 401 || err.statusCode === 403)) throw new InfluxAuthError(this.url, err.statusCode, err);
      throw err;
    }
  }

  protected retriable(err: unknown): boolean {
    if (err instanceof InfluxAuthError) return true;
    if (err instanceof HttpError) return err.statusCode >= 500 || err.statusCode === 429 || err.statusCode === 408;
    return true; // network errors, timeouts
  }
}
