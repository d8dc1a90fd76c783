/**
 * The Kafka transport (kafkajs 2.2.4).
 *
 * - Idempotent producer (`idempotent: true`, one request in flight), acks from all in-sync
 *   replicas (`acks: -1`): a retried batch is written once per producer session, in order.
 * - Every message is keyed by the host id, so one host's events go to one partition, in order.
 * - Compression: gzip (`compression: gzip`, the codec built into kafkajs; snappy/lz4/zstd need
 *   extra codec packages, which the agent does not carry) or none.
 * - Batching: the spooled sink hands over batches bounded by count, bytes and linger time; one
 *   batch is one produce request. Inside it, consecutive events are packed into batch records
 *   (`recordMaxEvents`, `recordMaxBytes`; core's batch.ts, docs/events.md "Records"): kafkajs
 *   spends its time per record (encoding, CRC, the partitioner, its O(n²) grouping of a
 *   request's messages), so one record of 500 events costs it about what one event did. The
 *   spool stays per event: a produce request is acknowledged as a whole, then the spool moves
 *   to its last event (spooled-sink.ts); after a crash the unacknowledged events are sent again
 *   with their ids, and the processor drops the duplicates by id.
 * - The topic is created if missing (`createTopic`, with `topicPartitions` partitions and
 *   `topicReplicationFactor`, -1 = the broker's default). When the cluster forbids it
 *   (authorization, policy), the error says so and what to do.
 * - kafkajs' own retry is kept short (`retryMaxMs`): the sink's delivery loop retries the same
 *   batch forever with backoff, and reports the outage in agent.status meanwhile.
 * - kafkajs' request queue busy-polls every 1 ms while idle; kafkajs-idle-fix.ts stops that.
 * - kafkajs log lines go to the winston logger at debug level (during an outage kafkajs logs
 *   every connection attempt as an error; the sink logs the state change once instead).
 */
import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { CompressionTypes, Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Admin, ICustomPartitioner, Producer, SASLOptions, KafkaConfig, LogEntry } from 'kafkajs';
import { RoamwatchError, batchHeaders, encodeBatchValue } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import type { SpoolRecord } from './spool.js';
import type { Transport } from './types.js';
import { applyKafkajsIdleFix } from './kafkajs-idle-fix.js';
import { explainKafkaError } from '@roamwatch/core';

export type KafkaCompression = 'gzip' | 'none';

export interface KafkaTlsOptions {
  /** PEM file of the CA(s) that signed the brokers' certificates (default: the system store). */
  caFile?: string;
  /** Client certificate (PEM) for mutual TLS. */
  certFile?: string;
  /** Client key (PEM) for mutual TLS; a secret: read from the file, never logged. */
  keyFile?: string;
  /** Passphrase of an encrypted keyFile; a secret, never logged. */
  keyPassphrase?: string;
  /** Server name for SNI and certificate checks (default: the broker host). */
  serverName?: string;
  /** Verify the brokers' certificates (default true). */
  rejectUnauthorized?: boolean;
}

export interface KafkaSaslOptions {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  /** Resolved secret (from a file or the environment); never logged. */
  password: string;
}

export interface KafkaTransportOptions {
  brokers: string[];
  topic: string;
  /** Message key: the host id. */
  key: string;
  clientId: string;
  compression: KafkaCompression;
  /** Most events in one Kafka record (1: single-event records, the format before batch records). Default 500. */
  recordMaxEvents?: number;
  /** Most bytes (UTF-8, uncompressed) of one batch record's value. Default 256 KiB. */
  recordMaxBytes?: number;
  tls?: KafkaTlsOptions | undefined;
  sasl?: KafkaSaslOptions | undefined;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  /** Upper bound of kafkajs' internal retry backoff for one request. */
  retryMaxMs: number;
  createTopic: boolean;
  topicPartitions: number;
  /** -1 = the broker's default.replication.factor. */
  topicReplicationFactor: number;
  logger: Logger;
}

export class KafkaTopicError extends RoamwatchError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'KAFKA_TOPIC', retriable: true, cause });
    this.name = 'KafkaTopicError';
  }
}

const FORBIDDEN = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'POLICY_VIOLATION', 'INVALID_REPLICATION_FACTOR', 'INVALID_PARTITIONS']);

function errorTypes(err: unknown): string[] {
  const e = err as { type?: string; errors?: Array<{ type?: string }>; cause?: unknown };
  const out: string[] = [];
  if (typeof e?.type === 'string') out.push(e.type);
  if (Array.isArray(e?.errors)) for (const x of e.errors) if (typeof x?.type === 'string') out.push(x.type);
  return out;
}

