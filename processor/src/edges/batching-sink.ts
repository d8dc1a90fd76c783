/**
 * A sink that sends items in order, in batches, one batch in flight, retrying with backoff
 * (core's Backoff: jittered, capped, reset only after the server has worked for a while), and
 * reports how far it is acknowledged: items get increasing sequence numbers and `ackedSeq` is
 * the highest one whose batch the server confirmed. The commit logic (release-tracker.ts)
 * needs exactly that: "everything up to n is safe".
 *
 * Batches are bounded by items (`batchSize`) and by bytes (`batchMaxBytes`, with `sizeOf`), so
 * a batch of large items never exceeds what the server takes in one request.
 *
 * Retrying decides on the error alone (`retriable(err)`). A batch the server rejects for good
 * is split in halves, recursively, so that the items it accepts go through and only the one it
 * refuses is left; that item is offered to `replaceRejected` (e.g. a dead letter too large for
 * the broker becomes a reference to its source record) and only if there is no replacement is
 * it dropped, counted in `stats.dropped` and logged as an error. Nothing is dropped silently.
 */
import { Backoff, errorMessage, sleep } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';

export interface BatchingSinkOptions {
  /** Items per request. */
  batchSize: number;
  /** Bytes per request, as summed by `sizeOf` (default: no bound). A single larger item goes alone. */
  batchMaxBytes?: number;
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
  /** Items the server refused for good and that had no replacement (each one logged). */
  dropped: number;
  /** Items the server refused for good, sent again as their replacement. */
  replaced: number;
  /** Batches split to isolate an item the server refused. */
  splits: number;
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
  private sleeper = new AbortController();
  private readonly backoff: Backoff;
  readonly stats: SinkStats = { sent: 0, batches: 0, retries: 0, dropped: 0, replaced: 0, splits: 0, pending: 0, failing: false };

  constructor(protected readonly opts: BatchingSinkOptions) {
    this.backoff = new Backoff({ minMs: opts.retryMinMs, maxMs: opts.retryMaxMs });
  }

  protected abstract send(batch: T[]): Promise<void>;
  protected abstract retriable(err: unknown): boolean;
  /** Size of one item in a request (bytes), for `batchMaxBytes`. */
  protected sizeOf(_item: T): number {
    return 0;
  }
  /** An item the server refused for good: what to send instead, or undefined to drop it (logged). */
  protected replaceRejected(_item: T, _err: unknown): T | undefined {
    return undefined;
  }

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
    this.sleeper.abort();
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
        const maxBytes = this.opts.batchMaxBytes ?? Infinity;
        let end = this.queueHead;
        let bytes = 0;
        while (end < this.queue.length && end - this.queueHead < this.opts.batchSize) {
          const b = maxBytes === Infinity ? 0 : this.sizeOf(this.queue[end]!);
          if (end > this.queueHead && bytes + b > maxBytes) break;
          bytes += b;
          end += 1;
        }
        const batch = this.queue.slice(this.queueHead, end);
        if (!(await this.deliver(batch))) return;
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

  /**
   * Sends `batch` until the server has it; splits what it refuses for good. Resolves true once
   * every item is delivered, replaced or (logged) dropped; false when the sink was closed first.
   */
  private async deliver(batch: T[]): Promise<boolean> {
    for (;;) {
      try {
        await this.send(batch);
        this.stats.failing = false;
        this.backoff.succeeded();
        return true;
      } catch (err) {
        this.stats.lastError = errorMessage(err);
        if (!this.retriable(err)) {
          if (batch.length > 1) {
            this.stats.splits += 1;
            const mid = batch.length >> 1;
            if (this.stats.splits === 1 || this.stats.splits % 100 === 0) {
              this.opts.logger.warn(`${this.opts.name}: the server refused a batch; splitting it to isolate the refused item`, { items: batch.length, splits: this.stats.splits, error: errorMessage(err) });
            }
            return (await this.deliver(batch.slice(0, mid))) && (await this.deliver(batch.slice(mid)));
          }
          const replacement = this.replaceRejected(batch[0]!, err);
          if (replacement !== undefined && replacement !== batch[0]) {
            this.stats.replaced += 1;
            this.opts.logger.warn(`${this.opts.name}: the server refused an item; sending its replacement`, { error: errorMessage(err) });
            batch = [replacement];
            continue;
          }
          this.stats.dropped += 1;
          this.opts.logger.error(`${this.opts.name}: dropping an item the server refused for good`, { error: errorMessage(err), dropped: this.stats.dropped });
          return true;
        }
        this.stats.failing = true;
        this.stats.retries += 1;
        const delay = this.backoff.fail();
        if (this.stats.retries === 1 || this.stats.retries % 20 === 0) {
          this.opts.logger.warn(`${this.opts.name}: write failed, retrying`, { items: batch.length, retryInMs: delay, error: errorMessage(err) });
        }
        await sleep(delay, this.sleeper.signal);
        if (this.closed) return false;
      }
    }
  }
}
