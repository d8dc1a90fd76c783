/**
 * Kafka topic sinks: findings (JSON, keyed by host) and dead letters (the raw value, with
 * the reason in headers). In order, batched, retried with backoff (on top of kafkajs' own
 * retries); acknowledged when the broker has them (acks = all).
 *
 * Batches are bounded by bytes as well as by count (`batchMaxBytes`, default 512 KiB, well
 * under the broker's default message.max.bytes of 1 MiB + 12 bytes for a record batch): 40
 * dead letters of 60 KiB each no longer make one request the broker refuses. A message the
 * broker still refuses (MESSAGE_TOO_LARGE: larger than the topic's limit on its own) is
 * offered to `replaceRejected` (dead letters: a reference to the source record instead of
 * its value) before it would be dropped.
 */
import type { Producer, Message } from 'kafkajs';
import kafkajs from 'kafkajs';
import { silentLogger } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { BatchingSink } from './batching-sink.js';

export interface TopicSinkOptions {
  producer: Producer;
  topic: string;
  name: string;
  batchSize?: number;
  /** Bytes per produce request (values, keys, headers and per-record overhead). Default 524288. */
  batchMaxBytes?: number;
  lingerMs?: number;
  logger?: Logger;
  /** What to send instead of a message the broker refuses for good (default: none, it is dropped and logged). */
  replaceRejected?: (message: Message, err: unknown) => Message | undefined;
}

/** Per-record overhead of the Kafka record format v2 (length, attributes, deltas, varints), rounded up. */
const RECORD_OVERHEAD_BYTES = 64;

function bytesOf(v: Message['value'] | Message['key'] | string | Buffer | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

export class TopicSink extends BatchingSink<Message> {
  private readonly producer: Producer;
  private readonly topic: string;
  private readonly replace: TopicSinkOptions['replaceRejected'];

  constructor({ producer, topic, name, batchSize = 1000, batchMaxBytes = 512 * 1024, lingerMs = 20, logger = silentLogger(), replaceRejected }: TopicSinkOptions) {
    super({ name, batchSize, batchMaxBytes, lingerMs, retryMinMs: 100, retryMaxMs: 5000, logger });
    this.producer = producer;
    this.topic = topic;
    this.replace = replaceRejected;
  }

  protected override sizeOf(m: Message): number {
    let n = RECORD_OVERHEAD_BYTES + bytesOf(m.value) + bytesOf(m.key);
    for (const [k, v] of Object.entries(m.headers ?? {})) n += Buffer.byteLength(k) + 8 + (Array.isArray(v) ? v.reduce((a: number, x) => a + bytesOf(x as string | Buffer), 0) : bytesOf(v as string | Buffer | undefined));
    return n;
  }

  protected override replaceRejected(m: Message, err: unknown): Message | undefined {
    return this.replace?.(m, err);
  }

  protected async send(messages: Message[]): Promise<void> {
    await this.producer.send({ topic: this.topic, messages, acks: -1 });
  }

  protected retriable(err: unknown): boolean {
    if (err instanceof kafkajs.KafkaJSError) return err.retriable || err.name === 'KafkaJSNumberOfRetriesExceeded' || err.name === 'KafkaJSConnectionError';
    return true;
  }
}
