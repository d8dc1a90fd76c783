/**
 * Key groups shared by several commands, so that one setting has one name everywhere:
 * the Kafka client (brokers, TLS, SASL: every Kafka client of roamwatch — agent, processor,
 * replay — takes exactly these keys), InfluxDB, and logging.
 */
import fs from 'node:fs';
import { ConfigError } from '../errors.js';
import { LOG_LEVELS } from '../log.js';
import type { ConfigTable } from './table.js';

export const LOG_KEYS = {
  'log.level': { type: LOG_LEVELS, default: 'info', doc: 'Log level (JSON logs on stderr; ROAMWATCH_LOG_FORMAT=json|text picks the format).' },
} as const satisfies ConfigTable;

/**
 * The readiness report of a long-running command (agent, processor): written to health.file
 * every health.intervalMs and read by `roamwatch health` (cli/src/health.ts; docs/deploy.md
 * "Healthchecks").
 */
export const HEALTH_KEYS = {
  'health.file': { type: 'string', default: '', flag: 'health-file', doc: 'Write a readiness report to this file every health.intervalMs, for `roamwatch health` (container healthchecks); "" = none. Removed on a clean stop.' },
  'health.intervalMs': { type: 'int', default: 10_000, min: 100, flag: 'health-interval-ms', doc: 'Interval of the readiness report; `roamwatch health` calls a report older than 3 intervals (at least 15 s) stale.' },
} as const satisfies ConfigTable;

const BROKER_RE = /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/** How every roamwatch Kafka client reaches and authenticates to the brokers. */
export const KAFKA_CLIENT_KEYS = {
  'kafka.brokers': { type: 'string[]', default: ['127.0.0.1:9092'], flag: 'brokers', doc: 'Bootstrap brokers host:port (env and flag: comma-separated).', check: (v: string[]) => (v.length > 0 && v.every((b) => BROKER_RE.test(b)) ? undefined : 'expected one or more host:port') },
  'kafka.tls.enabled': { type: 'bool', default: false, doc: 'TLS to the brokers (listener SSL or SASL_SSL).' },
  'kafka.tls.caFile': { type: 'string', default: '', doc: "PEM CA bundle that signed the brokers' certificates (default: the system store)." },
  'kafka.tls.certFile': { type: 'string', default: '', doc: 'Client certificate (PEM) for mutual TLS.' },
  'kafka.tls.keyFile': { type: 'string', default: '', doc: 'Client key (PEM) for mutual TLS (keep the file 0600).' },
  'kafka.tls.keyPassphrase': { type: 'string', default: '', secret: true, doc: 'Passphrase of an encrypted kafka.tls.keyFile.' },
  'kafka.tls.serverName': { type: 'string', default: '', doc: 'TLS server name (SNI and certificate check; default: the broker host).' },
  'kafka.tls.rejectUnauthorized': { type: 'bool', default: true, doc: "Verify the brokers' certificates (false only for a lab: it allows a man in the middle)." },
  'kafka.sasl.mechanism': { type: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const, default: 'none', doc: 'SASL mechanism (listener SASL_SSL): scram-sha-512 recommended; plain sends the password as is, so only over TLS.' },
  'kafka.sasl.username': { type: 'string', default: '', doc: 'SASL user name (the Kafka principal User:<name> that the ACLs name).' },
  'kafka.sasl.password': { type: 'string', default: '', secret: true, doc: 'SASL password.' },
} as const satisfies ConfigTable;

export const INFLUX_KEYS = {
  'influx.url': { type: 'string', default: '', doc: 'InfluxDB URL, e.g. https://influxdb:8086 ("" = no InfluxDB output).', check: (v: string) => (v === '' || /^https?:\/\/[^/]+/.test(v) ? undefined : 'expected http(s)://host:port') },
  'influx.org': { type: 'string', default: 'roamwatch', doc: 'InfluxDB organization (ignored by 1.8).' },
  'influx.bucket': { type: 'string', default: '', doc: 'InfluxDB bucket; against 1.8: database/retention-policy. Required with influx.url.' },
  'influx.token': { type: 'string', default: '', secret: true, doc: 'InfluxDB API token (against 1.8 with auth: user:password).' },
} as const satisfies ConfigTable;

/** TLS to Kafka as the clients take it (file paths; contents are read when connecting). */
export interface KafkaTlsSettings {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Secret: never logged. */
  keyPassphrase?: string;
  serverName?: string;
  rejectUnauthorized: boolean;
}

export interface KafkaSaslSettings {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  /** Secret: never logged. */
  password: string;
}

