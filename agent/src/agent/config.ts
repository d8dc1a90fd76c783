/**
 * The agent's configuration: one declarative table (CONFIG_KEYS) of every key with its type,
 * default, unit (in the name) and meaning, on the mechanism every roamwatch command shares
 * (@roamwatch/core config: file + env + flags, derived types, secrets from files, masking).
 * The Kafka client keys (brokers, TLS, SASL) and log.level are the shared groups
 * KAFKA_CLIENT_KEYS and LOG_KEYS, the same in every command. deploy/roamwatch-agent.example.yaml
 * documents every key (a unit test checks that it names each one).
 *
 * Sources, later ones win: defaults < config file (YAML or JSON, nested keys) < environment
 * (ROAMWATCH_<KEY>, e.g. ROAMWATCH_KAFKA_TOPIC_PARTITIONS for kafka.topicPartitions) < flags.
 * Unknown keys are rejected. Every error is a ConfigError whose message names the key
 * (`config kafka.lingerMs: expected an integer >= 0, got "soon"`), and the CLI exits 2.
 *
 * Secrets (the SASL password, the TLS key passphrase) come from files, systemd credentials or
 * the environment, never from flags or the config file, and never appear in logs or in the
 * agent.started event: `summarizeConfig` leaves them out.
 */
import os from 'node:os';
import { ConfigError, HEALTH_KEYS, HOST_ID_RE, KAFKA_CLIENT_KEYS, LOG_KEYS, kafkaClientSettings, loadConfig } from '@roamwatch/core';
import type { ConfigTable, ConfigValues, LoadConfigInput as CoreLoadConfigInput, Origin, ValueOf } from '@roamwatch/core';
import type { KafkaSaslOptions, KafkaTlsOptions } from '../sinks/kafka.js';

