/**
 * A sink = the spool + a transport. Envelopes are appended to the spool synchronously (the
 * caller, ultimately the VICI and netlink read loops, never waits on the network); one delivery
 * loop reads the spool in order and hands batches to the transport:
 *
 *   - batching with a bounded linger: a batch leaves when it holds `batchMaxEvents` /
 *     `batchMaxBytes`, or when its oldest record has waited `lingerMs`;
 *   - one batch in flight at a time, acknowledged in the spool only after the transport
 *     resolved, so order holds across failures;
 *   - on failure: state `down`, backoff from `retryMinMs` to `retryMaxMs` (core's Backoff:
 *     jittered, reset only after the transport has worked for a while), the same records again
 *     (duplicates carry the same event id);
 *   - `retriable`: a transport error that is a RoamwatchError with `retriable: false` (stdout's
 *     reader went away, a file sink path that is a symlink) ends delivery: nothing is retried,
 *     the records stay spooled and `onFatal` tells the agent to stop. Errors of client
 *     libraries (kafkajs) are always retried: their "non-retriable" means "kafkajs gave up its
 *     own retries", and a broker outage is exactly what the spool is for;
 *   - state `degraded` while the oldest unsent event is older than `degradedLagMs`.
 */
import type { Logger, RoamwatchEvent } from '@roamwatch/core';
import { Backoff, RoamwatchError, encodeEvent, errorMessage, sleep } from '@roamwatch/core';
import type { SpoolRecord } from './spool.js';
import type { Sink, SinkState, SinkStatusReport, SpoolPort, Transport } from './types.js';

export interface SpooledSinkOptions {
  spool: SpoolPort;
  transport: Transport;
  batchMaxEvents: number;
  batchMaxBytes: number;
  lingerMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  degradedLagMs: number;
  logger: Logger;
  /** Called once when the transport failed for good (a non-retriable error); the agent stops. */
  onFatal?: (err: RoamwatchError) => void;
}

/** The transport's verdict: only roamwatch's own errors may say "do not retry". */
function fatalError(err: unknown): RoamwatchError | undefined {
  return err instanceof RoamwatchError && !err.retriable ? err : undefined;
}

export class SpooledSink implements Sink {
  readonly kind: string;
  private readonly o: SpooledSinkOptions;
  private readonly spool: SpoolPort;
  private readonly log: Logger;
  private running = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private sent = 0;
  private sentSeq = 0;
  private state: SinkState = 'down';
  private lastError: string | undefined = 'not connected yet';
  private connected = false;
  private failures = 0;
  private retryBatch: SpoolRecord[] | undefined;
  /** Aborted to cut a linger or backoff short (flush, close); replaced after each use. */
  private sleeper = new AbortController();
  private readonly backoff: Backoff;
  private fatal: RoamwatchError | undefined;
  private flushWaiters: Array<{ seq: number; resolve: (ok: boolean) => void }> = [];

  constructor(o: SpooledSinkOptions) {
    this.o = o;
    this.spool = o.spool;
    this.kind = o.transport.kind;
    this.log = o.logger;
    this.sentSeq = o.spool.ackedSeq;
    this.backoff = new Backoff({ minMs: o.retryMinMs, maxMs: o.retryMaxMs });
  }

  private wakeUp(): void {
    this.sleeper.abort();
    this.sleeper = new AbortController();
  }

  get lastSeq(): number {
    return this.spool.lastSeq;
  }

