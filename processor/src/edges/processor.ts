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
 * - Scale-out (docs/processor.md "Scale-out"): every rebalance starts a new pipeline (a new
 *   generation) with the state of the assigned partitions' hosts restored from their latest
 *   checkpoints (`<group>.checkpoints`, compacted, keyed by host; checkpoint-store.ts); kafkajs then
 *   re-reads each partition from its committed offset. Before each commit the pipeline's
 *   checkpoints (the state after exactly the released records, correlate.ts) are written, once
 *   every output emitted before them is acknowledged; so a committed offset always has the
 *   checkpoints that stand for everything before it, and a checkpoint never covers an output
 *   that could still be lost.
 * - Fatal errors: when the pipeline errors (an exception inside a stage) or the consumer
 *   crashes for good, consumption stops and `done` rejects (PipelineError for the pipeline):
 *   nothing is acknowledged past the failure, and `roamwatch processor` exits non-zero
 *   (EXIT.failed) so that its supervisor restarts it from the committed offsets.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer, Producer, EachBatchPayload, KafkaConfig, Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
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
import { CheckpointStore } from './checkpoint-store.js';
import type { CheckpointOutput } from '../types.js';

export interface KafkaRef {
  topic: string;
  partition: number;
  offset: number;
  /** The consumer generation (one per rebalance) the record was read in; releases of an older one are ignored. */
  gen?: number;
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
  /** Checkpoint topic (compacted, keyed by host; docs/processor.md "Scale-out"); one per consumer group; `false` disables checkpoints. Default `<groupId>.checkpoints`. */
  stateTopic?: string | false;
  /** Kafka group session timeout (ms): how long a member that died without leaving (SIGKILL, a lost host) keeps its partitions. Default 30000. */
  sessionTimeoutMs?: number;
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
  /** Consumer generations (rebalances) so far. */
  generation: number;
  /** Checkpoints written (docs/processor.md "Scale-out"). */
  checkpointsWritten: number;
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
  // Per group: two groups reading one topic (a second pipeline, a replay) each have their own state.
  const stateTopic = options.pipeline ? false : options.stateTopic === undefined ? `${groupId}.checkpoints` : options.stateTopic;
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
  if (!Number.isInteger(sessionTimeoutMs) || sessionTimeoutMs < 1000) throw new ConfigError('sessionTimeoutMs', `expected an integer ≥ 1000 (ms), got ${sessionTimeoutMs}`);
  if (!brokers.length) throw new ConfigError('brokers', 'at least one broker host:port is required');
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new ConfigError('maxInFlight', `expected a positive integer, got ${maxInFlight}`);
  const instance = options.instance ?? `${(await import('node:os')).hostname()}:${process.pid}`;

