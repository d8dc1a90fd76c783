/**
 * Configuration keys shared by `processor`, `watch` and `replay` (their tables include these
 * groups): the correlation settings (processor/src/config.ts documents each) and the
 * InfluxDB output (INFLUX_KEYS of @roamwatch/core, token from a file); and the kafkajs client
 * options of the Kafka client group (KAFKA_CLIENT_KEYS), the same TLS/SASL for every client.
 */
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { correlationConfig, incidentConfig } from '@roamwatch/processor';
import type { CorrelationConfig, IncidentConfig } from '@roamwatch/processor';
import { kafkaTlsConfig } from '@roamwatch/agent';
import type { ConfigTable, KafkaClientSettings } from '@roamwatch/core';

export const CORRELATION_KEYS = {
  'correlation.allowedLatenessMs': { type: 'int', default: 2000, min: 0, flag: 'allowed-lateness-ms', doc: "Out-of-order tolerance per host, event time: how long a host's events wait to be put in order. Only for streams whose agent does not declare them ordered at the source (older agents); a declared host's events are released as they arrive." },
  'correlation.attributionWindowMs': { type: 'int', default: 250, min: 0, flag: 'attribution-window-ms', doc: 'Routing events up to this long before a reauth are its triggers.' },
  'correlation.pairWindowMs': { type: 'int', default: 30_000, min: 0, flag: 'pair-window-ms', doc: 'Old SA down ↔ new SA up pairing window.' },
  'correlation.pathPeersPerHost': { type: 'int', default: 1000, min: 1, flag: 'path-peers-per-host', doc: 'roamwatch_path series per host (one per IKE_SA peer); further peers share peer="_overflow" (InfluxDB cardinality, docs/metrics.md).' },
} as const satisfies ConfigTable;

export function correlationOptions(values: Record<string, unknown>): CorrelationConfig {
  return correlationConfig({
    allowedLatenessMs: values['correlation.allowedLatenessMs'],
    attributionWindowMs: values['correlation.attributionWindowMs'],
    pairWindowMs: values['correlation.pairWindowMs'],
    pathPeersPerHost: values['correlation.pathPeersPerHost'],
  });
}

/** Incident grouping settings (processor/src/incidents.ts documents each): `processor` and `replay --incidents`. */
export const INCIDENT_TUNING_KEYS = {
  'incidents.quietPeriodMs': { type: 'int', default: 30_000, min: 1, flag: 'incident-quiet-ms', doc: 'An incident closes when no reauth of its cause came for this long (event time).' },
  'incidents.allowedLatenessMs': { type: 'int', default: 10_000, min: 0, flag: 'incident-lateness-ms', doc: 'How late a finding may reach the grouping (from another instance) and still join its incident.' },
  'incidents.updateIntervalMs': { type: 'int', default: 5000, min: 0, flag: 'incident-update-ms', doc: 'Event time between two `updated` reports of a growing incident.' },
} as const satisfies ConfigTable;

export function incidentOptions(values: Record<string, unknown>): IncidentConfig {
  return incidentConfig({ quietPeriodMs: values['incidents.quietPeriodMs'], allowedLatenessMs: values['incidents.allowedLatenessMs'], updateIntervalMs: values['incidents.updateIntervalMs'] });
}

/** kafkajs client options (ssl, sasl) of the shared Kafka client group. */
export function kafkajsSecurity(s: KafkaClientSettings): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  const ssl = kafkaTlsConfig(s.tls);
  if (ssl) out.ssl = ssl;
  if (s.sasl) out.sasl = { mechanism: s.sasl.mechanism, username: s.sasl.username, password: s.sasl.password } as SASLOptions;
  return out;
}
