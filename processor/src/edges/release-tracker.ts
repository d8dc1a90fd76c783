/**
 * When may a Kafka offset be committed? When the record was released by the pipeline
 * (nothing in its state depends on it any more) and every output emitted before that
 * release was acknowledged by its sink. The tracker keeps releases in output order with
 * the sinks' sequence numbers at that moment, and lets them through as the sinks catch up.
 * OffsetTracker then turns released offsets into the committable position per partition.
 */
import type { BatchingSink } from './batching-sink.js';

export class ReleaseTracker<R> {
  private queue: { marks: number[]; refs: R[] }[] = [];
  private head = 0;

  constructor(
    private readonly sinks: BatchingSink<unknown>[],
    private readonly onReleased: (refs: R[]) => void,
  ) {
    for (const s of sinks) s.onAck(() => this.check());
  }

  release(refs: R[]): void {
    this.queue.push({ marks: this.sinks.map((s) => s.lastSeq), refs });
    this.check();
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  private check(): void {
    while (this.head < this.queue.length) {
      const x = this.queue[this.head]!;
      if (!x.marks.every((m, i) => this.sinks[i]!.ackedSeq >= m)) break;
      this.head += 1;
      this.onReleased(x.refs);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }
}

/** Per partition: offsets in consumption order; the committable offset is the first one not yet released. */
export class OffsetTracker {
  private readonly parts = new Map<string, { offsets: number[]; head: number; done: Set<number>; position: number; committed: number }>();

  private part(topic: string, partition: number) {
    const key = `${topic}\u0000${partition}`;
    let p = this.parts.get(key);
    if (!p) {
      p = { offsets: [], head: 0, done: new Set(), position: -1, committed: -1 };
      this.parts.set(key, p);
    }
    return p;
  }

  consumed(topic: string, partition: number, offset: number): void {
    this.part(topic, partition).offsets.push(offset);
  }

  released(topic: string, partition: number, offset: number): void {
    this.part(topic, partition).done.add(offset);
  }

  /** Offsets to commit now (Kafka semantics: the next offset to read), only where they moved past the last successful commit. */
  commits(): { topic: string; partition: number; offset: string }[] {
    const out: { topic: string; partition: number; offset: string }[] = [];
    for (const [key, p] of this.parts) {
      while (p.head < p.offsets.length && p.done.has(p.offsets[p.head]!)) {
        const o = p.offsets[p.head]!;
        p.done.delete(o);
        p.position = o + 1;
        p.head += 1;
      }
      if (p.head > 4096 && p.head * 2 > p.offsets.length) {
        p.offsets = p.offsets.slice(p.head);
        p.head = 0;
      }
      if (p.position > p.committed) {
        const [topic, partition] = key.split('\u0000') as [string, string];
        out.push({ topic, partition: Number(partition), offset: String(p.position) });
      }
    }
    return out;
  }

  /** The broker accepted these commits. */
  committedOk(list: { topic: string; partition: number; offset: string }[]): void {
    for (const c of list) {
      const p = this.part(c.topic, c.partition);
      p.committed = Math.max(p.committed, Number(c.offset));
    }
  }

  /** Records consumed but not committable yet. */
  get inFlight(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.offsets.length - p.head;
    return n;
  }

  /** Forget partitions this consumer no longer owns. */
  forget(topic: string, partition: number): void {
    this.parts.delete(`${topic}\u0000${partition}`);
  }
}