  write(event: RoamwatchEvent): void {
    this.spool.append(event.seq, encodeEvent(event), event.timeUs);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run().catch((err: unknown) => {
      this.log.error('delivery loop failed', { error: errorMessage(err) });
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping || this.sentSeq < this.spool.stats().readableSeq) {
      if (!this.connected) {
        try {
          await this.o.transport.connect();
          this.connected = true;
          this.log.info('connected', { sink: this.kind });
          this.setOk();
        } catch (err) {
          if (this.fail(err)) return;
          await sleep(this.backoff.fail(), this.sleeper.signal);
          continue;
        }
      }
      // After a failure the very same batch goes again (an idempotent producer dedupes it only
      // if it is the same batch), unless the spool dropped it at its bound meanwhile.
      const retry = this.retryBatch && this.retryBatch[this.retryBatch.length - 1]!.seq > this.spool.ackedSeq ? this.retryBatch : undefined;
      this.retryBatch = undefined;
      let batch = retry ?? this.spool.read(this.sentSeq, this.o.batchMaxEvents, this.o.batchMaxBytes);
      if (batch.length === 0) {
        this.setOk();
        this.resolveFlushes();
        if (this.stopping) return;
        await this.spool.waitForRecordsAfter(this.sentSeq);
        continue;
      }
      // Bounded linger: wait for a fuller batch at most until the oldest record is lingerMs old.
      if (!retry && !this.stopping && this.o.lingerMs > 0 && batch.length < this.o.batchMaxEvents && this.flushWaiters.length === 0) {
        const ageMs = Date.now() - batch[0]!.timeUs / 1000;
        if (ageMs < this.o.lingerMs) {
          await sleep(this.o.lingerMs - Math.max(0, ageMs), this.sleeper.signal);
          batch = this.spool.read(this.sentSeq, this.o.batchMaxEvents, this.o.batchMaxBytes);
        }
      }
      try {
        await this.o.transport.send(batch);
      } catch (err) {
        this.retryBatch = batch;
        if (this.fail(err)) return;
        await sleep(this.backoff.fail(), this.sleeper.signal);
        continue;
      }
      this.backoff.succeeded();
      const last = batch[batch.length - 1]!;
      this.sent += batch.length;
      this.sentSeq = last.seq;
      this.spool.ack(last.seq);
      this.setOk();
      this.resolveFlushes();
    }
  }

  /** Records a failure; true when the loop should end (a fatal error, or stopping with no flush waiting). */
  private fail(err: unknown): boolean {
    const msg = errorMessage(err);
    const fatal = fatalError(err);
    if (fatal) {
      this.fatal = fatal;
      this.state = 'down';
      this.lastError = msg;
      this.log.error('sink failed for good; events stay in the spool', { sink: this.kind, error: msg, code: fatal.code, pendingEvents: this.spool.stats().pendingEvents });
      for (const w of this.flushWaiters) w.resolve(false);
      this.flushWaiters = [];
      queueMicrotask(() => this.o.onFatal?.(fatal));
      return true;
    }
    this.failures += 1;
    if (this.state !== 'down' || this.lastError !== msg) {
      this.log.warn('sink unavailable; events stay in the spool and are retried', { sink: this.kind, error: msg, pendingEvents: this.spool.stats().pendingEvents });
    }
    this.state = 'down';
    this.lastError = msg;
    return this.stopping && this.flushWaiters.length === 0;
  }

  private setOk(): void {
    if (this.state === 'down' && this.failures > 0) this.log.info('sink available again', { sink: this.kind, pendingEvents: this.spool.stats().pendingEvents });
    this.failures = 0;
    this.state = 'ok';
  }

  private resolveFlushes(): void {
    if (this.flushWaiters.length === 0) return;
    const keep: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) {
      if (this.sentSeq >= w.seq || this.spool.ackedSeq >= w.seq) w.resolve(true);
      else keep.push(w);
    }
    this.flushWaiters = keep;
  }

  async flush(timeoutMs: number): Promise<boolean> {
    if (this.fatal) return false;
    this.spool.writePending();
    const target = this.spool.stats().readableSeq;
    if (this.sentSeq >= target) return true;
    return new Promise<boolean>((resolve) => {
      const entry = { seq: target, resolve: (ok: boolean) => resolve(ok) };
      this.flushWaiters.push(entry);
      // Skip the linger and any backoff: deliver now.
      this.wakeUp();
      this.spool.wake();
      const t = setTimeout(() => {
        this.flushWaiters = this.flushWaiters.filter((w) => w !== entry);
        resolve(false);
      }, timeoutMs);
      t.unref();
    });
  }

  /** Stops delivering (after what can be sent within `timeoutMs`), closes the transport and the spool. */
  async close(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    this.spool.wake();
    // The loop ends once everything is sent, or at the first failure once no flush waits;
    // a send that hangs is cut off by closing the transport. What is unsent stays spooled.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await this.o.transport.close().catch((err: unknown) => this.log.warn('closing the transport failed', { error: errorMessage(err) }));
    this.spool.close();
  }

  report(): SinkStatusReport {
    const st = this.spool.stats();
    const oldest = this.spool.oldestPendingTimeUs();
    const lagMs = oldest === undefined ? 0 : Math.max(0, Date.now() - oldest / 1000);
    let state = this.state;
    if (state === 'ok' && lagMs > this.o.degradedLagMs) state = 'degraded';
    return {
      sink: { kind: this.kind, state, ...(this.lastError && state !== 'ok' ? { lastError: this.lastError.slice(0, 1024) } : {}) },
      spool: {
        bytes: st.bytes,
        events: st.pendingEvents,
        limitBytes: st.limitBytes,
        droppedEvents: st.droppedEvents,
        ...(st.holding ? { holding: true, heldBytes: st.heldBytes } : {}),
        ...(st.effectiveLimitBytes < st.limitBytes ? { effectiveLimitBytes: st.effectiveLimitBytes } : {}),
      },
      eventsSent: this.sent,
      eventsDropped: st.droppedEvents,
      lagMs: Math.round(lagMs),
    };
  }
}

export type { SpoolRecord };