/** Every key of the agent's configuration. The example config documents each one. */
const AGENT_KEYS = {
  hostId: { type: 'string', default: '', doc: 'Host id in every envelope and the Kafka message key (default: the hostname).', check: (v: string) => (v === '' || HOST_ID_RE.test(v) ? undefined : 'expected letters, digits, . _ : - (max 253 characters)') },
  sink: { type: 'string', default: 'kafka', doc: 'Where events go: kafka, stdout, or file:PATH (JSON lines).', check: (v: string) => (v === 'kafka' || v === 'stdout' || /^file:.+/.test(v) ? undefined : 'expected kafka, stdout or file:PATH') },
  'status.intervalMs': { type: 'int', default: 30_000, min: 0, doc: 'agent.status heartbeat interval; 0 = no heartbeats.' },
  shutdownTimeoutMs: { type: 'int', default: 10_000, min: 0, doc: 'On SIGTERM: how long to keep sending spooled events before closing (the rest stays spooled).' },
  'vici.enabled': { type: 'bool', default: true, doc: 'Read charon events over VICI.' },
  'vici.uri': { type: 'string', flag: 'vici', default: 'unix:///var/run/charon.vici', doc: "charon's VICI socket: unix:///path or tcp://host:port.", check: (v: string) => (/^(unix:\/\/\/.+|tcp:\/\/.+:\d+)$/.test(v) ? undefined : 'expected unix:///path or tcp://host:port') },
  'vici.reconnectMinMs': { type: 'int', default: 100, min: 1, doc: 'First reconnect delay after charon went away.' },
  'vici.reconnectMaxMs': { type: 'int', default: 5000, min: 1, doc: 'Upper bound of the reconnect backoff.' },
  'vici.commandTimeoutMs': { type: 'int', default: 10_000, min: 1, doc: 'Time limit of one VICI command (list-sas, list-conns).' },
  'rtnetlink.enabled': { type: 'bool', default: true, doc: 'Read route, address, link and rule changes from the kernel.' },
  'rtnetlink.receiveBufferBytes': { type: 'int', default: 32 * 1024 * 1024, min: 4096, max: 2 ** 30, doc: 'Netlink socket receive buffer (a route storm that overflows it triggers a resync; the bounds are those RtnetlinkSource accepts).' },
  'rtnetlink.coalesce.enabled': { type: 'bool', default: true, doc: 'Coalesce route storms into route.summary events (false: every route change is its own event, whatever the rate; see docs/agent.md "Route storms").' },
  'rtnetlink.coalesce.thresholdPerS': { type: 'int', default: 1000, min: 1, doc: 'Route changes per second beyond which they are counted into route.summary events instead of emitted one by one.' },
  'rtnetlink.coalesce.summaryIntervalMs': { type: 'int', default: 1000, min: 10, max: 60_000, doc: 'One route.summary per this interval while a storm lasts; a storm ends when an interval sees fewer than thresholdPerS changes a second.' },
  'rtnetlink.coalesce.examples': { type: 'int', default: 10, min: 0, max: 100, doc: 'Route changes listed as examples in each route.summary.' },
  'path.enabled': { type: 'bool', default: true, doc: 'Emit path.verdict events (which IKE_SAs the next route change would reauthenticate).' },
  'path.strongswanConf': { type: 'string', flag: 'strongswan-conf', default: '/etc/strongswan.conf', doc: 'strongswan.conf read by the path analyzer (roam_events, MOBIKE defaults).' },
  'path.swanctlConf': { type: 'string', flag: 'swanctl-conf', default: '/etc/swanctl/swanctl.conf', doc: "swanctl.conf read for each connection's mobike setting (VICI does not say whether MOBIKE is on; without it verdicts can stay unknown)." },
  'path.remediationDir': { type: 'string', flag: 'remediation-dir', default: '/var/lib/roamwatch/remediation', doc: "roamwatch doctor --apply's journal, read (never written) to say whether an at-risk → valid transition was roamwatch's change (path.verdict remediation.appliedBy)." },
  'kafka.topic': { type: 'string', flag: 'topic', default: 'roamwatch.events', doc: 'Topic of the envelopes.', check: (v: string) => (/^[A-Za-z0-9._-]{1,249}$/.test(v) ? undefined : 'expected a Kafka topic name: letters, digits, . _ - (max 249)') },
  'kafka.clientId': { type: 'string', default: 'roamwatch-agent', doc: 'Kafka client id (quotas, broker logs).' },
  'kafka.createTopic': { type: 'bool', default: true, doc: 'Create the topic when it is missing.' },
  'kafka.topicPartitions': { type: 'int', flag: 'topic-partitions', default: 12, min: 1, max: 10_000, doc: 'Partitions of a topic the agent creates (the processor scales up to this many consumers).' },
  'kafka.topicReplicationFactor': { type: 'int', default: -1, min: -1, max: 32, doc: "Replication factor of a topic the agent creates; -1 = the broker's default.replication.factor.", check: (v: number) => (v === 0 ? 'expected -1 or >= 1' : undefined) },
  'kafka.compression': { type: ['gzip', 'none'] as const, default: 'gzip', doc: 'Batch compression: gzip (built into kafkajs) or none.' },
  'kafka.batchMaxEvents': { type: 'int', default: 1000, min: 1, max: 100_000, doc: 'Most events in one produce request (kafkajs groups a batch in O(n²): keep it in the low thousands).' },
  'kafka.batchMaxBytes': { type: 'int', default: 1024 * 1024, min: 1024, doc: 'Most bytes (uncompressed) in one produce request; keep below the broker message.max.bytes.' },
  'kafka.recordMaxEvents': { type: 'int', default: 500, min: 1, max: 100_000, doc: 'Most events in one Kafka record: consecutive events travel as one batch record (NDJSON, docs/events.md "Records"), so kafkajs\' per-record cost is paid once per batch. 1 writes one event per record, as agents before batch records did (for processors older than batch records).' },
  'kafka.recordMaxBytes': { type: 'int', default: 256 * 1024, min: 1024, doc: "Most bytes (uncompressed) in one batch record; an event larger than this travels alone. Keep below the broker's message.max.bytes." },
  'kafka.lingerMs': { type: 'int', default: 20, min: 0, max: 60_000, doc: 'Longest wait for a fuller batch.' },
  'kafka.connectionTimeoutMs': { type: 'int', default: 3000, min: 1, doc: 'TCP/TLS connect timeout per broker.' },
  'kafka.requestTimeoutMs': { type: 'int', default: 30_000, min: 1, doc: 'Time limit of one request (produce, metadata).' },
  'kafka.retryMinMs': { type: 'int', default: 250, min: 1, doc: 'First delay before resending a failed batch.' },
  'kafka.retryMaxMs': { type: 'int', default: 5000, min: 1, doc: 'Upper bound of the resend backoff (also kafkajs internal retry).' },
  'kafka.degradedLagMs': { type: 'int', default: 10_000, min: 1, doc: 'agent.status says sink degraded when the oldest unsent event is older.' },
  'spool.dir': { type: 'string', default: '/var/lib/roamwatch/spool', doc: 'Spool directory: unsent events and the sequence number survive restarts here.' },
  'spool.maxBytes': { type: 'int', default: 1024 * 1024 * 1024, min: 65_536, doc: 'Bound of the spool on disk.' },
  'spool.segmentBytes': { type: 'int', default: 16 * 1024 * 1024, min: 4096, doc: 'Size of one spool segment file (at most maxBytes / 4).' },
  'spool.onFull': { type: ['drop-oldest', 'drop-newest'] as const, default: 'drop-oldest', doc: 'At the bound: delete the oldest unsent segment, or refuse new events. Either way counted, logged and reported as agent.gap.' },
  'spool.fsyncIntervalMs': { type: 'int', default: 1000, min: 0, doc: 'fdatasync period of the spool; 0 = after every write batch. A crash of the agent loses nothing written; a power loss at most this window.' },
  'spool.memoryMaxBytes': { type: 'int', default: 32 * 1024 * 1024, min: 0, doc: 'Unsent events also kept in memory up to this size (beyond, they are read back from the spool files).' },
  'spool.minFreeBytes': { type: 'int', default: 64 * 1024 * 1024, min: 0, doc: 'Free space the spool leaves on its filesystem: the bound is the smaller of spool.maxBytes and what fits above this (onFull applies there too).' },
} as const satisfies ConfigTable;

