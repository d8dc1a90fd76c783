/**
 * `roamwatch replay FILE|--from-kafka`: re-run the correlation over recorded events (a
 * JSON-lines file of envelopes, or a Kafka topic from its start to its current end) and
 * print the findings — the same ones the processor produced, because the pipeline depends
 * on the events alone. Progress goes to stderr, only when it is a terminal.
 */
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Observable, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaConfig } from 'kafkajs';
import { ConfigError, EXIT, INFLUX_KEYS, KAFKA_CLIENT_KEYS, LOG_KEYS, batchEventsOf, createLogger, errorMessage, influxSettings, kafkaClientSettings, useColor, explainKafkaError } from '@roamwatch/core';
import type { ConfigTable } from '@roamwatch/core';
import { processEvents, formatFinding, toLineProtocol, InfluxSink, CLASSIFICATIONS, IncidentGrouper, formatIncident } from '@roamwatch/processor';
import type { Finding, IncidentOutput } from '@roamwatch/processor';
import type { PipelineInput, Pipeline } from '@roamwatch/processor';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { CORRELATION_KEYS, INCIDENT_TUNING_KEYS, correlationOptions, incidentOptions, kafkajsSecurity } from './pipeline-flags.js';

export const REPLAY_KEYS = {
  ...LOG_KEYS,
  ...KAFKA_CLIENT_KEYS,
  'kafka.clientId': { type: 'string', default: 'roamwatch-replay', doc: 'Kafka client id for --from-kafka.' },
  'kafka.topic': { type: 'string', default: 'roamwatch.events', flag: 'topic', doc: 'Topic read by --from-kafka (from its start to its current end, with a throwaway group roamwatch-replay-<random>).' },
  format: { type: ['text', 'json'] as const, default: 'text', doc: 'Findings as text, or one JSON object per line.' },
  ...INFLUX_KEYS,
  ...CORRELATION_KEYS,
  ...INCIDENT_TUNING_KEYS,
} as const satisfies ConfigTable;
import { ProgressLine, progressBar } from '../progress.js';

export function configure(cmd: Command): void {
  cmd
    .description('Re-run the correlation over recorded events (a JSON-lines file of envelopes, or a Kafka topic) and print the findings.')
    // FILE is read from cmd.args (the shared action passes (options, command) only).
    .usage('[options] FILE|--from-kafka   (FILE: JSON lines of event envelopes, - for stdin)')
    .allowExcessArguments()
    .option('--from-kafka', 'read the topic from its start to its current end instead of a file')
    .option('--points <file>', 'also write the metric points as InfluxDB line protocol to this file')
    .option('--incidents', 'also group the spurious reauths into incidents (the processor\'s incident grouping, with the incidents.* settings below) and print each closed incident after the findings; its points go with the others')
    .option('--no-progress', 'no progress line even on a terminal');
  addConfigOptions(cmd, REPLAY_KEYS);
  cmd.addHelpText('after', '\nExit codes: 0 done, 2 bad usage, unreadable input or unreachable server.');
}

type Ref = never;

