/**
 * The checkpoint topic (`<group>.checkpoints`, compacted, keyed by host, one per consumer group):
 * the latest checkpoint of every host (processor/src/checkpoint.ts), written by whichever member
 * owns the host's partition, read by the one that is assigned it next (docs/processor.md "Scale-out").
 *
 * The reader tails the whole topic from its start in a consumer group of its own (unique per
 * instance, no commits: it always starts from the beginning, and compaction keeps that bounded
 * by the number of hosts) and keeps the latest value per host, unparsed. Before a partition's
 * records are processed, `caughtUp()` waits until the reader has read everything the topic held
 * at that moment: every checkpoint the previous owner wrote before committing is then in hand.
 */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { errorMessage, sleep } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { parseCheckpoint } from '../checkpoint.js';
import type { HostCheckpoint } from '../checkpoint.js';

export class CheckpointStore {
  private readonly latest = new Map<string, { partition: number | undefined; value: Buffer }>();
  /** Per checkpoint-topic partition: the next offset to read. */
  private readonly next = new Map<number, number>();
  private consumer: Consumer | undefined;
  private crashed: unknown;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly groupId: string,
    private readonly logger: Logger,
  ) {}

  /** Hosts with a checkpoint in hand. */
  get size(): number {
    return this.latest.size;
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: this.groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.crashed = e.payload.error;
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const host = m.key?.toString('utf8');
          if (host) {
            if (m.value === null || m.value.length === 0) this.latest.delete(host);
            else this.latest.set(host, { partition: partitionOf(m.value), value: m.value });
          }
          this.next.set(batch.partition, Number(m.offset) + 1);
        }
      },
    });
  }

  /** Waits (heartbeating the caller's group) until every checkpoint written before now has been read. */
  async caughtUp(heartbeat: () => Promise<void>, timeoutMs = 60_000): Promise<void> {
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    const deadline = Date.now() + timeoutMs;
    let beat = Date.now();
    for (;;) {
      if (this.crashed !== undefined) throw new Error(`checkpoint reader of ${this.topic} stopped: ${errorMessage(this.crashed)}`);
      const behind = ends.filter((e) => Number(e.high) > Math.max(Number(e.low), this.next.get(e.partition) ?? 0));
      if (!behind.length) return;
      if (Date.now() > deadline) throw new Error(`checkpoint reader of ${this.topic} did not catch up within ${timeoutMs} ms (partitions ${behind.map((b) => b.partition).join(', ')} behind)`);
      if (Date.now() - beat > 2000) {
        beat = Date.now();
        await heartbeat().catch(() => {});
      }
      await sleep(20);
    }
  }

  /** The checkpoints of the hosts of events partition `partition`; one that cannot be parsed is logged and left out (its host is rebuilt from its records alone). */
  forPartition(partition: number): HostCheckpoint[] {
    const out: HostCheckpoint[] = [];
    for (const [host, x] of this.latest) {
      if (x.partition !== partition) continue;
      try {
        out.push(parseCheckpoint(x.value));
      } catch (err) {
        this.logger.error('unreadable checkpoint: the host is rebuilt from its records alone', { host, topic: this.topic, error: errorMessage(err) });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => {});
  }
}

/** The events partition a checkpoint is for, read without parsing the whole value (it is written first). */
function partitionOf(value: Buffer): number | undefined {
  const m = /^\{"partition":(\d+),/.exec(value.subarray(0, 40).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
