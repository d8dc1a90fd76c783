/**
 * Kafka topic sinks: findings (JSON, keyed by host) and dead letters (the raw value, with
 * the reason in headers). In order, batched, retried with backoff (on top of kafkajs' own
 * retries); acknowledged when the broker has them (acks = all).
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
  lingerMs?: number;
  logger?: Logger;
}

export class TopicSink extends BatchingSink<Message> {
  private readonly producer: Producer;
  private readonly topic: string;

  constructor({ producer, topic, name, batchSize = 1000, lingerMs = 20, logger = silentLogger() }: TopicSinkOptions) {
    super({ name, batchSize, lingerMs, retryMinMs: 100, retryMaxMs: 5000, logger });
    this.producer = producer;
    this.topic = topic;
  }

  protected async send(messages: Message[]): Promise<void> {
    await this.producer.send({ topic: this.topic, messages, acks: -1 });
  }

  protected retriable(err: unknown): boolean {
    if (err instanceof kafkajs.KafkaJSError) return err.retriable || err.name === 'KafkaJSNumberOfRetriesExceeded' || err.name === 'KafkaJSConnectionError';
    return true;
  }
}
