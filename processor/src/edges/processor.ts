/**
 * The Kafka processor: the composition root behind `roamwatch processor`.
 *
 *   kafka consumer group ──records──▶ processEvents (pure) ──▶ points   → InfluxSink
 *        ▲                                                  ├─▶ findings → TopicSink (findings topic)
 *        │                                                  ├─▶ dead letters → TopicSink (dead-letter topic)
 *        └──── commit offsets ◀── OffsetTracker ◀── ReleaseTracker ◀─┘ releases
 *
 * - Per-partition order: kafkajs delivers each partition's batches in order; records of one
 *   host share a partition (the key is the host).
 * - At-least-once with idempotent points: an offset is committed only after the pipeline
 *   released the record and every point, finding and dead letter emitted before that release
 *   was acknowledged. A restart re-reads from the committed offset and rebuilds the state.
 * - Backpressure: while more than `maxInFlight` outputs (points, findings, dead letters) wait
 *   for their sink's acknowledgement (InfluxDB down, a slow broker), the consumer stops
 *   fetching: eachBatch waits (sending heartbeats) until the sinks are down to half, then
 *   consumption resumes where it stopped. Records held by the pipeline's event-time state do
 *   not count (they are released by later events, which a pause would never deliver).
 * - Ticks only while caught up (no partition lag, not paused): during a backlog a host's
 *   silence in processing time is ours, and must not close its windows or make its next
 *   events late. The first tick after catching up says `restart`.
 * - The clock enters here only: ticks (processing time) every `tickMs`, and the
 *   `roamwatch_processor` self-report every `selfReportMs`.
 * - Fatal errors: when the pipeline errors (an exception inside a stage) or the consumer
 *   crashes for good, consumption stops and `done` rejects (PipelineError for the pipeline):
 *   nothing is acknowledged past the failure, and `roamwatch processor` exits non-zero
 *   (EXIT.failed) so that its supervisor restarts it from the committed offsets.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { Consumer, Producer, EachBatchPayload, KafkaConfig, Message } from 'kafkajs';
import { Subject } from 'rxjs';
import type { OperatorFunction, Subscription } from 'rxjs';
import { Backoff, ConfigError, PipelineError, batchEventsOf, batchHeaders, errorMessage, isRetriable, silentLogger, sleep } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { processEvents } from '../pipeline.js';
import type { Pipeline } from '../pipeline.js';
import type { CorrelationConfig } from '../config.js';
import type { PipelineInput, PipelineOutput, Finding } from '../types.js';
import { toLineProtocol, nsOf } from '../points.js';
import { InfluxSink } from './influxdb.js';
import type { InfluxSinkOptions } from './influxdb.js';
import { TopicSink } from './kafka-producer.js';
import { ReleaseTracker, OffsetTracker } from './release-tracker.js';
import type { BatchingSink } from './batching-sink.js';

export interface KafkaRef {
  topic: string;
  partition: number;
  offset: number;
}

export interface ProcessorOptions {
  brokers: string[];
  /** Topic of agent events. Default `roamwatch.events`. */
  topic?: string;
  /** Consumer group id. Default `roamwatch-processor`. */
  groupId?: string;
  /** Findings topic; `false` disables. Default `roamwatch.findings`. */
  findingsTopic?: string | false;
  /** Dead-letter topic. Default `<topic>.dead-letter`. */
  deadLetterTopic?: string;
  /** Where points go; undefined: no metrics (findings only). */
  influx?: InfluxSinkOptions;
  /** Read the topic from the start when the group has no committed offset. Default true. */
  fromBeginning?: boolean;
  correlation?: Partial<CorrelationConfig>;
  /** Outputs (points, findings, dead letters) not yet acknowledged by their sinks before the consumer waits. Default 50000. */
  maxInFlight?: number;
  /** Processing-time ticks (ms). Default 250. */
  tickMs?: number;
  /** Offset commit interval (ms). Default 1000. */
  commitIntervalMs?: number;
  /** Self-report interval (ms); 0 disables. Default 10000. */
  selfReportMs?: number;
  /** `instance` tag of the self-report. Default the hostname:pid. */
  instance?: string;
  clientId?: string;
  logger?: Logger;
  /** Extra kafkajs client settings (ssl, sasl…). */
  kafka?: Partial<KafkaConfig>;
  /** Called for every finding (the CLI prints them). */
  onFinding?: (f: Finding) => void;
  /**
   * The correlation pipeline. Default `processEvents({ ...correlation, flushOnComplete: false })`;
   * an embedder may wrap it (extra stages around it). `onPipeline` stats need the default.
   */
  pipeline?: OperatorFunction<PipelineInput<KafkaRef>, PipelineOutput<KafkaRef>>;
}

