/**
 * `roamwatch processor`: the Kafka consumer group that correlates, writes InfluxDB points
 * and publishes findings (docs/processor.md). Runs until SIGTERM/SIGINT, then stops in
 * order: stop consuming → drain the sinks → commit → disconnect.
 *
 * Configuration: PROCESSOR_KEYS (file + env + flags, cli/src/config.ts); Kafka TLS/SASL are the
 * shared client keys, the InfluxDB token a secret read from a file or the environment.
 */
import type { Command } from 'commander';
import { ConfigError, EXIT, HEALTH_KEYS, INFLUX_KEYS, KAFKA_CLIENT_KEYS, LOG_KEYS, createLogger, errorMessage, influxSettings, kafkaClientSettings, maskUrl, explainKafkaError } from '@roamwatch/core';
import type { ConfigTable } from '@roamwatch/core';
import { startProcessor, startIncidents, formatFinding, formatIncident } from '@roamwatch/processor';
import type { RunningIncidents } from '@roamwatch/processor';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { CORRELATION_KEYS, INCIDENT_TUNING_KEYS, correlationOptions, incidentOptions, kafkajsSecurity } from './pipeline-flags.js';
import { influxReachable, startHealthWriter } from '../health.js';
import type { HealthCheck } from '../health.js';

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const topicCheck = (v: string) => (v === '' || TOPIC_RE.test(v) ? undefined : 'expected a Kafka topic name: letters, digits, . _ - (max 249)');

/** Incident grouping (docs/processor.md "Incidents"; processor/src/incidents.ts documents each setting). */
export const INCIDENT_KEYS = {
  'incidents.enabled': { type: 'bool', default: true, flag: 'incidents', doc: "Run a member of the incidents group: one instance of the group reads the whole findings topic and groups spurious reauths into incidents (needs the findings topic)." },
  'incidents.groupId': { type: 'string', default: '', flag: 'incidents-group', doc: 'Consumer group of the incident grouping ("" = <kafka.groupId>.incidents).' },
  ...INCIDENT_TUNING_KEYS,
} as const satisfies ConfigTable;

export const PROCESSOR_KEYS = {
  ...LOG_KEYS,
  ...KAFKA_CLIENT_KEYS,
  'kafka.clientId': { type: 'string', default: 'roamwatch-processor', doc: 'Kafka client id (quotas, broker logs).' },
  'kafka.topic': { type: 'string', default: 'roamwatch.events', flag: 'topic', doc: 'Topic of agent events.', check: topicCheck },
  'kafka.groupId': { type: 'string', default: 'roamwatch-processor', flag: 'group', doc: 'Consumer group id (the ACLs name it).' },
  'kafka.findingsTopic': { type: 'string', default: 'roamwatch.findings', flag: 'findings-topic', doc: "Findings topic ('none' disables).", check: (v: string) => (v === 'none' ? undefined : topicCheck(v)) },
  'kafka.deadLetterTopic': { type: 'string', default: '', flag: 'dead-letter-topic', doc: 'Dead-letter topic ("" = <kafka.topic>.dead-letter).', check: topicCheck },
  'kafka.stateTopic': { type: 'string', default: '', flag: 'state-topic', doc: "Checkpoint topic, compacted, keyed by host, one per consumer group: the state that moves with a partition. Unset or empty: <kafka.groupId>.checkpoints; 'none' disables checkpoints (docs/processor.md \"Scale-out\").", check: (v: string) => (v === 'none' ? undefined : topicCheck(v)) },
  'kafka.sessionTimeoutMs': { type: 'int', default: 30_000, min: 6000, max: 300_000, flag: 'session-timeout-ms', doc: 'Consumer group session timeout: how long a processor that died without leaving (SIGKILL, a lost machine) keeps its partitions before they move (broker bounds: group.min/max.session.timeout.ms).' },
  maxInFlight: { type: 'int', default: 50_000, min: 1, flag: 'max-in-flight', doc: 'Outputs (points, findings, dead letters) not yet acknowledged before consumption pauses.' },
  printFindings: { type: ['none', 'text', 'json'] as const, default: 'none', flag: 'print-findings', doc: 'Also print findings (and the incident reports of this member of the incident grouping) on stdout.' },
  ...INFLUX_KEYS,
  ...CORRELATION_KEYS,
  ...INCIDENT_KEYS,
  ...HEALTH_KEYS,
  'health.maxOffsetLag': { type: 'int', default: 500_000, min: 0, flag: 'health-max-offset-lag', doc: 'Readiness: most records the consumer may be behind (summed over its partitions) and still count as healthy.' },
} as const satisfies ConfigTable;