/** Every key of the agent's configuration. */
export const CONFIG_KEYS = { ...AGENT_KEYS, ...LOG_KEYS, ...KAFKA_CLIENT_KEYS, ...HEALTH_KEYS } as const satisfies ConfigTable;

export type ConfigKey = keyof typeof CONFIG_KEYS;
/** The type of one key's value, from the table. */
type V<K extends ConfigKey> = ValueOf<(typeof CONFIG_KEYS)[K]>;

/** The validated configuration, a nested view of the flat values; leaf types come from the table. */
export interface AgentConfig {
  hostId: string;
  sink: { type: 'kafka' } | { type: 'stdout' } | { type: 'file'; path: string };
  logLevel: V<'log.level'>;
  statusIntervalMs: V<'status.intervalMs'>;
  shutdownTimeoutMs: V<'shutdownTimeoutMs'>;
  vici: { enabled: V<'vici.enabled'>; uri: V<'vici.uri'>; reconnectMinMs: V<'vici.reconnectMinMs'>; reconnectMaxMs: V<'vici.reconnectMaxMs'>; commandTimeoutMs: V<'vici.commandTimeoutMs'> };
  rtnetlink: {
    enabled: V<'rtnetlink.enabled'>;
    receiveBufferBytes: V<'rtnetlink.receiveBufferBytes'>;
    /** Storm coalescing; undefined when rtnetlink.coalesce.enabled is false. */
    coalesce: { thresholdPerS: V<'rtnetlink.coalesce.thresholdPerS'>; summaryIntervalMs: V<'rtnetlink.coalesce.summaryIntervalMs'>; examples: V<'rtnetlink.coalesce.examples'> } | undefined;
  };
  path: { enabled: V<'path.enabled'>; strongswanConf: V<'path.strongswanConf'>; swanctlConf: V<'path.swanctlConf'>; remediationDir: V<'path.remediationDir'> };
  kafka: {
    brokers: V<'kafka.brokers'>;
    topic: V<'kafka.topic'>;
    clientId: V<'kafka.clientId'>;
    createTopic: V<'kafka.createTopic'>;
    topicPartitions: V<'kafka.topicPartitions'>;
    topicReplicationFactor: V<'kafka.topicReplicationFactor'>;
    compression: V<'kafka.compression'>;
    batchMaxEvents: V<'kafka.batchMaxEvents'>;
    batchMaxBytes: V<'kafka.batchMaxBytes'>;
    recordMaxEvents: V<'kafka.recordMaxEvents'>;
    recordMaxBytes: V<'kafka.recordMaxBytes'>;
    lingerMs: V<'kafka.lingerMs'>;
    connectionTimeoutMs: V<'kafka.connectionTimeoutMs'>;
    requestTimeoutMs: V<'kafka.requestTimeoutMs'>;
    retryMinMs: V<'kafka.retryMinMs'>;
    retryMaxMs: V<'kafka.retryMaxMs'>;
    degradedLagMs: V<'kafka.degradedLagMs'>;
    tls: KafkaTlsOptions | undefined;
    sasl: KafkaSaslOptions | undefined;
  };
  spool: { dir: V<'spool.dir'>; maxBytes: V<'spool.maxBytes'>; segmentBytes: V<'spool.segmentBytes'>; onFull: V<'spool.onFull'>; fsyncIntervalMs: V<'spool.fsyncIntervalMs'>; memoryMaxBytes: V<'spool.memoryMaxBytes'>; minFreeBytes: V<'spool.minFreeBytes'> };
  /** Where each key's value came from (default, file, env, flag, credential), for `--print-config`. */
  origins: Record<string, Origin>;
  /** Things that work but should not be so (SASL without TLS, certificates not verified): log them at warn. */
  warnings: string[];
}

