/**
 * Sinks: the durable spool, the delivery loop (SpooledSink) and the transports (Kafka,
 * stdout, file). See docs/agent.md.
 */
export { Spool, SpoolError } from './spool.js';
export type { SpoolFullPolicy, SpoolGap, SpoolOptions, SpoolRecord, SpoolStats } from './spool.js';
export { SpooledSink } from './spooled-sink.js';
export type { SpooledSinkOptions } from './spooled-sink.js';
export { KafkaTransport, KafkaTopicError, kafkaTlsConfig, packRecords } from './kafka.js';
export type { KafkaCompression, KafkaSaslOptions, KafkaTlsOptions, KafkaTransportOptions, PackedRecord } from './kafka.js';
// The Kafka error explanations live in core (every Kafka client of the project uses them);
// re-exported here for the agent's existing importers.
export { KafkaAccessError, explainKafkaError } from '@roamwatch/core';
export type { KafkaAccessCause } from '@roamwatch/core';
export { FileTransport, ReaderGoneError, StreamTransport } from './lines.js';
export type { Sink, SinkState, SinkStatusReport, SpoolPort, Transport } from './types.js';
