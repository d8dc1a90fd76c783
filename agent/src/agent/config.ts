/**
 * The agent's configuration: one declarative table (CONFIG_KEYS) of every key with its type,
 * default, unit (in the name) and meaning. Defaults, environment variable names, parsing,
 * validation and the documentation test all derive from it; deploy/roamwatch-agent.example.yaml
 * documents every key (a unit test checks that it names each one).
 *
 * Sources, later ones win: defaults < config file (YAML or JSON, nested keys) < environment
 * (ROAMWATCH_<KEY>, e.g. ROAMWATCH_KAFKA_TOPIC_PARTITIONS for kafka.topicPartitions) < flags.
 * Unknown keys are rejected. Every error is a ConfigError whose message names the key
 * (`config kafka.lingerMs: expected an integer >= 0, got "soon"`), and the CLI exits 2.
 *
 * Secrets (the SASL password, the TLS key) are read from files or from the environment,
 * never from flags, and never appear in logs or in the agent.started event: `summarizeConfig`
 * leaves them out.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parse as parseYaml } from 'yaml';
import { ConfigError, HOST_ID_RE, LOG_LEVELS } from '@roamwatch/core';
import type { LogLevel } from '@roamwatch/core';
import type { KafkaCompression, KafkaSaslOptions, KafkaTlsOptions } from '../sinks/kafka.js';
import type { SpoolFullPolicy } from '../sinks/spool.js';

type KeyType = 'string' | 'int' | 'bool' | 'string[]' | readonly string[];

interface KeySpec {
  type: KeyType;
  default: unknown;
  doc: string;
  min?: number;
  max?: number;
  /** Extra check; returns a message when the value is bad. */
  check?: (v: never) => string | undefined;
}

