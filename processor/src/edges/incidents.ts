/**
 * The incidents edge: the grouping stage (incidents.ts) fed from the findings topic.
 *
 *   findings topic (every processor instance writes its hosts' findings)
 *      └─▶ consumer group `<group>.incidents`, all partitions on ONE member (SingleOwnerAssigner)
 *            └─▶ IncidentGrouper ─▶ incident events → findings topic (header finding-type=incident)
 *                                └▶ roamwatch_incident, roamwatch_incident_host → InfluxDB
 *
 * Why here and not in the per-partition pipeline: a fleet's hosts are spread over the events
 * topic's partitions and so over processor instances; one instance sees only its hosts' reauths
 * and would report a slice of the incident. The findings topic carries every instance's
 * findings, so one consumer of it sees the whole fleet. Every `roamwatch processor` runs a
 * member of the incidents group; the assigner gives all partitions to the first member (by
 * member id), the others stand by. When that instance dies, the group rebalances and another
 * member re-reads from the committed offset: offsets are committed only while no incident is
 * open (and after the incident outputs were acknowledged), so the new owner rebuilds open
 * incidents from their first finding, with the same ids (derived from content), and reports
 * them again (consumers see a repeated `opened`/`updated` with the same id and revision).
 * Trade-off (docs/processor.md "Incidents"): the grouping is a single consumer (its rate is the
 * findings rate, far below the events rate), and a finding reaches it one hop later than the
 * per-host findings, so an incident closes `quietPeriodMs + allowedLatenessMs` after its last
 * reauth.
 */
import { Kafka, logLevel, AssignerProtocol } from 'kafkajs';
import type { Consumer, Producer, KafkaConfig, PartitionAssigner, EachBatchPayload } from 'kafkajs';
import { Backoff, ConfigError, errorMessage, isRetriable, silentLogger, sleep } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { IncidentGrouper } from '../incidents.js';
import type { Incident, IncidentConfig, IncidentOutput } from '../incidents.js';
import type { Finding } from '../types.js';
import { toLineProtocol } from '../points.js';
import { InfluxSink } from './influxdb.js';
import type { InfluxSinkOptions } from './influxdb.js';
import { TopicSink } from './kafka-producer.js';
import type { BatchingSink } from './batching-sink.js';

/**
 * Every partition of every subscribed topic to the first member by member id; the other
 * members get nothing and take over on the next rebalance. (kafkajs's RoundRobinAssigner,
 * node_modules/kafkajs/src/consumer/assigners/roundRobinAssigner, spreads them instead.)
 */