export async function run(options: Record<string, unknown>, cmd: Command): Promise<number> {
  const file = cmd.args[0];
  const fromKafka = options.fromKafka === true;
  const cfg = loadCommandConfig('replay', REPLAY_KEYS, options, ({ values }) => {
    const kafka = kafkaClientSettings(values);
    return { kafka, influx: influxSettings(values), correlation: correlationOptions(values), incidents: incidentOptions(values), warnings: fromKafka ? kafka.warnings : [] };
  });
  if (cfg.exit !== undefined) return cfg.exit;
  const { values } = cfg.loaded;
  const { kafka, influx, correlation, incidents: incidentSettings, warnings } = cfg.built;
  const format = values.format;
  if (options.checkConfig === undefined && options.printConfig === undefined && !!file === fromKafka) {
    process.stderr.write(`roamwatch replay: ${new ConfigError('input', 'give either FILE or --from-kafka').message}\n`);
    return EXIT.error;
  }
  if (cmd.args.length > 1) {
    process.stderr.write(`roamwatch replay: ${new ConfigError('input', `one FILE only, got ${cmd.args.length}`).message}\n`);
    return EXIT.error;
  }
  const logger = createLogger({ level: values['log.level'] });
  for (const w of warnings) logger.warn(w);
  const showProgress = options.progress !== false && process.stderr.isTTY === true;
  const bar = new ProgressLine(process.stderr, showProgress);
  const progress = (done: number, total: number, unit: string) => bar.update(progressBar(done, total, unit));
  const color = useColor(process.stdout);

  let source: Observable<PipelineInput<Ref>>;
  try {
    source = file
      ? fileRecords(file, progress)
      : await kafkaRecords({ clientId: values['kafka.clientId'], brokers: kafka.brokers, ...kafkajsSecurity(kafka) }, values['kafka.topic'], progress);
  } catch (err) {
    process.stderr.write(`roamwatch replay: ${errorMessage(explainKafkaError(err, { brokers: kafka.brokers, tls: Boolean(kafka.tls), sasl: kafka.sasl?.mechanism }))}\n`);
    return EXIT.error;
  }
  const sink = influx ? new InfluxSink({ ...influx, logger }) : undefined;
  const points: string[] = [];
  const pointsFile = options.points as string | undefined;
  let pipeline: Pipeline<unknown> | undefined;
  let findings = 0;
  const grouper = options.incidents === true ? new IncidentGrouper(incidentSettings) : undefined;
  // A recording is read partition after partition (or in file order), so its findings are not in
  // event-time order across hosts, and nothing bounds that disorder; the grouping gets them sorted
  // by event time (then id) at the end: a canonical order, so the same recording always gives the
  // same incidents, and the same content as the live grouping whose findings arrived in order.
  const forIncidents: Finding[] = [];
  let incidents = 0;
  const onIncident = (o: IncidentOutput) => {
    if (o.type === 'point') {
      const line = toLineProtocol(o.point);
      if (pointsFile) points.push(line);
      sink?.push(line);
    } else if (o.incident.state === 'closed') {
      incidents += 1;
      bar.print(process.stdout, format === 'json' ? `${JSON.stringify(o.incident)}\n` : `${formatIncident(o.incident)}\n`);
    }
  };
  try {
    await lastValueFrom(
      new Observable<void>((sub) =>
        source.pipe(processEvents<Ref>({ ...correlation, onPipeline: (p) => (pipeline = p) })).subscribe({
          next: (o) => {
            if (o.type === 'point') {
              const line = toLineProtocol(o.point);
              if (pointsFile) points.push(line);
              sink?.push(line);
            } else if (o.type === 'finding') {
              findings += 1;
              bar.print(process.stdout, format === 'json' ? `${JSON.stringify(o.finding)}\n` : `${formatFinding(o.finding, { color })}\n`);
              if (grouper) forIncidents.push(o.finding);
            } else if (o.type === 'dead-letter') {
              bar.print(process.stderr, `roamwatch replay: skipped an invalid record (${o.code}): ${o.reason.slice(0, 300)}\n`);
            }
          },
          error: (e) => sub.error(e),
          complete: () => {
            if (grouper) {
              forIncidents.sort((a, b) => a.timeUs - b.timeUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
              for (const f of forIncidents) grouper.push({ type: 'finding', finding: f }, onIncident);
              grouper.flush(onIncident);
            }
            sub.complete();
          },
        }),
      ).pipe(defaultIfEmpty(undefined)),
    );
  } catch (err) {
    bar.done();
    process.stderr.write(`roamwatch replay: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
  bar.done();
  if (pointsFile) writeFileSync(pointsFile, points.length ? points.join('\n') + '\n' : '');
  if (sink) {
    await sink.drained();
    sink.close();
  }
  const s = pipeline?.stats();
  if (s) {
    const classes = CLASSIFICATIONS.filter((c) => s.reauths[c] > 0).map((c) => `${s.reauths[c]} ${c}`);
    process.stderr.write(
      `replayed ${s.events} events from ${s.hosts} hosts: ${findings} findings (reauths: ${classes.join(', ') || 'none'}), ${s.rekeys} rekeys, ${s.deadLetters} invalid, ${s.late} late, ${s.duplicates} duplicates${grouper ? `, ${incidents} incidents` : ''}\n`,
    );
  }
  return EXIT.ok;
}

function fileRecords(file: string, progress: (done: number, total: number, unit: string) => void): Observable<PipelineInput<Ref>> {
  const total = file === '-' ? 0 : statSync(file).size;
  return new Observable((sub) => {
    const input = file === '-' ? process.stdin : createReadStream(file);
    const rl = createInterface({ input, crlfDelay: Infinity });
    let bytes = 0;
    let n = 0;
    rl.on('line', (line) => {
      bytes += Buffer.byteLength(line) + 1;
      if (line.trim() === '') return;
      sub.next({ type: 'record', value: line });
      if (++n % 5000 === 0) progress(bytes, total, 'bytes');
    });
    rl.on('close', () => {
      progress(total || bytes, total || bytes, 'bytes');
      sub.complete();
    });
    input.on('error', (err: Error) => sub.error(err));
    return () => rl.close();
  });
}

async function kafkaRecords(client: KafkaConfig, topic: string, progress: (done: number, total: number, unit: string) => void): Promise<Observable<PipelineInput<Ref>>> {
  const kafka = new Kafka({ ...client, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; high: string; low: string }[];
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  const total = ends.reduce((a, e) => a + Number(BigInt(e.high) - BigInt(e.low)), 0);
  return new Observable((sub) => {
    if (remaining.size === 0) {
      sub.complete();
      return;
    }
    const consumer = kafka.consumer({ groupId: `roamwatch-replay-${randomBytes(6).toString('hex')}` });
    let done = 0;
    let finished = false;
    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      void consumer.disconnect().finally(() => (err ? sub.error(err) : sub.complete()));
    };
    (async () => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const high = remaining.get(batch.partition);
          if (high === undefined) return;
          for (const m of batch.messages) {
            if (BigInt(m.offset) >= high) break;
            // The record timestamp bounds clock skew as in the live processor (maxFutureSkewMs).
            const recordTimeMs = Number(m.timestamp);
            // A batch record (its headers say so) is expanded into its events by the decode stage.
            const batchEvents = batchEventsOf(m.headers);
            sub.next({ type: 'record', value: m.value ?? Buffer.alloc(0), ...(recordTimeMs > 0 ? { recordTimeMs } : {}), ...(batchEvents !== undefined ? { batchEvents } : {}) });
            done += 1;
            if (BigInt(m.offset) + 1n >= high) remaining.delete(batch.partition);
          }
          if (done % 5000 < batch.messages.length) progress(done, total, 'records');
          if (remaining.size === 0) {
            progress(done, total, 'records');
            finish();
          }
        },
      });
    })().catch(finish);
  });
}