export { envName } from '@roamwatch/core';

/** The secret given directly in the environment (ROAMWATCH_KAFKA_SASL_PASSWORD_FILE names a file instead). */
export const SASL_PASSWORD_ENV = 'ROAMWATCH_KAFKA_SASL_PASSWORD';

export interface LoadConfigInput extends CoreLoadConfigInput {
  /** Values from flags, by config key (e.g. { 'kafka.topic': 'x' }); strings are parsed. */
  flags?: Partial<Record<ConfigKey, unknown>> & Record<string, unknown>;
  /** Hostname for the default host id (default os.hostname()). */
  hostname?: string;
}

/** Resolved secrets: kept apart from AgentConfig so that logging the config cannot leak them. */
export interface AgentSecrets {
  saslPassword?: string;
  tlsKeyPassphrase?: string;
}

export interface LoadedConfig {
  config: AgentConfig;
  secrets: AgentSecrets;
  /** The flat values, origins and table, for --print-config. */
  values: ConfigValues<typeof CONFIG_KEYS> & Record<string, unknown>;
  table: ConfigTable;
}

/** Reads, merges and validates the configuration. Throws ConfigError naming the key. */
export function loadAgentConfig(input: LoadConfigInput = {}): LoadedConfig {
  const loaded = loadConfig(CONFIG_KEYS, input);
  return { ...buildAgentConfig(loaded.values, loaded.origins, input.hostname), values: loaded.values, table: loaded.table };
}

/**
 * The agent configuration from validated flat values (also used by `watch`, whose table holds
 * the agent's source keys but no Kafka or spool keys: missing keys take their defaults).
 */
