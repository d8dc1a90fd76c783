/**
 * `roamwatch processor`: the Kafka consumer group that correlates, writes InfluxDB points
 * and publishes findings (docs/processor.md). Runs until SIGTERM/SIGINT, then stops in
 * order: stop consuming → drain the sinks → commit → disconnect.
 */
import type { Command } from 'commander';
import { ConfigError, EXIT, createLogger, errorMessage, resolveLogLevel } from '@roamwatch/core';
import { startProcessor, formatFinding } from '@roamwatch/processor';
import type { InfluxSinkOptions } from '@roamwatch/processor';
import { correlationOptions, influxOptions, addCorrelationFlags, addInfluxFlags, intFlag } from './pipeline-flags.js';

export function configure(cmd: Command): void {
  cmd
    .description(
      'Kafka consumer group: correlate route changes with reauthentications per host in event time,\n' +
        'write InfluxDB points (docs/metrics.md) and publish findings. Runs until SIGTERM.',
    )
    .option('--brokers <list>', 'Kafka bootstrap brokers, comma-separated host:port', process.env.ROAMWATCH_KAFKA_BROKERS ?? '127.0.0.1:9092')
    .option('--topic <name>', 'topic of agent events', 'roamwatch.events')
    .option('--group <id>', 'consumer group id', 'roamwatch-processor')
    .option('--findings-topic <name>', "findings topic ('none' disables)", 'roamwatch.findings')
    .option('--dead-letter-topic <name>', 'dead-letter topic (default <topic>.dead-letter)')
    .option('--max-in-flight <n>', 'outputs (points, findings, dead letters) not yet acknowledged before consumption pauses', '50000')
    .option('--print-findings <format>', 'also print findings on stdout: text | json | none', 'none')
    .option('--log-level <level>', 'error | warn | info | debug', 'info');
  addInfluxFlags(cmd);
  addCorrelationFlags(cmd);
  cmd.addHelpText('after', '\nExit codes: 0 stopped cleanly, 2 bad config or an unreachable server at start (a restart will not help),\n3 the pipeline or the consumer failed while running (a supervisor should restart it).');
}

export async function run(options: Record<string, unknown>): Promise<number> {
  let influx: InfluxSinkOptions | undefined;
  let correlation;
  let maxInFlight: number;
  const print = String(options.printFindings);
  try {
    influx = influxOptions(options, { required: false });
    correlation = correlationOptions(options);
    maxInFlight = intFlag(options, 'maxInFlight', 'max-in-flight');
    if (!['text', 'json', 'none'].includes(print)) throw new ConfigError('print-findings', `expected text, json or none, got ${JSON.stringify(print)}`);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch processor: ${err.message}\n`);
      return EXIT.error;
    }
    throw err;
  }
  const logger = createLogger({ level: resolveLogLevel(options.logLevel as string) });
  const findingsTopic = String(options.findingsTopic);
  let proc;
  try {
    proc = await startProcessor({
      brokers: String(options.brokers).split(',').map((b) => b.trim()).filter(Boolean),
      topic: String(options.topic),
      groupId: String(options.group),
      findingsTopic: findingsTopic === 'none' ? false : findingsTopic,
      ...(options.deadLetterTopic ? { deadLetterTopic: String(options.deadLetterTopic) } : {}),
      ...(influx ? { influx: { ...influx, logger } } : {}),
      correlation,
      maxInFlight,
      logger,
      onFinding: print === 'none' ? undefined : (f) => process.stdout.write(print === 'json' ? `${JSON.stringify(f)}\n` : `${formatFinding(f)}\n`),
    });
  } catch (err) {
    process.stderr.write(`roamwatch processor: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
  logger.info('processor running', { topic: options.topic, group: options.group, influx: influx ? influx.url : 'none' });
  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (sig: string) => {
      signals += 1;
      if (signals > 1) process.exit(EXIT.error);
      logger.info(`${sig}: stopping (drain sinks, commit, disconnect)`);
      proc.stop().then(
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
    proc.done.catch((err) => {
      logger.error('processor failed', { error: errorMessage(err) });
      void proc.stop({ drainTimeoutMs: 2000 }).finally(() => resolve(EXIT.failed));
    });
  });
  return stopped;
}