export const SingleOwnerAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'RoamwatchSingleOwner',
  version: 0,
  async assign({ members, topics }) {
    const owner = members.map((m) => m.memberId).sort()[0];
    if (owner === undefined) return [];
    const assignment: Record<string, number[]> = {};
    for (const t of topics) assignment[t] = cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId);
    return members.map((m) => ({
      memberId: m.memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: m.memberId === owner ? assignment : {}, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: 'RoamwatchSingleOwner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});

export interface IncidentsOptions {
  brokers: string[];
  /** The findings topic (read and written). Default `roamwatch.findings`. */
  findingsTopic?: string;
  /** Consumer group id. Default `roamwatch-processor.incidents`. */
  groupId?: string;
  /** Where the incident points go; undefined: findings topic only. */
  influx?: InfluxSinkOptions;
  /** Read the findings topic from the start when the group has no committed offset. Default true. */
  fromBeginning?: boolean;
  incidents?: Partial<IncidentConfig>;
  /** Processing-time ticks that close quiet incidents (ms). Default 1000. */
  tickMs?: number;
  clientId?: string;
  logger?: Logger;
  kafka?: Partial<KafkaConfig>;
  /** Called for every incident event (the CLI prints them). */
  onIncident?: (i: Incident) => void;
}

export interface RunningIncidents {
  /** The grouping's counters (since the last rebalance), messages consumed, whether this member owns the findings topic now, group joins so far. */
  stats(): IncidentGrouper['stats'] & { consumed: number; owner: boolean; joins: number };
  stop(opts?: { drainTimeoutMs?: number }): Promise<void>;
  /** Rejects when the consumer crashes for good. */
  readonly done: Promise<void>;
}

/** Whether a findings-topic message is a finding the grouper reads (not an incident, not garbage). */
export function parseFindingMessage(value: Buffer | null, headers: Record<string, unknown> | undefined): Finding | undefined {
  const type = headers?.['finding-type'];
  if (type !== undefined && String(type) !== 'reauth') return undefined;
  if (!value) return undefined;
  try {
    const f = JSON.parse(value.toString('utf8')) as Finding;
    return f && f.type === 'reauth' && typeof f.id === 'string' && typeof f.timeUs === 'number' && typeof f.host === 'string' ? f : undefined;
  } catch {
    return undefined;
  }
}

export async function startIncidents(options: IncidentsOptions): Promise<RunningIncidents> {
  const { brokers, findingsTopic = 'roamwatch.findings', groupId = 'roamwatch-processor.incidents', fromBeginning = true, tickMs = 1000, logger = silentLogger() } = options;
  if (!brokers.length) throw new ConfigError('brokers', 'at least one broker host:port is required');
  // Replaced at every rebalance: the assigned partitions are read again from the committed offset.
  let grouper = new IncidentGrouper(options.incidents);

  const kafka = new Kafka({ clientId: options.clientId ?? 'roamwatch-incidents', brokers, logLevel: logLevel.NOTHING, ...options.kafka });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  const consumer: Consumer = kafka.consumer({ groupId, partitionAssigners: [SingleOwnerAssigner], sessionTimeout: 30_000, heartbeatInterval: 3000 });
  const influx = options.influx ? new InfluxSink({ logger, ...options.influx }) : undefined;
  const out = new TopicSink({ producer, topic: findingsTopic, name: 'incidents', logger });
  const sinks = [influx, out].filter((s): s is NonNullable<typeof s> => !!s) as BatchingSink<unknown>[];

  let consumed = 0;
  let joins = 0;
  let owner = false;
  let caughtUp = false;
  let failure: unknown;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {});

  const emit = (o: IncidentOutput) => {
    if (o.type === 'point') influx?.push(toLineProtocol(o.point));
    else {
      out.push({ key: o.incident.id, value: JSON.stringify(o.incident), headers: { 'finding-type': 'incident', 'finding-id': o.incident.id, 'incident-state': o.incident.state } });
      options.onIncident?.(o.incident);
    }
  };

  // Offsets consumed and not yet committed, per partition (next offset to read).
  const next = new Map<number, string>();
  let committing: Promise<void> | undefined;
  const commit = async (): Promise<void> => {
    if (committing || grouper.stats.open > 0 || !next.size) return committing;
    const list = [...next].map(([partition, offset]) => ({ topic: findingsTopic, partition, offset }));
    committing = (async () => {
      // what those findings produced is acknowledged first (at-least-once)
      await Promise.all(sinks.map((s) => s.drained()));
      await consumer.commitOffsets(list);
      for (const c of list) if (next.get(c.partition) === c.offset) next.delete(c.partition);
    })()
      .catch((err: unknown) => {
        logger.warn('incidents: offset commit failed (will retry)', { error: errorMessage(err) });
      })
      .finally(() => (committing = undefined));
    return committing;
  };

  await producer.connect();
  await consumer.connect();
  const backoff = new Backoff({ minMs: 200, maxMs: 2000 });
  for (let attempt = 1; ; attempt++) {
    try {
      await consumer.subscribe({ topic: findingsTopic, fromBeginning });
      break;
    } catch (err) {
      if (!isRetriable(err, false) || attempt >= 20) throw err;
      await sleep(backoff.fail());
    }
  }
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart && failure === undefined) {
      failure = e.payload.error;
      settle.reject(e.payload.error);
    }
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    owner = Object.keys(e.payload.memberAssignment).length > 0;
    joins += 1;
    grouper = new IncidentGrouper(options.incidents);
    next.clear();
    caughtUp = false;
    logger.info('incidents: joined group', { groupId, owner });
  });

  const tick = setInterval(() => {
    if (!owner || !caughtUp) return;
    try {
      grouper.push({ type: 'tick', nowUs: Date.now() * 1000 }, emit);
    } catch (err) {
      logger.error('incidents: grouper failed', { error: errorMessage(err) });
    }
    void commit();
  }, tickMs);

  const running = consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat }: EachBatchPayload) => {
      for (const m of batch.messages) {
        consumed += 1;
        const f = parseFindingMessage(m.value, m.headers as Record<string, unknown> | undefined);
        if (f) grouper.push({ type: 'finding', finding: f }, emit);
        next.set(batch.partition, String(Number(m.offset) + 1));
      }
      caughtUp = Number(batch.offsetLag()) === 0;
      await heartbeat().catch(() => {});
      void commit();
    },
  });
  running.catch((err) => {
    if (failure === undefined) {
      failure = err;
      settle.reject(err);
    }
  });

  return {
    stats: () => ({ ...grouper.stats, consumed, owner, joins }),
    done,
    async stop({ drainTimeoutMs = 10_000 } = {}) {
      clearInterval(tick);
      await consumer.stop();
      await Promise.race([Promise.all(sinks.map((s) => s.drained())), new Promise((r) => setTimeout(r, drainTimeoutMs))]);
      await commit();
      await committing;
      for (const s of sinks) s.close();
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      settle.resolve();
    },
  };
}