export function kafkaTlsConfig(tls: KafkaTlsOptions | undefined): ConnectionOptions | undefined {
  if (!tls) return undefined;
  const read = (file: string | undefined) => (file ? fs.readFileSync(file, 'utf8') : undefined);
  const ca = read(tls.caFile);
  const cert = read(tls.certFile);
  const key = read(tls.keyFile);
  return {
    ...(ca ? { ca: [ca] } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(key && tls.keyPassphrase ? { passphrase: tls.keyPassphrase } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
}

/**
 * kafkajs' default partitioner (murmur2 of the key, as Java's), computed once per key and
 * partition count: every message of this agent has the same key, so hashing it per message
 * is wasted work.
 */
const cachedKeyPartitioner: ICustomPartitioner = () => {
  const inner = Partitioners.DefaultPartitioner();
  const cache = new Map<string, number>();
  return (args) => {
    const key = args.message.key;
    if (typeof key !== 'string') return inner(args);
    const ck = `${args.topic}\u0000${args.partitionMetadata.length}\u0000${key}`;
    let p = cache.get(ck);
    if (p === undefined) {
      p = inner(args);
      cache.set(ck, p);
    }
    return p;
  };
};

/** One Kafka record: one event as it always was, or a batch record of several (with its headers). */
export interface PackedRecord {
  value: string;
  headers?: Record<string, string>;
  /** Events in it. */
  events: number;
}

/**
 * Packs spooled records, in order, into Kafka records of at most `maxEvents` events and
 * `maxBytes` bytes (an event larger than maxBytes goes alone). A record of one event is written
 * as before batch records (no headers), so that a batch of one is today's record exactly.
 */
export function packRecords(records: readonly SpoolRecord[], maxEvents: number, maxBytes: number): PackedRecord[] {
  const out: PackedRecord[] = [];
  let i = 0;
  while (i < records.length) {
    let j = i + 1;
    let bytes = records[i]!.bytes;
    while (j < records.length && j - i < maxEvents && bytes + 1 + records[j]!.bytes <= maxBytes) {
      bytes += 1 + records[j]!.bytes;
      j += 1;
    }
    if (j - i === 1) out.push({ value: records[i]!.line, events: 1 });
    else {
      const lines: string[] = new Array<string>(j - i);
      for (let k = i; k < j; k++) lines[k - i] = records[k]!.line;
      out.push({ value: encodeBatchValue(lines), headers: batchHeaders(j - i), events: j - i });
    }
    i = j;
  }
  return out;
}

export class KafkaTransport implements Transport {
  readonly kind = 'kafka';
  private readonly o: KafkaTransportOptions;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private topicReady = false;

  constructor(o: KafkaTransportOptions) {
    this.o = o;
    const log = o.logger;
    if (!applyKafkajsIdleFix()) log.warn('kafkajs idle-timer fix not applied (kafkajs internals changed?): idle CPU may be higher');
    const config: KafkaConfig = {
      clientId: o.clientId,
      brokers: o.brokers,
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retry: { initialRetryTime: 200, maxRetryTime: o.retryMaxMs, retries: 5 },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ namespace, log: entry }: LogEntry) => {
          // kafkajs sockets may still report after the agent closed its logger: never throw here.
          if ((log as unknown as { writableEnded?: boolean }).writableEnded) return;
          const { message, ...rest } = entry;
          log.debug(`kafkajs ${namespace}: ${message}`, { kafkajs: { error: (rest as { error?: unknown }).error, broker: (rest as { broker?: unknown }).broker } });
        },
    };
    const ssl = kafkaTlsConfig(o.tls);
    if (ssl) config.ssl = ssl;
    if (o.sasl) config.sasl = { mechanism: o.sasl.mechanism, username: o.sasl.username, password: o.sasl.password } as SASLOptions;
    this.kafka = new Kafka(config);
  }

  async connect(): Promise<void> {
    try {
      await this.connectOnce();
    } catch (err) {
      throw this.explain(err);
    }
  }

  /** A refused login, certificate or ACL gets a message naming the cause (KafkaAccessError). */
  private explain(err: unknown): unknown {
    return explainKafkaError(err, { brokers: this.o.brokers, tls: Boolean(this.o.tls), sasl: this.o.sasl?.mechanism });
  }

  private async connectOnce(): Promise<void> {
    if (!this.topicReady) {
      await this.ensureTopic();
      this.topicReady = true;
    }
    if (!this.producer) {
      const producer = this.kafka.producer({
        createPartitioner: cachedKeyPartitioner,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // kafkajs warns that limiting an idempotent producer's retries "may invalidate EoS":
        // the sink resends exactly the same batch after a failure, so order holds and a
        // duplicate (if any) carries the same event id.
        retry: { initialRetryTime: 200, maxRetryTime: this.o.retryMaxMs, retries: 5 },
      });
      try {
        await producer.connect();
      } catch (err) {
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
      this.producer = producer;
    }
  }

  private async ensureTopic(): Promise<void> {
    const { topic, topicPartitions, topicReplicationFactor } = this.o;
    const admin: Admin = this.kafka.admin({ retry: { retries: 2, maxRetryTime: this.o.retryMaxMs } });
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (topics.includes(topic)) return;
      if (!this.o.createTopic) {
        throw new KafkaTopicError(`kafka topic "${topic}" does not exist and kafka.createTopic is false: create it (kafka-topics.sh --create --topic ${topic} --partitions ${topicPartitions}) or set kafka.createTopic: true`);
      }
      try {
        await admin.createTopics({
          topics: [{ topic, numPartitions: topicPartitions, replicationFactor: topicReplicationFactor }],
          waitForLeaders: true,
          timeout: this.o.requestTimeoutMs,
        });
        this.o.logger.info('created kafka topic', { topic, partitions: topicPartitions, replicationFactor: topicReplicationFactor });
      } catch (err) {
        const types = errorTypes(err);
        if (types.some((t) => FORBIDDEN.has(t))) {
          throw new KafkaTopicError(
            `kafka topic "${topic}" is missing and the cluster refused to create it (${types.join(', ')}): ` +
              `create it yourself with ${topicPartitions} partitions, or grant this client CREATE on the cluster, then the agent sends its spooled events`,
            err,
          );
        }
        throw err;
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async send(records: readonly SpoolRecord[]): Promise<void> {
    if (!this.producer) await this.connect();
    const key = this.o.key;
    try {
      await this.producer!.send({
        topic: this.o.topic,
        acks: -1,
        compression: this.o.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: packRecords(records, this.o.recordMaxEvents ?? 500, this.o.recordMaxBytes ?? 256 * 1024).map((r) => (r.headers ? { key, value: r.value, headers: r.headers } : { key, value: r.value })),
      });
    } catch (err) {
      throw this.explain(err);
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p) await p.disconnect();
  }
}