export function buildAgentConfig(input: Partial<ConfigValues<typeof CONFIG_KEYS>> & Record<string, unknown>, origins: Record<string, Origin> = {}, hostname?: string): { config: AgentConfig; secrets: AgentSecrets } {
  const values: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(CONFIG_KEYS) as Array<[string, { default: unknown }]>) values[k] = k in input ? input[k] : spec.default;
  for (const k of ['kafka.sasl.password', 'kafka.tls.keyPassphrase']) values[k] = input[k] ?? '';
  const get = <K extends ConfigKey>(k: K) => values[k as string] as V<K>;

  const hostId = get('hostId') || (hostname ?? os.hostname());
  if (!HOST_ID_RE.test(hostId)) throw new ConfigError('hostId', `the hostname ${JSON.stringify(hostId)} is not a valid host id; set hostId (--host-id)`);
  const sinkText = get('sink');
  const sink: AgentConfig['sink'] = sinkText === 'kafka' ? { type: 'kafka' } : sinkText === 'stdout' ? { type: 'stdout' } : { type: 'file', path: sinkText.slice('file:'.length) };

  const maxBytes = get('spool.maxBytes');
  const segmentBytes = get('spool.segmentBytes');
  if (segmentBytes * 4 > maxBytes) throw new ConfigError('spool.segmentBytes', `must be at most spool.maxBytes / 4 (${Math.floor(maxBytes / 4)}), got ${segmentBytes}`);
  if (get('vici.reconnectMaxMs') < get('vici.reconnectMinMs')) throw new ConfigError('vici.reconnectMaxMs', 'must be >= vici.reconnectMinMs');
  if (get('kafka.retryMaxMs') < get('kafka.retryMinMs')) throw new ConfigError('kafka.retryMaxMs', 'must be >= kafka.retryMinMs');

  const client = kafkaClientSettings(values as Parameters<typeof kafkaClientSettings>[0]);
  const secrets: AgentSecrets = {};
  if (client.sasl) secrets.saslPassword = client.sasl.password;
  if (client.tls?.keyPassphrase) secrets.tlsKeyPassphrase = client.tls.keyPassphrase;

  const config: AgentConfig = {
    hostId,
    sink,
    logLevel: get('log.level'),
    statusIntervalMs: get('status.intervalMs'),
    shutdownTimeoutMs: get('shutdownTimeoutMs'),
    vici: { enabled: get('vici.enabled'), uri: get('vici.uri'), reconnectMinMs: get('vici.reconnectMinMs'), reconnectMaxMs: get('vici.reconnectMaxMs'), commandTimeoutMs: get('vici.commandTimeoutMs') },
    rtnetlink: {
      enabled: get('rtnetlink.enabled'),
      receiveBufferBytes: get('rtnetlink.receiveBufferBytes'),
      coalesce: get('rtnetlink.coalesce.enabled')
        ? { thresholdPerS: get('rtnetlink.coalesce.thresholdPerS'), summaryIntervalMs: get('rtnetlink.coalesce.summaryIntervalMs'), examples: get('rtnetlink.coalesce.examples') }
        : undefined,
    },
    path: { enabled: get('path.enabled'), strongswanConf: get('path.strongswanConf'), swanctlConf: get('path.swanctlConf'), remediationDir: get('path.remediationDir') },
    kafka: {
      brokers: client.brokers,
      topic: get('kafka.topic'),
      clientId: get('kafka.clientId'),
      createTopic: get('kafka.createTopic'),
      topicPartitions: get('kafka.topicPartitions'),
      topicReplicationFactor: get('kafka.topicReplicationFactor'),
      compression: get('kafka.compression'),
      batchMaxEvents: get('kafka.batchMaxEvents'),
      batchMaxBytes: get('kafka.batchMaxBytes'),
      recordMaxEvents: get('kafka.recordMaxEvents'),
      recordMaxBytes: get('kafka.recordMaxBytes'),
      lingerMs: get('kafka.lingerMs'),
      connectionTimeoutMs: get('kafka.connectionTimeoutMs'),
      requestTimeoutMs: get('kafka.requestTimeoutMs'),
      retryMinMs: get('kafka.retryMinMs'),
      retryMaxMs: get('kafka.retryMaxMs'),
      degradedLagMs: get('kafka.degradedLagMs'),
      tls: client.tls ? { ...client.tls } : undefined,
      sasl: client.sasl ? { ...client.sasl } : undefined,
    },
    spool: { dir: get('spool.dir'), maxBytes, segmentBytes, onFull: get('spool.onFull'), fsyncIntervalMs: get('spool.fsyncIntervalMs'), memoryMaxBytes: get('spool.memoryMaxBytes'), minFreeBytes: get('spool.minFreeBytes') },
    origins,
    warnings: sink.type === 'kafka' ? client.warnings : [],
  };
  // The secrets live in `secrets` and in the transport options only; hide them from casual dumps.
  if (config.kafka.sasl) Object.defineProperty(config.kafka.sasl, 'password', { enumerable: false, value: secrets.saslPassword });
  if (config.kafka.tls?.keyPassphrase) Object.defineProperty(config.kafka.tls, 'keyPassphrase', { enumerable: false, value: secrets.tlsKeyPassphrase });
  return { config, secrets };
}

/** A config summary safe to log and to put in agent.started: no secrets, no file contents. */
export function summarizeConfig(c: AgentConfig): Record<string, unknown> {
  return {
    hostId: c.hostId,
    sink: c.sink.type === 'file' ? `file:${c.sink.path}` : c.sink.type,
    vici: c.vici.enabled ? c.vici.uri : 'disabled',
    rtnetlink: c.rtnetlink.enabled,
    ...(c.rtnetlink.enabled ? { coalesce: c.rtnetlink.coalesce ?? false } : {}),
    path: c.path.enabled,
    ...(c.sink.type === 'kafka'
      ? { kafka: { brokers: c.kafka.brokers, topic: c.kafka.topic, compression: c.kafka.compression, tls: Boolean(c.kafka.tls), sasl: c.kafka.sasl ? { mechanism: c.kafka.sasl.mechanism, username: c.kafka.sasl.username } : false } }
      : {}),
    spool: { dir: c.spool.dir, maxBytes: c.spool.maxBytes, onFull: c.spool.onFull, fsyncIntervalMs: c.spool.fsyncIntervalMs },
    statusIntervalMs: c.statusIntervalMs,
  };
}