/** Every key of the agent's configuration. The example config documents each one. */
export const CONFIG_KEYS = {
  hostId: { type: 'string', default: '', doc: 'Host id in every envelope and the Kafka message key (default: the hostname).', check: (v: string) => (v === '' || HOST_ID_RE.test(v) ? undefined : 'expected letters, digits, . _ : - (max 253 characters)') },
  sink: { type: 'string', default: 'kafka', doc: 'Where events go: kafka, stdout, or file:PATH (JSON lines).', check: (v: string) => (v === 'kafka' || v === 'stdout' || /^file:.+/.test(v) ? undefined : 'expected kafka, stdout or file:PATH') },
  'log.level': { type: LOG_LEVELS, default: 'info', doc: 'Log level (JSON logs on stderr).' },
  'status.intervalMs': { type: 'int', default: 30_000, min: 0, doc: 'agent.status heartbeat interval; 0 = no heartbeats.' },
  shutdownTimeoutMs: { type: 'int', default: 10_000, min: 0, doc: 'On SIGTERM: how long to keep sending spooled events before closing (the rest stays spooled).' },
  'vici.enabled': { type: 'bool', default: true, doc: 'Read charon events over VICI.' },
  'vici.uri': { type: 'string', default: 'unix:///var/run/charon.vici', doc: "charon's VICI socket: unix:///path or tcp://host:port.", check: (v: string) => (/^(unix:\/\/\/.+|tcp:\/\/.+:\d+)$/.test(v) ? undefined : 'expected unix:///path or tcp://host:port') },
  'vici.reconnectMinMs': { type: 'int', default: 100, min: 1, doc: 'First reconnect delay after charon went away.' },
  'vici.reconnectMaxMs': { type: 'int', default: 5000, min: 1, doc: 'Upper bound of the reconnect backoff.' },
  'vici.commandTimeoutMs': { type: 'int', default: 10_000, min: 1, doc: 'Time limit of one VICI command (list-sas, list-conns).' },
  'rtnetlink.enabled': { type: 'bool', default: true, doc: 'Read route, address, link and rule changes from the kernel.' },
  'rtnetlink.receiveBufferBytes': { type: 'int', default: 32 * 1024 * 1024, min: 65_536, doc: 'Netlink socket receive buffer (a route storm that overflows it triggers a resync).' },
  'path.enabled': { type: 'bool', default: true, doc: 'Emit path.verdict events (which IKE_SAs the next route change would reauthenticate).' },
  'path.strongswanConf': { type: 'string', default: '/etc/strongswan.conf', doc: 'strongswan.conf read by the path analyzer (roam_events, MOBIKE defaults).' },
  'path.swanctlConf': { type: 'string', default: '/etc/swanctl/swanctl.conf', doc: "swanctl.conf read for each connection's mobike setting (VICI does not say whether MOBIKE is on; without it verdicts can stay unknown)." },
  'path.remediationDir': { type: 'string', default: '/var/lib/roamwatch/remediation', doc: "roamwatch doctor --apply's journal, read (never written) to say whether an at-risk → valid transition was roamwatch's change (path.verdict remediation.appliedBy)." },
  'kafka.brokers': { type: 'string[]', default: ['127.0.0.1:9092'], doc: 'Bootstrap brokers host:port (env and flag: comma-separated).', check: (v: string[]) => (v.length > 0 && v.every((b) => /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) ? undefined : 'expected one or more host:port') },
  'kafka.topic': { type: 'string', default: 'roamwatch.events', doc: 'Topic of the envelopes.', check: (v: string) => (/^[A-Za-z0-9._-]{1,249}$/.test(v) ? undefined : 'expected a Kafka topic name: letters, digits, . _ - (max 249)') },
  'kafka.clientId': { type: 'string', default: 'roamwatch-agent', doc: 'Kafka client id (quotas, broker logs).' },
  'kafka.createTopic': { type: 'bool', default: true, doc: 'Create the topic when it is missing.' },
  'kafka.topicPartitions': { type: 'int', default: 12, min: 1, max: 10_000, doc: 'Partitions of a topic the agent creates (the processor scales up to this many consumers).' },
  'kafka.topicReplicationFactor': { type: 'int', default: -1, min: -1, max: 32, doc: "Replication factor of a topic the agent creates; -1 = the broker's default.replication.factor.", check: (v: number) => (v === 0 ? 'expected -1 or >= 1' : undefined) },
  'kafka.compression': { type: ['gzip', 'none'] as const, default: 'gzip', doc: 'Batch compression: gzip (built into kafkajs) or none.' },
  'kafka.batchMaxEvents': { type: 'int', default: 1000, min: 1, max: 100_000, doc: 'Most events in one produce request (kafkajs groups a batch in O(n²): keep it in the low thousands).' },
  'kafka.batchMaxBytes': { type: 'int', default: 1024 * 1024, min: 1024, doc: 'Most bytes (uncompressed) in one produce request; keep below the broker message.max.bytes.' },
  'kafka.lingerMs': { type: 'int', default: 20, min: 0, max: 60_000, doc: 'Longest wait for a fuller batch.' },
  'kafka.connectionTimeoutMs': { type: 'int', default: 3000, min: 1, doc: 'TCP/TLS connect timeout per broker.' },
  'kafka.requestTimeoutMs': { type: 'int', default: 30_000, min: 1, doc: 'Time limit of one request (produce, metadata).' },
  'kafka.retryMinMs': { type: 'int', default: 250, min: 1, doc: 'First delay before resending a failed batch.' },
  'kafka.retryMaxMs': { type: 'int', default: 5000, min: 1, doc: 'Upper bound of the resend backoff (also kafkajs internal retry).' },
  'kafka.degradedLagMs': { type: 'int', default: 10_000, min: 1, doc: 'agent.status says sink degraded when the oldest unsent event is older.' },
  'kafka.tls.enabled': { type: 'bool', default: false, doc: 'TLS to the brokers.' },
  'kafka.tls.caFile': { type: 'string', default: '', doc: 'PEM CA bundle (default: the system store).' },
  'kafka.tls.certFile': { type: 'string', default: '', doc: 'Client certificate (PEM) for mutual TLS.' },
  'kafka.tls.keyFile': { type: 'string', default: '', doc: 'Client key (PEM) for mutual TLS (a secret: keep the file 0600).' },
  'kafka.tls.serverName': { type: 'string', default: '', doc: 'TLS server name (SNI and certificate check).' },
  'kafka.tls.rejectUnauthorized': { type: 'bool', default: true, doc: "Verify the brokers' certificates." },
  'kafka.sasl.mechanism': { type: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const, default: 'none', doc: 'SASL mechanism; use with TLS.' },
  'kafka.sasl.username': { type: 'string', default: '', doc: 'SASL user name.' },
  'kafka.sasl.passwordFile': { type: 'string', default: '', doc: 'File holding the SASL password (or set ROAMWATCH_KAFKA_SASL_PASSWORD; never a flag).' },
  'spool.dir': { type: 'string', default: '/var/lib/roamwatch/spool', doc: 'Spool directory: unsent events and the sequence number survive restarts here.' },
  'spool.maxBytes': { type: 'int', default: 1024 * 1024 * 1024, min: 65_536, doc: 'Bound of the spool on disk.' },
  'spool.segmentBytes': { type: 'int', default: 16 * 1024 * 1024, min: 4096, doc: 'Size of one spool segment file (at most maxBytes / 4).' },
  'spool.onFull': { type: ['drop-oldest', 'drop-newest'] as const, default: 'drop-oldest', doc: 'At the bound: delete the oldest unsent segment, or refuse new events. Either way counted, logged and reported as agent.gap.' },
  'spool.fsyncIntervalMs': { type: 'int', default: 1000, min: 0, doc: 'fdatasync period of the spool; 0 = after every write batch. A crash of the agent loses nothing written; a power loss at most this window.' },
  'spool.memoryMaxBytes': { type: 'int', default: 32 * 1024 * 1024, min: 0, doc: 'Unsent events also kept in memory up to this size (beyond, they are read back from the spool files).' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** The validated configuration. Secrets are resolved separately (see `secrets`). */
export interface AgentConfig {
  hostId: string;
  sink: { type: 'kafka' } | { type: 'stdout' } | { type: 'file'; path: string };
  logLevel: LogLevel;
  statusIntervalMs: number;
  shutdownTimeoutMs: number;
  vici: { enabled: boolean; uri: string; reconnectMinMs: number; reconnectMaxMs: number; commandTimeoutMs: number };
  rtnetlink: { enabled: boolean; receiveBufferBytes: number };
  path: { enabled: boolean; strongswanConf: string; swanctlConf: string; remediationDir: string };
  kafka: {
    brokers: string[];
    topic: string;
    clientId: string;
    createTopic: boolean;
    topicPartitions: number;
    topicReplicationFactor: number;
    compression: KafkaCompression;
    batchMaxEvents: number;
    batchMaxBytes: number;
    lingerMs: number;
    connectionTimeoutMs: number;
    requestTimeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    degradedLagMs: number;
    tls: KafkaTlsOptions | undefined;
    sasl: KafkaSaslOptions | undefined;
  };
  spool: { dir: string; maxBytes: number; segmentBytes: number; onFull: SpoolFullPolicy; fsyncIntervalMs: number; memoryMaxBytes: number };
  /** Where each key's value came from (default, file, env, flag), for `--print-config`-style output. */
  origins: Record<ConfigKey, 'default' | 'file' | 'env' | 'flag'>;
}

/** ROAMWATCH_<KEY>: kafka.topicPartitions → ROAMWATCH_KAFKA_TOPIC_PARTITIONS. */
export function envName(key: string): string {
  return 'ROAMWATCH_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** The secret given directly in the environment (not a config key: never in a file or a flag). */
export const SASL_PASSWORD_ENV = 'ROAMWATCH_KAFKA_SASL_PASSWORD';

function flatten(obj: Record<string, unknown>, prefix: string, out: Map<string, unknown>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(key in CONFIG_KEYS)) flatten(v as Record<string, unknown>, key, out);
    else out.set(key, v);
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known key closest to a misspelt one (case, a typo, or the right name under another section). */
function closest(key: string): string | undefined {
  const keys = Object.keys(CONFIG_KEYS);
  const lower = key.toLowerCase();
  const exact = keys.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestD = 3;
  for (const k of keys) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best) return best;
  const last = lower.split('.').pop() ?? lower;
  return keys.find((k) => k.toLowerCase().endsWith('.' + last));
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Parses and checks one value (from a file: typed; from env/flags: text). */
function coerce(key: ConfigKey, raw: unknown, fromText: boolean): unknown {
  const spec: KeySpec = CONFIG_KEYS[key];
  const t = spec.type;
  let v: unknown = raw;
  if (Array.isArray(t)) {
    if (typeof v !== 'string' || !t.includes(v)) throw new ConfigError(key, `expected one of ${t.join(', ')}, got ${describe(raw)}`);
  } else if (t === 'int') {
    if (fromText && typeof v === 'string' && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ConfigError(key, `expected an integer${spec.min !== undefined ? ` >= ${spec.min}` : ''}, got ${describe(raw)}`);
    if (spec.min !== undefined && v < spec.min) throw new ConfigError(key, `expected an integer >= ${spec.min}, got ${v}`);
    if (spec.max !== undefined && v > spec.max) throw new ConfigError(key, `expected an integer <= ${spec.max}, got ${v}`);
  } else if (t === 'bool') {
    if (fromText && typeof v === 'string') {
      const l = v.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(l)) v = true;
      else if (['false', 'no', '0', 'off'].includes(l)) v = false;
    }
    if (typeof v !== 'boolean') throw new ConfigError(key, `expected true or false, got ${describe(raw)}`);
  } else if (t === 'string[]') {
    if (typeof v === 'string') v = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(key, `expected a list of strings, got ${describe(raw)}`);
  } else if (t === 'string') {
    if (typeof v === 'number' && !fromText) v = String(v);
    if (typeof v !== 'string') throw new ConfigError(key, `expected a string, got ${describe(raw)}`);
  }
  const msg = spec.check?.(v as never);
  if (msg) throw new ConfigError(key, `${msg}, got ${describe(raw)}`);
  return v;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError('--config', `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('--config', `${file}: expected a mapping of keys at the top level`);
  return doc as Record<string, unknown>;
}

export interface LoadConfigInput {
  /** A config file (YAML, or JSON when it ends in .json). */
  file?: string | undefined;
  /** Values from flags, by config key (e.g. { 'kafka.topic': 'x' }); strings are parsed. */
  flags?: Partial<Record<ConfigKey, unknown>>;
  /** Environment (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Hostname for the default host id (default os.hostname()). */
  hostname?: string;
}

/** Resolved secrets: kept apart from AgentConfig so that logging the config cannot leak them. */
export interface AgentSecrets {
  saslPassword?: string;
}

export interface LoadedConfig {
  config: AgentConfig;
  secrets: AgentSecrets;
}

/** Reads, merges and validates the configuration. Throws ConfigError naming the key. */
export function loadAgentConfig(input: LoadConfigInput = {}): LoadedConfig {
  const env = input.env ?? process.env;
  const values = new Map<ConfigKey, unknown>();
  const origins = {} as AgentConfig['origins'];
  for (const [k, spec] of Object.entries(CONFIG_KEYS) as Array<[ConfigKey, KeySpec]>) {
    values.set(k, spec.default);
    origins[k] = 'default';
  }
  if (input.file) {
    const flat = new Map<string, unknown>();
    flatten(readConfigFile(input.file), '', flat);
    for (const [k, v] of flat) {
      if (!(k in CONFIG_KEYS)) {
        const hint = closest(k);
        throw new ConfigError(k, `unknown key in ${input.file}${hint ? ` (did you mean ${hint}?)` : ''}`);
      }
      values.set(k as ConfigKey, coerce(k as ConfigKey, v, false));
      origins[k as ConfigKey] = 'file';
    }
  }
  for (const k of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
    const name = envName(k);
    const v = env[name];
    if (v === undefined || v === '') continue;
    try {
      values.set(k, coerce(k, v, true));
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(k, `${err.message.replace(/^config [^:]+: /, '')} (from ${name})`);
      throw err;
    }
    origins[k] = 'env';
  }
  for (const [k, v] of Object.entries(input.flags ?? {}) as Array<[ConfigKey, unknown]>) {
    if (v === undefined) continue;
    if (!(k in CONFIG_KEYS)) throw new ConfigError(k, 'unknown key');
    values.set(k, coerce(k, v, true));
    origins[k] = 'flag';
  }
  const get = <T>(k: ConfigKey) => values.get(k) as T;

  const hostId = get<string>('hostId') || (input.hostname ?? os.hostname());
  if (!HOST_ID_RE.test(hostId)) throw new ConfigError('hostId', `the hostname ${describe(hostId)} is not a valid host id; set hostId (--host-id)`);
  const sinkText = get<string>('sink');
  const sink: AgentConfig['sink'] = sinkText === 'kafka' ? { type: 'kafka' } : sinkText === 'stdout' ? { type: 'stdout' } : { type: 'file', path: sinkText.slice('file:'.length) };

  const maxBytes = get<number>('spool.maxBytes');
  const segmentBytes = get<number>('spool.segmentBytes');
  if (segmentBytes * 4 > maxBytes) throw new ConfigError('spool.segmentBytes', `must be at most spool.maxBytes / 4 (${Math.floor(maxBytes / 4)}), got ${segmentBytes}`);
  if (get<number>('vici.reconnectMaxMs') < get<number>('vici.reconnectMinMs')) throw new ConfigError('vici.reconnectMaxMs', 'must be >= vici.reconnectMinMs');
  if (get<number>('kafka.retryMaxMs') < get<number>('kafka.retryMinMs')) throw new ConfigError('kafka.retryMaxMs', 'must be >= kafka.retryMinMs');

  const secrets: AgentSecrets = {};
  let tls: KafkaTlsOptions | undefined;
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
    const sn = get<string>('kafka.tls.serverName');
    if (sn) tls.serverName = sn;
  } else {
    for (const k of ['kafka.tls.caFile', 'kafka.tls.certFile', 'kafka.tls.keyFile', 'kafka.tls.serverName'] as const) {
      if (get<string>(k)) throw new ConfigError(k, 'is set but kafka.tls.enabled is false');
    }
  }
  let sasl: KafkaSaslOptions | undefined;
  const mechanism = get<string>('kafka.sasl.mechanism');
  if (mechanism !== 'none') {
    const username = get<string>('kafka.sasl.username');
    if (!username) throw new ConfigError('kafka.sasl.username', `is required with kafka.sasl.mechanism ${mechanism}`);
    const file = get<string>('kafka.sasl.passwordFile');
    let password = env[SASL_PASSWORD_ENV];
    if (file) {
      try {
        password = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new ConfigError('kafka.sasl.passwordFile', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    if (!password) throw new ConfigError('kafka.sasl.passwordFile', `SASL ${mechanism} needs a password: set kafka.sasl.passwordFile or ${SASL_PASSWORD_ENV}`);
    secrets.saslPassword = password;
    sasl = { mechanism: mechanism as KafkaSaslOptions['mechanism'], username, password };
  }

  const config: AgentConfig = {
    hostId,
    sink,
    logLevel: get<LogLevel>('log.level'),
    statusIntervalMs: get('status.intervalMs'),
    shutdownTimeoutMs: get('shutdownTimeoutMs'),
    vici: { enabled: get('vici.enabled'), uri: get('vici.uri'), reconnectMinMs: get('vici.reconnectMinMs'), reconnectMaxMs: get('vici.reconnectMaxMs'), commandTimeoutMs: get('vici.commandTimeoutMs') },
    rtnetlink: { enabled: get('rtnetlink.enabled'), receiveBufferBytes: get('rtnetlink.receiveBufferBytes') },
    path: { enabled: get('path.enabled'), strongswanConf: get('path.strongswanConf'), swanctlConf: get('path.swanctlConf'), remediationDir: get('path.remediationDir') },
    kafka: {
      brokers: get('kafka.brokers'),
      topic: get('kafka.topic'),
      clientId: get('kafka.clientId'),
      createTopic: get('kafka.createTopic'),
      topicPartitions: get('kafka.topicPartitions'),
      topicReplicationFactor: get('kafka.topicReplicationFactor'),
      compression: get('kafka.compression'),
      batchMaxEvents: get('kafka.batchMaxEvents'),
      batchMaxBytes: get('kafka.batchMaxBytes'),
      lingerMs: get('kafka.lingerMs'),
      connectionTimeoutMs: get('kafka.connectionTimeoutMs'),
      requestTimeoutMs: get('kafka.requestTimeoutMs'),
      retryMinMs: get('kafka.retryMinMs'),
      retryMaxMs: get('kafka.retryMaxMs'),
      degradedLagMs: get('kafka.degradedLagMs'),
      tls,
      sasl: sasl ? { ...sasl } : undefined,
    },
    spool: { dir: get('spool.dir'), maxBytes, segmentBytes, onFull: get('spool.onFull'), fsyncIntervalMs: get('spool.fsyncIntervalMs'), memoryMaxBytes: get('spool.memoryMaxBytes') },
    origins,
  };
  // The password lives in `secrets` and in the transport options only; hide it from casual dumps.
  if (config.kafka.sasl) Object.defineProperty(config.kafka.sasl, 'password', { enumerable: false, value: secrets.saslPassword });
  return { config, secrets };
}

/** A config summary safe to log and to put in agent.started: no secrets, no file contents. */
export function summarizeConfig(c: AgentConfig): Record<string, unknown> {
  return {
    hostId: c.hostId,
    sink: c.sink.type === 'file' ? `file:${c.sink.path}` : c.sink.type,
    vici: c.vici.enabled ? c.vici.uri : 'disabled',
    rtnetlink: c.rtnetlink.enabled,
    path: c.path.enabled,
    ...(c.sink.type === 'kafka'
      ? { kafka: { brokers: c.kafka.brokers, topic: c.kafka.topic, compression: c.kafka.compression, tls: Boolean(c.kafka.tls), sasl: c.kafka.sasl ? { mechanism: c.kafka.sasl.mechanism, username: c.kafka.sasl.username } : false } }
      : {}),
    spool: { dir: c.spool.dir, maxBytes: c.spool.maxBytes, onFull: c.spool.onFull, fsyncIntervalMs: c.spool.fsyncIntervalMs },
    statusIntervalMs: c.statusIntervalMs,
  };
}
