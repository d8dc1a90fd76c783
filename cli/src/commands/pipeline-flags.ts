/**
 * Flags shared by `processor`, `watch` and `replay`: InfluxDB connection and the
 * correlation settings (processor/src/config.ts documents each).
 */
import type { Command } from 'commander';
import { ConfigError } from '@roamwatch/core';
import { correlationConfig } from '@roamwatch/processor';
import type { CorrelationConfig, InfluxSinkOptions } from '@roamwatch/processor';

export function addInfluxFlags(cmd: Command): void {
  cmd
    .option('--influx-url <url>', 'InfluxDB URL, e.g. http://127.0.0.1:8086 (env ROAMWATCH_INFLUX_URL)')
    .option('--influx-token <token>', 'InfluxDB token (prefer env ROAMWATCH_INFLUX_TOKEN)')
    .option('--influx-org <org>', 'InfluxDB organization (env ROAMWATCH_INFLUX_ORG)')
    .option('--influx-bucket <bucket>', 'InfluxDB bucket; against 1.8: database/retention-policy (env ROAMWATCH_INFLUX_BUCKET)');
}

export function addCorrelationFlags(cmd: Command): void {
  cmd
    .option('--allowed-lateness-ms <ms>', 'out-of-order tolerance per host, event time (default 2000)')
    .option('--attribution-window-ms <ms>', 'routing events up to this long before a reauth are its triggers (default 250)')
    .option('--pair-window-ms <ms>', 'old SA down ↔ new SA up pairing window (default 30000)');
}

export function intFlag(options: Record<string, unknown>, key: string, flag: string): number {
  const v = Number(options[key]);
  if (!Number.isInteger(v) || v < 0) throw new ConfigError(flag, `expected a non-negative integer, got ${JSON.stringify(options[key])}`);
  return v;
}

export function correlationOptions(options: Record<string, unknown>): Partial<CorrelationConfig> {
  const out: Partial<Record<keyof CorrelationConfig, unknown>> = {};
  const map: [string, keyof CorrelationConfig, string][] = [
    ['allowedLatenessMs', 'allowedLatenessMs', 'allowed-lateness-ms'],
    ['attributionWindowMs', 'attributionWindowMs', 'attribution-window-ms'],
    ['pairWindowMs', 'pairWindowMs', 'pair-window-ms'],
  ];
  for (const [opt, key, flag] of map) {
    if (options[opt] === undefined) continue;
    const n = Number(options[opt]);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(flag, `expected a non-negative number of ms, got ${JSON.stringify(options[opt])}`);
    out[key] = n;
  }
  return correlationConfig(out);
}

/** InfluxDB settings from flags, then the environment; undefined when no URL is given and none is required. */
export function influxOptions(options: Record<string, unknown>, { required }: { required: boolean }): InfluxSinkOptions | undefined {
  const env = process.env;
  const url = (options.influxUrl as string | undefined) ?? env.ROAMWATCH_INFLUX_URL;
  if (!url) {
    if (required) throw new ConfigError('influx-url', 'is required');
    return undefined;
  }
  const token = (options.influxToken as string | undefined) ?? env.ROAMWATCH_INFLUX_TOKEN ?? '';
  const org = (options.influxOrg as string | undefined) ?? env.ROAMWATCH_INFLUX_ORG ?? 'roamwatch';
  const bucket = (options.influxBucket as string | undefined) ?? env.ROAMWATCH_INFLUX_BUCKET;
  if (!bucket) throw new ConfigError('influx-bucket', 'is required with --influx-url');
  if (!/^https?:\/\/[^/]+/.test(url)) throw new ConfigError('influx-url', `expected http(s)://host:port, got ${JSON.stringify(url)}`);
  return { url: url.replace(/\/+$/, ''), token, org, bucket };
}