export interface KafkaClientSettings {
  brokers: string[];
  tls: KafkaTlsSettings | undefined;
  sasl: KafkaSaslSettings | undefined;
  /** Things that work but should not be so (SASL PLAIN without TLS, certificates not verified). */
  warnings: string[];
}

type KafkaClientValues = { [K in keyof typeof KAFKA_CLIENT_KEYS]: unknown };

/** Validates the Kafka client group as a whole (pairs of keys, readable files) and resolves it. */
export function kafkaClientSettings(values: KafkaClientValues): KafkaClientSettings {
  const get = <T>(k: keyof KafkaClientValues) => values[k] as T;
  const warnings: string[] = [];
  let tls: KafkaTlsSettings | undefined;
  if (get<boolean>('kafka.tls.enabled')) {
    tls = { rejectUnauthorized: get<boolean>('kafka.tls.rejectUnauthorized') };
    for (const [key, field] of [
      ['kafka.tls.caFile', 'caFile'],
      ['kafka.tls.certFile', 'certFile'],
      ['kafka.tls.keyFile', 'keyFile'],
    ] as const) {
      const f = get<string>(key);
      if (!f) continue;
      try {
        fs.accessSync(f, fs.constants.R_OK);
      } catch {
        throw new ConfigError(key, `cannot read ${f}`);
      }
      tls[field] = f;
    }
    if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) throw new ConfigError(tls.certFile ? 'kafka.tls.keyFile' : 'kafka.tls.certFile', 'mutual TLS needs both kafka.tls.certFile and kafka.tls.keyFile');
    const pass = get<string>('kafka.tls.keyPassphrase');
    if (pass) {
      if (!tls.keyFile) throw new ConfigError('kafka.tls.keyPassphrase', 'is set but kafka.tls.keyFile is not');
      tls.keyPassphrase = pass;
    }
    const sn = get<string>('kafka.tls.serverName');
    if (sn) tls.serverName = sn;
    if (!tls.rejectUnauthorized) warnings.push("kafka.tls.rejectUnauthorized is false: the brokers' certificates are not verified, anyone on the path can impersonate them");
  } else {
    for (const k of ['kafka.tls.caFile', 'kafka.tls.certFile', 'kafka.tls.keyFile', 'kafka.tls.serverName', 'kafka.tls.keyPassphrase'] as const) {
      if (get<string>(k)) throw new ConfigError(k, 'is set but kafka.tls.enabled is false');
    }
  }
  let sasl: KafkaSaslSettings | undefined;
  const mechanism = get<string>('kafka.sasl.mechanism');
  if (mechanism !== 'none') {
    const username = get<string>('kafka.sasl.username');
    if (!username) throw new ConfigError('kafka.sasl.username', `is required with kafka.sasl.mechanism ${mechanism}`);
    const password = get<string>('kafka.sasl.password');
    if (!password) throw new ConfigError('kafka.sasl.password', `SASL ${mechanism} needs a password: set kafka.sasl.passwordFile, ROAMWATCH_KAFKA_SASL_PASSWORD_FILE, ROAMWATCH_KAFKA_SASL_PASSWORD or systemd LoadCredential=kafka.sasl.password:PATH`);
    sasl = { mechanism: mechanism as KafkaSaslSettings['mechanism'], username, password };
    if (!tls) warnings.push(`SASL ${mechanism} without TLS (kafka.tls.enabled false): ${mechanism === 'plain' ? 'the password' : 'the whole stream'} crosses the network in clear; enable kafka.tls`);
  } else if (get<string>('kafka.sasl.username')) {
    throw new ConfigError('kafka.sasl.username', 'is set but kafka.sasl.mechanism is none');
  }
  return { brokers: get<string[]>('kafka.brokers'), tls, sasl, warnings };
}

export interface InfluxSettings {
  url: string;
  org: string;
  bucket: string;
  /** Secret: never logged. */
  token: string;
}

type InfluxValues = { [K in keyof typeof INFLUX_KEYS]: unknown };

/** The InfluxDB output, or undefined when influx.url is empty. */
export function influxSettings(values: InfluxValues): InfluxSettings | undefined {
  const url = values['influx.url'] as string;
  if (!url) {
    for (const k of ['influx.bucket'] as const) if (values[k]) throw new ConfigError(k, 'is set but influx.url is not');
    return undefined;
  }
  const bucket = values['influx.bucket'] as string;
  if (!bucket) throw new ConfigError('influx.bucket', 'is required with influx.url');
  const s: InfluxSettings = { url: url.replace(/\/+$/, ''), org: values['influx.org'] as string, bucket, token: values['influx.token'] as string };
  return s;
}
