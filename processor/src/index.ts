/**
 * @roamwatch/processor: the correlation pipeline (pure RxJS operators) and its edges
 * (Kafka source, InfluxDB sink, findings and dead-letter producers). docs/processor.md.
 */
export * from './types.js';
export * from './config.js';
export * from './decode.js';
export * from './order.js';
export * from './net.js';
export * from './classify.js';
export * from './points.js';
export * from './stage.js';
export * from './reauth-tracker.js';
export * from './retain.js';
export * from './checkpoint.js';
export * from './correlate.js';
export * from './project.js';
export * from './pipeline.js';
export * from './release-join.js';
export * from './incidents.js';
export * from './edges/batching-sink.js';
export * from './edges/influxdb.js';
export * from './edges/kafka-producer.js';
export * from './edges/release-tracker.js';
export * from './edges/processor.js';
export * from './edges/incidents.js';
export * from './edges/incidents-query.js';
export * from './format.js';