export function configure(cmd: Command): void {
  cmd.description(
    'Kafka consumer group: correlate route changes with reauthentications per host in event time,\n' +
      'write InfluxDB points (docs/metrics.md) and publish findings. Also runs a member of the incident\n' +
      'grouping (incidents.*): one member of the group reads the whole findings topic and groups spurious\n' +
      'reauths with one cause across the fleet into incidents (findings topic + roamwatch_incident points).\n' +
      'Runs until SIGTERM.',
  );
  addConfigOptions(cmd, PROCESSOR_KEYS);
  cmd.addHelpText('after', '\nExit codes: 0 stopped cleanly, 2 bad config or an unreachable server at start (a restart will not help),\n3 the pipeline or the consumer failed while running (a supervisor should restart it).');
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const cfg = loadCommandConfig('processor', PROCESSOR_KEYS, options, ({ values }) => {
    const kafka = kafkaClientSettings(values);
    const influx = influxSettings(values);
    const correlation = correlationOptions(values);
    const incidents = incidentOptions(values);
    const warnings = [...kafka.warnings];
    if (values['incidents.enabled'] && values['kafka.findingsTopic'] === 'none') warnings.push('incidents.enabled needs the findings topic: no incidents while kafka.findingsTopic is none');
    if (influx?.token && influx.url.startsWith('http://') && !/^http:\/\/(127\.|localhost|\[::1\])/.test(influx.url)) warnings.push('influx.url is http:// to another host: the InfluxDB token crosses the network in clear; use https://');
    return { kafka, influx, correlation, incidents, warnings };
  });
  if (cfg.exit !== undefined) return cfg.exit;
  const { values } = cfg.loaded;
  const { kafka, influx, correlation, incidents, warnings } = cfg.built;
  const logger = createLogger({ level: values['log.level'] });
  for (const w of warnings) logger.warn(w);
  const print = values.printFindings;
  const findingsTopic = values['kafka.findingsTopic'];
  const explain = (err: unknown) => explainKafkaError(err, { brokers: kafka.brokers, tls: Boolean(kafka.tls), sasl: kafka.sasl?.mechanism });
  let proc;
  let inc: RunningIncidents | undefined;
  try {
    proc = await startProcessor({
      brokers: kafka.brokers,
      clientId: values['kafka.clientId'],
      kafka: kafkajsSecurity(kafka),
      topic: values['kafka.topic'],
      groupId: values['kafka.groupId'],
      findingsTopic: findingsTopic === 'none' ? false : findingsTopic,
      ...(values['kafka.deadLetterTopic'] ? { deadLetterTopic: values['kafka.deadLetterTopic'] } : {}),
      ...(values['kafka.stateTopic'] ? { stateTopic: values['kafka.stateTopic'] === 'none' ? false : values['kafka.stateTopic'] } : {}),
      sessionTimeoutMs: values['kafka.sessionTimeoutMs'],
      ...(influx ? { influx: { ...influx, logger } } : {}),
      correlation,
      maxInFlight: values.maxInFlight,
      logger,
      onFinding: print === 'none' ? undefined : (f) => process.stdout.write(print === 'json' ? `${JSON.stringify(f)}\n` : `${formatFinding(f)}\n`),
    });
    if (values['incidents.enabled'] && findingsTopic !== 'none') {
      inc = await startIncidents({
        brokers: kafka.brokers,
        clientId: `${values['kafka.clientId']}-incidents`,
        kafka: kafkajsSecurity(kafka),
        findingsTopic,
        groupId: values['incidents.groupId'] || `${values['kafka.groupId']}.incidents`,
        ...(influx ? { influx: { ...influx, logger } } : {}),
        incidents,
        logger,
        onIncident: print === 'none' ? undefined : (i) => process.stdout.write(print === 'json' ? `${JSON.stringify(i)}\n` : `${formatIncident(i, { gateways: i.state === 'closed' })}\n`),
      });
    }
  } catch (err) {
    await proc?.stop({ drainTimeoutMs: 2000 }).catch(() => {});
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch processor: ${err.message}\n`);
      return EXIT.error;
    }
    process.stderr.write(`roamwatch processor: ${errorMessage(explain(err))}\n`);
    return EXIT.error;
  }
  logger.info('processor running', {
    topic: values['kafka.topic'],
    group: values['kafka.groupId'],
    brokers: kafka.brokers,
    tls: Boolean(kafka.tls),
    sasl: kafka.sasl ? `${kafka.sasl.mechanism}:${kafka.sasl.username}` : 'none',
    influx: influx ? maskUrl(influx.url) : 'none',
    incidents: inc ? (values['incidents.groupId'] || `${values['kafka.groupId']}.incidents`) : 'off',
  });
  const running = proc;
  const stopHealth = values['health.file']
    ? startHealthWriter({
        file: values['health.file'],
        component: 'processor',
        intervalMs: values['health.intervalMs'],
        onWriteError: (err) => logger.warn('cannot write health.file', { file: values['health.file'], error: errorMessage(err) }),
        collect: async () => {
          const s = running.stats();
          const checks: HealthCheck[] = [
            s.kafka.joined
              ? { name: 'kafka', ok: true, detail: `in consumer group ${values['kafka.groupId']}` }
              : { name: 'kafka', ok: false, detail: `not in consumer group ${values['kafka.groupId']}${s.kafka.lastError ? `: ${s.kafka.lastError}` : ' (connecting or rebalancing)'}` },
          ];
          if (influx) {
            const ping = await influxReachable(influx.url, influx.token);
            checks.push(s.influx?.failing ? { name: 'influx', ok: false, detail: `writes failing: ${s.influx.lastError ?? 'unknown error'}` } : ping);
          } else checks.push({ name: 'influx', ok: true, detail: 'not configured (no points written)' });
          const max = values['health.maxOffsetLag'];
          checks.push({ name: 'lag', ok: s.kafka.offsetLag <= max, detail: `${s.kafka.offsetLag} records behind (limit ${max})` });
          return checks;
        },
      })
    : () => undefined;
  void proc.done.then(stopHealth, stopHealth);
  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (sig: string) => {
      signals += 1;
      if (signals > 1) process.exit(EXIT.error);
      logger.info(`${sig}: stopping (drain sinks, commit, disconnect)`);
      Promise.all([proc.stop(), inc?.stop()]).then(
        () => resolve(EXIT.ok),
        (err) => {
          logger.error('stop failed', { error: errorMessage(err) });
          resolve(EXIT.error);
        },
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    // A failed pipeline or a consumer crashed for good: stop, commit what was released before
    // the failure, and exit EXIT.failed (not 2) so that the supervisor restarts the processor.
    const failed = (err: unknown) => {
      logger.error('processor failed', { error: errorMessage(explain(err)) });
      void Promise.allSettled([proc.stop({ drainTimeoutMs: 2000 }), inc?.stop({ drainTimeoutMs: 2000 })]).finally(() => resolve(EXIT.failed));
    };
    proc.done.catch(failed);
    inc?.done.catch(failed);
  });
  return stopped;
}