  const kafka = new Kafka({ clientId: options.clientId ?? 'roamwatch-processor', brokers, logLevel: logLevel.NOTHING, ...options.kafka });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  const consumer: Consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.min(3000, Math.floor(sessionTimeoutMs / 3)) });

  const influx = options.influx ? new InfluxSink({ logger, ...options.influx }) : undefined;
  const findings = findingsTopic ? new TopicSink({ producer, topic: findingsTopic, name: 'findings', logger }) : undefined;
  const deadLetters = new TopicSink({ producer, topic: deadLetterTopic, name: 'dead-letter', logger, replaceRejected: deadLetterReference });
  const sinks = [influx, findings, deadLetters].filter((s): s is NonNullable<typeof s> => !!s) as BatchingSink<unknown>[];
  // Not one of `sinks`: releases do not wait for it; commits do (commit()).
  const stateSink = stateTopic ? new TopicSink({ producer, topic: stateTopic, name: 'checkpoints', logger }) : undefined;

  // Per generation (a rebalance starts a new one): the pipeline, its input, the offsets it consumed.
  let gen = 0;
  let offsets = new OffsetTracker();
  let restored = new Set<number>();
  let collecting: CheckpointOutput<KafkaRef>[] | undefined;
  let checkpointAll = false;
  let consumed = 0;
  let committed = 0;
  let paused = false;
  let pipeline: Pipeline<unknown> | undefined;
  const releases = new ReleaseTracker<KafkaRef>(sinks, (refs) => {
    for (const r of refs) if (r.gen === gen) offsets.released(r.topic, r.partition, r.offset);
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

  let input$ = new Subject<PipelineInput<KafkaRef>>();
  let sub: Subscription | undefined;
  const handle = (o: PipelineOutput<KafkaRef>) => {
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
      case 'checkpoint':
        collecting?.push(o);
        break;
    }
  };
  /**
   * A new generation: after a rebalance the assigned partitions are re-read from their committed
   * offsets, so the state built from what was read before is dropped with the old pipeline, and
   * each partition's hosts are restored from their checkpoints before its first record
   * (restorePartition). Outputs of the old generation still on their way to the sinks are
   * written (idempotent points, findings with deterministic ids); their releases are ignored.
   */
  const startGeneration = () => {
    sub?.unsubscribe();
    gen += 1;
    offsets = new OffsetTracker();
    restored = new Set();
    lagByPartition.clear();
    tickHeld = true;
    lastReport = { events: 0, deadLetters: 0, findings: 0 };
    input$ = new Subject<PipelineInput<KafkaRef>>();
    sub = input$
      .pipe(options.pipeline ?? processEvents<KafkaRef>({ ...options.correlation, flushOnComplete: false, checkpoints: !!stateTopic, onPipeline: (p) => (pipeline = p) }))
      .subscribe({ next: handle, error: (err) => fail(new PipelineError('pipeline', err)) });
  };

  const unacked = () => sinks.reduce((a, s) => a + s.pending, 0);
  const waitForRoom = async (heartbeat: () => Promise<void>, isRunning: () => boolean) => {
    if (unacked() <= maxInFlight) return;
    paused = true;
    logger.warn('backpressure: consumption paused until the sinks catch up', { unacked: unacked(), influxFailing: influx?.stats.failing ?? false });
    let last = Date.now();
    while (unacked() > maxInFlight / 2 && isRunning()) {
      await new Promise((r) => setTimeout(r, 50));
      void commit();
      if (Date.now() - last > 2000) {
        last = Date.now();
        await heartbeat().catch(() => {});
      }
    }
    paused = false;
    logger.info('backpressure released: consumption resumed', { unacked: unacked() });
  };

  /** Resolves true once every sink acknowledged up to `marks` (its lastSeq values), false after `timeoutMs`. */
  const acked = async (list: BatchingSink<unknown>[], marks: number[], timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (!marks.every((m, i) => list[i]!.ackedSeq >= m)) {
      if (Date.now() > deadline || failure !== undefined) return false;
      await sleep(10);
    }
    return true;
  };

  /**
   * With checkpoints: the checkpoints of every host released since the last round are taken
   * now (they cover every release the offsets below stand for), written once every output
   * emitted before them is acknowledged, and the offsets committed once the checkpoints are.
   * A round that cannot finish (a sink slow or down) commits nothing; the next one retries.
   */
  const commitRound = async (ackTimeoutMs: number): Promise<void> => {
    const myGen = gen;
    const list = offsets.commits();
    if (!list.length) return;
    if (stateSink) {
      const taken: CheckpointOutput<KafkaRef>[] = [];
      collecting = taken;
      try {
        input$.next({ type: 'checkpoint', all: checkpointAll });
      } finally {
        collecting = undefined;
      }
      checkpointAll = false;
      if (taken.length) {
        if (!(await acked(sinks, sinks.map((s) => s.lastSeq), ackTimeoutMs))) {
          checkpointAll = true;
          return;
        }
        // A rebalance meanwhile: another member may own these hosts now; only the owner writes.
        if (myGen !== gen) return;
        const dropped = stateSink.stats.dropped;
        for (const c of taken) {
          const { partition: _p, ...cp } = c.checkpoint;
          stateSink.push({ key: cp.host, value: JSON.stringify({ partition: c.ref?.partition ?? null, ...cp }) });
        }
        checkpointsWritten += taken.length;
        if (!(await acked([stateSink as BatchingSink<unknown>], [stateSink.lastSeq], ackTimeoutMs)) || stateSink.stats.dropped > dropped) {
          logger.warn('checkpoints not acknowledged: offsets not committed this round', { dropped: stateSink.stats.dropped - dropped });
          checkpointAll = true;
          return;
        }
      }
      if (myGen !== gen) return;
    }
    await consumer.commitOffsets(list);
    offsets.committedOk(list);
    committed += list.length;
  };

  let committing: Promise<void> | undefined;
  let checkpointsWritten = 0;
  const commit = async (ackTimeoutMs = 5000): Promise<void> => {
    if (committing) return committing;
    committing = commitRound(ackTimeoutMs)
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
    // The checkpoint topic is compacted: the latest checkpoint per host is what it must keep.
    if (stateTopic && !existing.has(stateTopic)) {
      await admin
        .createTopics({ topics: [{ topic: stateTopic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true })
        .catch(() => false);
    }
  } finally {
    await admin.disconnect();
  }
  let store: CheckpointStore | undefined;
  let storeAdmin: Admin | undefined;
  if (stateTopic) {
    storeAdmin = kafka.admin();
    await storeAdmin.connect();
    store = new CheckpointStore(kafka, storeAdmin, stateTopic, `${groupId}.checkpoints.${randomUUID()}`, logger);
    await store.start();
  }
  /** Before a partition's first record in this generation: its hosts' state from their checkpoints. */
  const restorePartition = async (partition: number, heartbeat: () => Promise<void>): Promise<void> => {
    if (!store) return;
    await store.caughtUp(heartbeat);
    const checkpoints = store.forPartition(partition);
    for (const checkpoint of checkpoints) input$.next({ type: 'restore', checkpoint });
    logger.info('partition assigned: state restored from checkpoints', { topic, partition, hosts: checkpoints.length, generation: gen });
  };
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
  const membership: { joined: boolean; lastError?: string } = { joined: false };
  consumer.on(consumer.events.GROUP_JOIN, () => Object.assign(membership, { joined: true, lastError: undefined }));
  consumer.on(consumer.events.CRASH, (e) => Object.assign(membership, { joined: false, lastError: errorMessage(e.payload.error) }));
  consumer.on(consumer.events.DISCONNECT, () => (membership.joined = false));
  consumer.on(consumer.events.STOP, () => (membership.joined = false));
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    startGeneration();
    logger.info('joined consumer group', { groupId, assignment: e.payload.memberAssignment, generation: gen });
  });

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
  startGeneration();
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

  // The group's committed offsets, read once per generation: where each partition's re-read must start.
  let committedOffsets: { gen: number; offsets: Promise<Map<number, number>> } | undefined;
  const committedOffset = async (partition: number): Promise<number> => {
    if (committedOffsets?.gen !== gen) {
      const offsets = (storeAdmin ?? admin)
        .fetchOffsets({ groupId, topics: [topic] })
        .then(([t]) => new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)])));
      committedOffsets = { gen, offsets };
    }
    return (await committedOffsets.offsets).get(partition) ?? -1;
  };

  // Offsets are resolved by hand (eachBatchAutoResolve off): a batch left early (a rebalance
  // while waiting for room or for checkpoints) must not count as consumed, or the next
  // generation would start after it.
  const running = consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload) => {
      const myGen = gen;
      if (!batch.messages.length) return;
      if (!restored.has(batch.partition)) {
        if (store) {
          // The state restored stands for the committed offset: the re-read starts exactly there
          // (a batch fetched before the rebalance may start later).
          const from = await committedOffset(batch.partition);
          if (myGen !== gen) return;
          const first = Number(batch.messages[0]!.offset);
          if (from >= 0 && first !== from) {
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(from) });
            return;
          }
        }
        await restorePartition(batch.partition, heartbeat);
        if (myGen !== gen) return;
        restored.add(batch.partition);
      }
      let last: string | undefined;
      lagByPartition.set(batch.partition, Number(batch.offsetLag()) + batch.messages.length);
      for (const m of batch.messages) {
        if (!isRunning() || isStale() || failure !== undefined || myGen !== gen) break;
        const ref: KafkaRef = { topic: batch.topic, partition: batch.partition, offset: Number(m.offset), gen: myGen };
        offsets.consumed(ref.topic, ref.partition, ref.offset);
        consumed += 1;
        const recordTimeMs = Number(m.timestamp);
        const batchEvents = batchEventsOf(m.headers);
        input$.next({ type: 'record', value: m.value ?? Buffer.alloc(0), ref, ...(recordTimeMs > 0 ? { recordTimeMs } : {}), ...(batchEvents !== undefined ? { batchEvents } : {}) });
        last = m.offset;
        if (unacked() > maxInFlight) {
          await waitForRoom(heartbeat, isRunning);
          if (myGen !== gen) return;
          resolveOffset(last);
        }
      }
      if (last !== undefined && myGen === gen) resolveOffset(last);
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
      generation: gen,
      checkpointsWritten,
    }),
    done,
    async stop({ drainTimeoutMs = 10_000 } = {}) {
      clearInterval(tick);
      clearInterval(commitTimer);
      if (report) clearInterval(report);
      await consumer.stop();
      const drain = Promise.all(sinks.map((s) => s.drained()));
      await Promise.race([drain, new Promise((r) => setTimeout(r, drainTimeoutMs))]);
      await committing;
      await commit(drainTimeoutMs);
      for (const s of sinks) s.close();
      stateSink?.close();
      sub?.unsubscribe();
      input$.complete();
      await store?.stop();
      await storeAdmin?.disconnect().catch(() => {});
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      settle.resolve();
    },
  };
}
