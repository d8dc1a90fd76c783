/**
 * A sink that sends items in order, in batches, one batch in flight, retrying with
 * exponential backoff, and reports how far it is acknowledged: items get increasing
 * sequence numbers and `ackedSeq` is the highest one whose batch the server confirmed.
 * The commit logic (release-tracker.ts) needs exactly that: "everything up to n is safe".
 *
 * Retrying decides on the error alone (`retriable(err)`); a non-retriable error drops the
 * batch (counted, logged), so one unwritable batch never stalls the pipeline forever.
 */
import { errorMessage } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';

export interface BatchingSinkOptions {
  /** Items per request. */
  batchSize: number;
  /** How long a partial batch may wait for more items (ms). */
  lingerMs: number;
  /** First retry delay (ms); doubles per failure up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
  logger: Logger;
  /** For logs and telemetry: `influxdb`, `findings`, `dead-letter`. */
  name: string;
}

export interface SinkStats {
  sent: number;
  batches: number;
  retries: number;
  dropped: number;
  pending: number;
  /** The server is failing right now (retrying). */
  failing: boolean;
  lastError?: string;
}

export abstract class BatchingSink<T> {
  private queue: T[] = [];
  private queueHead = 0;
  private nextSeq = 0;
  private acked = 0;
  private running = false;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<(ackedSeq: number) => void>();
  private idleWaiters: (() => void)[] = [];
  private wake: (() => void) | undefined;
  readonly stats: SinkStats = { sent: 0, batches: 0, retries: 0, dropped: 0, pending: 0, failing: false };

  constructor(protected readonly opts: BatchingSinkOptions) {}

  protected abstract send(batch: T[]): Promise<void>;
  protected abstract retriable(err: unknown): boolean;

  /** Queues one item; returns its sequence number. */
  push(item: T): number {
    if (this.closed) throw new Error(`${this.opts.name} sink is closed`);
    this.queue.push(item);
    this.nextSeq += 1;
    this.stats.pending += 1;
    this.schedule();
    return this.nextSeq;
  }

  /** Sequence number of the last item pushed (0 before any). */
  get lastSeq(): number {
    return this.nextSeq;
  }

  /** Highest sequence number acknowledged by the server. */
  get ackedSeq(): number {
    return this.acked;
  }

  get pending(): number {
    return this.nextSeq - this.acked;
  }

  onAck(listener: (ackedSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when everything pushed so far is acknowledged (or dropped). */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    this.schedule(true);
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying after the current attempt; pending items stay unacknowledged. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private schedule(now = false): void {
    if (this.running || this.closed) return;
    const queued = this.queue.length - this.queueHead;
    if (queued >= this.opts.batchSize || now || this.opts.lingerMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.loop();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.loop();
      }, this.opts.lingerMs);
    }
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closed && this.queue.length > this.queueHead) {
        const end = Math.min(this.queue.length, this.queueHead + this.opts.batchSize);
        const batch = this.queue.slice(this.queueHead, end);
        let delay = this.opts.retryMinMs;
        for (;;) {
          try {
            await this.send(batch);
            this.stats.failing = false;
            break;
          } catch (err) {
            this.stats.lastError = errorMessage(err);
            if (!this.retriable(err)) {
              this.stats.dropped += batch.length;
              this.opts.logger.error(`${this.opts.name}: dropping a batch the server rejected`, { items: batch.length, error: errorMessage(err) });
              break;
            }
            this.stats.failing = true;
            this.stats.retries += 1;
            if (this.stats.retries === 1 || this.stats.retries % 20 === 0) {
              this.opts.logger.warn(`${this.opts.name}: write failed, retrying`, { items: batch.length, retryInMs: delay, error: errorMessage(err) });
            }
            await this.sleep(delay);
            if (this.closed) return;
            delay = Math.min(this.opts.retryMaxMs, delay * 2);
          }
        }
        this.queueHead = end;
        if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead);
          this.queueHead = 0;
        }
        this.acked += batch.length;
        this.stats.sent += batch.length;
        this.stats.batches += 1;
        this.stats.pending = this.pending;
        for (const l of this.listeners) l(this.acked);
      }
    } finally {
      this.running = false;
    }
    if (this.pending === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    } else if (!this.closed) {
      this.schedule();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