export interface ProcessorStats {
  consumed: number;
  committed: number;
  inFlight: number;
  paused: boolean;
  pipeline: ReturnType<Pipeline<unknown>['stats']> | undefined;
  influx: BatchingSink<string>['stats'] | undefined;
  /** The consumer's group membership (for readiness: `roamwatch health`) and its offset lag (records behind, summed over the assigned partitions as of their last fetch). */
  kafka: { joined: boolean; lastError?: string; offsetLag: number };
}

export interface RunningProcessor {
  stats(): ProcessorStats;
  /** Stop consuming, wait (up to drainTimeoutMs) for the sinks, commit what is safe, disconnect. */
  stop(opts?: { drainTimeoutMs?: number }): Promise<void>;
  /** Resolves when stop() finished; rejects when the pipeline fails (PipelineError) or the consumer crashes for good. */
  readonly done: Promise<void>;
}

/**
 * A dead letter the broker refuses even alone (its value plus headers exceed the dead-letter
 * topic's max.message.bytes) goes out as a reference: the same headers (reason, code, source
 * topic/partition/offset), an empty value and `raw-omitted` saying why. The source record
 * stays readable at those coordinates for the topic's retention, so it can be reprocessed.
 */
export function deadLetterReference(m: Message, err: unknown): Message | undefined {
  const headers = { ...(m.headers ?? {}) } as Record<string, string>;
  if (headers['raw-omitted'] || !headers['source-topic']) return undefined;
  const bytes = m.value === null || m.value === undefined ? 0 : typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  headers['raw-omitted'] = `the broker refused the whole record (${errorMessage(err).slice(0, 200)}); it is at source-topic/source-partition/source-offset`;
  headers['raw-bytes'] = String(bytes);
  return { key: m.key ?? null, value: '', headers };
}

export async function startProcessor(options: ProcessorOptions): Promise<RunningProcessor> {
  const {
    brokers,
    topic = 'roamwatch.events',
    groupId = 'roamwatch-processor',
    findingsTopic = 'roamwatch.findings',
    fromBeginning = true,
    maxInFlight = 50_000,
    tickMs = 250,
    commitIntervalMs = 1000,
    selfReportMs = 10_000,
    logger = silentLogger(),
  } = options;
  const deadLetterTopic = options.deadLetterTopic ?? `${topic}.dead-letter`;
  if (!brokers.length) throw new ConfigError('brokers', 'at least one broker host:port is required');
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new ConfigError('maxInFlight', `expected a positive integer, got ${maxInFlight}`);
  const instance = options.instance ?? `${(await import('node:os')).hostname()}:${process.pid}`;

  const kafka = new Kafka({ clientId: options.clientId ?? 'roamwatch-processor', brokers, logLevel: logLevel.NOTHING, ...options.kafka });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  const consumer: Consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: 30_000, heartbeatInterval: 3000 });

  const influx = options.influx ? new InfluxSink({ logger, ...options.influx }) : undefined;
  const findings = findingsTopic ? new TopicSink({ producer, topic: findingsTopic, name: 'findings', logger }) : undefined;
  const deadLetters = new TopicSink({ producer, topic: deadLetterTopic, name: 'dead-letter', logger, replaceRejected: deadLetterReference });
  const sinks = [influx, findings, deadLetters].filter((s): s is NonNullable<typeof s> => !!s) as BatchingSink<unknown>[];

  const offsets = new OffsetTracker();
  let consumed = 0;
  let committed = 0;
  let paused = false;
  let pipeline: Pipeline<unknown> | undefined;
  const releases = new ReleaseTracker<KafkaRef>(sinks, (refs) => {
    for (const r of refs) offsets.released(r.topic, r.partition, r.offset);
  });

  // done: settled once, by stop() or by the first fatal error.
  let failure: unknown;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {}); // logged in fail(); an embedder that ignores `done` is not crashed by an unhandled rejection
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    logger.error('fatal: stopping the consumer', { error: errorMessage(err) });
    // Stop feeding the pipeline at once; offsets stay at what was released before the failure.
    void consumer.stop().catch(() => {});
    settle.reject(err);
  };

  const input$ = new Subject<PipelineInput<KafkaRef>>();
  const sub: Subscription = input$
    .pipe(options.pipeline ?? processEvents<KafkaRef>({ ...options.correlation, flushOnComplete: false, onPipeline: (p) => (pipeline = p) }))
    .subscribe({
      next: (o: PipelineOutput<KafkaRef>) => {
        switch (o.type) {
          case 'point':
            influx?.push(toLineProtocol(o.point));
            break;
          case 'finding':
            findings?.push({ key: o.finding.host, value: JSON.stringify(o.finding), headers: { 'finding-type': o.finding.type, 'finding-id': o.finding.id } });
            options.onFinding?.(o.finding);
            break;
          case 'dead-letter':
            deadLetters.push({
              key: null,
              value: o.raw,
              headers: {
                reason: o.reason.slice(0, 4096),
                code: o.code,
                ...(o.ref ? { 'source-topic': o.ref.topic, 'source-partition': String(o.ref.partition), 'source-offset': String(o.ref.offset) } : {}),
                ...(o.batchIndex !== undefined ? { 'source-batch-index': String(o.batchIndex) } : {}),
                // a whole batch record keeps its batch headers: it reads as what it was
                ...(o.batchEvents !== undefined ? batchHeaders(o.batchEvents) : {}),
              },
            });
            logger.warn('dead letter', { code: o.code, reason: o.reason.slice(0, 300), ...(o.ref ?? {}) });
            // One event of a batch record: the record is released by the pipeline once all its events are done.
            if (o.ref && o.batchIndex === undefined) releases.release([o.ref]);
            break;
          case 'release':
            releases.release(o.refs);
            break;
        }
      },
      error: (err) => fail(new PipelineError('pipeline', err)),
    });

  const unacked = () => sinks.reduce((a, s) => a + s.pending, 0);
  const waitForRoom = async (heartbeat: () => Promise<void>, isRunning: () => boolean) => {
    if (unacked() <= maxInFlight) return;
    paused = true;
    logger.warn('backpressure: consumption paused until the sinks catch up', { unacked: unacked(), influxFailing: influx?.stats.failing ?? false });
    let last = Date.now();
    while (unacked() > maxInFlight / 2 && isRunning()) {
      await new Promise((r) => setTimeout(r, 50));
      await commit();
      if (Date.now() - last > 2000) {
        last = Date.now();
        await heartbeat().catch(() => {});
      }
    }
    paused = false;
    logger.info('backpressure released: consumption resumed', { unacked: unacked() });
  };

  let committing: Promise<void> | undefined;
  const commit = async (): Promise<void> => {
    if (committing) return committing;
    const list = offsets.commits();
    if (!list.length) return;
    committing = consumer
      .commitOffsets(list)
      .then(() => {
        offsets.committedOk(list);
        committed += list.length;
      })
      .catch((err) => {
        logger.warn('offset commit failed (will retry)', { error: errorMessage(err) });
      })
      .finally(() => {
        committing = undefined;
      });
    return committing;
  };

  await producer.connect();
  await consumer.connect();
  // The output topics exist before the first write (auto-creation would give them the broker's
  // default of one partition and fail the first produce while the leader is elected).
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [findingsTopic, deadLetterTopic].filter((t): t is string => !!t && !existing.has(t));
    if (wanted.length) await admin.createTopics({ topics: wanted.map((t) => ({ topic: t, numPartitions: 1 })), waitForLeaders: true }).catch(() => false);
  } finally {
    await admin.disconnect();
  }
  // A topic that is just being created answers "unknown topic" for a moment: retry (kafkajs
  // marks that error retriable; anything else is reported at once).
  const subscribeBackoff = new Backoff({ minMs: 200, maxMs: 2000 });
  for (let attempt = 1; ; attempt++) {
    try {
      await consumer.subscribe({ topic, fromBeginning });
      break;
    } catch (err) {
      if (!isRetriable(err, false) || attempt >= 20) throw err;
      logger.warn('subscribe failed, retrying', { topic, attempt, error: errorMessage(err) });
      await sleep(subscribeBackoff.fail());
    }
  }
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) fail(e.payload.error);
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => logger.info('joined consumer group', { groupId, assignment: e.payload.memberAssignment }));
  const membership: { joined: boolean; lastError?: string } = { joined: false };
  consumer.on(consumer.events.GROUP_JOIN, () => Object.assign(membership, { joined: true, lastError: undefined }));
  consumer.on(consumer.events.CRASH, (e) => Object.assign(membership, { joined: false, lastError: errorMessage(e.payload.error) }));
  consumer.on(consumer.events.DISCONNECT, () => (membership.joined = false));
  consumer.on(consumer.events.STOP, () => (membership.joined = false));

  // Ticks only while caught up: with a backlog (a restart, a slow sink) a host's silence in
  // processing time is ours, not the host's. The first tick after catching up restarts the
  // silence count of every host.
  const lagByPartition = new Map<number, number>();
  let tickHeld = true;
  const tick = setInterval(() => {
    let behind = paused;
    for (const lag of lagByPartition.values()) if (lag > 0) behind = true;
    if (behind) {
      tickHeld = true;
      return;
    }
    input$.next({ type: 'tick', nowUs: Date.now() * 1000, restart: tickHeld });
    tickHeld = false;
  }, tickMs);
  const commitTimer = setInterval(() => void commit(), commitIntervalMs);
  let lastReport = { events: 0, deadLetters: 0, findings: 0 };
  const report =
    selfReportMs > 0 && influx
      ? setInterval(() => {
          const s = pipeline?.stats();
          if (!s) return;
          const lagMs = s.maxEventTimeUs ? Math.max(0, Date.now() - s.maxEventTimeUs / 1000) : 0;
          influx.push(
            toLineProtocol({
              measurement: 'roamwatch_processor',
              tags: { instance, group: groupId },
              ints: { events_in: s.events - lastReport.events, dead_letters: s.deadLetters - lastReport.deadLetters, findings: s.findings - lastReport.findings },
              floats: { lag_ms: Math.round(lagMs) },
              timeNs: nsOf(Date.now() * 1000),
            }),
          );
          lastReport = { events: s.events, deadLetters: s.deadLetters, findings: s.findings };
        }, selfReportMs)
      : undefined;

  const running = consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: true,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      lagByPartition.set(batch.partition, Number(batch.offsetLag()) + batch.messages.length);
      for (const m of batch.messages) {
        if (!isRunning() || isStale() || failure !== undefined) break;
        const ref: KafkaRef = { topic: batch.topic, partition: batch.partition, offset: Number(m.offset) };
        offsets.consumed(ref.topic, ref.partition, ref.offset);
        consumed += 1;
        const recordTimeMs = Number(m.timestamp);
        const batchEvents = batchEventsOf(m.headers);
        input$.next({ type: 'record', value: m.value ?? Buffer.alloc(0), ref, ...(recordTimeMs > 0 ? { recordTimeMs } : {}), ...(batchEvents !== undefined ? { batchEvents } : {}) });
        if (unacked() > maxInFlight) await waitForRoom(heartbeat, isRunning);
      }
      lagByPartition.set(batch.partition, Number(batch.offsetLag()));
      await heartbeat().catch(() => {});
    },
  });

  running.catch(fail);

  return {
    stats: () => ({
      consumed,
      committed,
      inFlight: offsets.inFlight,
      paused,
      pipeline: pipeline?.stats(),
      influx: influx?.stats,
      kafka: { ...membership, offsetLag: [...lagByPartition.values()].reduce((a, b) => a + b, 0) },
    }),
    done,
    async stop({ drainTimeoutMs = 10_000 } = {}) {
      clearInterval(tick);
      clearInterval(commitTimer);
      if (report) clearInterval(report);
      await consumer.stop();
      const drain = Promise.all(sinks.map((s) => s.drained()));
      await Promise.race([drain, new Promise((r) => setTimeout(r, drainTimeoutMs))]);
      await commit();
      await committing;
      for (const s of sinks) s.close();
      sub.unsubscribe();
      input$.complete();
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      settle.resolve();
    },
  };
}
