/**
 * The processor pipeline as RxJS operators: pure functions from Observable to Observable.
 *
 *   records ──decode──▶ events ──orderByEventTime──▶ ordered ──correlate──▶ outputs
 *        └──▶ dead letters (with the reason)
 *
 * `processEvents(config)` is the whole thing in one operator; the stages are exported too
 * for tests. No I/O and no clock: ticks come in as input items from the edge.
 */
import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { CorrelationConfig } from './config.js';
import { correlationConfig } from './config.js';
import { decodeRecord } from './decode.js';
import { EventTimeOrderer } from './order.js';
import type { OrderedItem } from './order.js';
import { Correlator } from './correlate.js';
import type { CorrelatorStats } from './correlate.js';
import type { PipelineInput, PipelineOutput } from './types.js';

export interface PipelineStats extends CorrelatorStats {
  deadLetters: number;
  /** Of those, events too far ahead of their record's timestamp (code clock-skew). */
  clockSkewDeadLetters: number;
  buffered: number;
  /** Events released before their watermark because their host had maxBufferedPerHost waiting. */
  forcedReleases: number;
  hosts: number;
  /** Newest event time seen (µs), for the lag self-report. */
  maxEventTimeUs: number;
}

/** Synchronous core of the pipeline: push inputs, get outputs through `emit`. Used by the operator and the benchmarks. */
export class Pipeline<R> {
  readonly config: CorrelationConfig;
  private readonly orderer: EventTimeOrderer<R>;
  private readonly correlator: Correlator<R>;
  private deadLetters = 0;
  private clockSkew = 0;
  private readonly onOrdered: (item: OrderedItem<R>) => void;
  private emit: (o: PipelineOutput<R>) => void = () => {};

  constructor(config: Partial<CorrelationConfig> = {}) {
    this.config = correlationConfig(config);
    this.orderer = new EventTimeOrderer<R>(this.config);
    this.correlator = new Correlator<R>(this.config);
    this.onOrdered = (item) => this.correlator.process(item, this.emit);
  }

  push(input: PipelineInput<R>, emit: (o: PipelineOutput<R>) => void): void {
    this.emit = emit;
    if (input.type === 'tick') {
      this.orderer.tick(input.nowUs, this.onOrdered, input.restart === true);
      return;
    }
    const d = decodeRecord(input.value, input.ref, { recordTimeMs: input.recordTimeMs, maxFutureSkewMs: this.config.maxFutureSkewMs });
    if (!d.ok) {
      this.deadLetters += 1;
      if (d.code === 'clock-skew') this.clockSkew += 1;
      const { ok: _ok, ...dl } = d;
      emit(dl);
      return;
    }
    this.orderer.push(d.event, d.ref, this.onOrdered);
  }

  /** End of input (replays): release and close everything. */
  flush(emit: (o: PipelineOutput<R>) => void): void {
    this.emit = emit;
    this.orderer.flush(this.onOrdered);
  }

  stats(): PipelineStats {
    return {
      ...this.correlator.stats,
      reauths: { ...this.correlator.stats.reauths },
      trackedSas: this.correlator.trackedSas(),
      deadLetters: this.deadLetters,
      clockSkewDeadLetters: this.clockSkew,
      buffered: this.orderer.stats.buffered,
      forcedReleases: this.orderer.stats.forcedReleases,
      hosts: this.orderer.hostCount,
      maxEventTimeUs: this.orderer.stats.maxTimeUs,
    };
  }
}

export interface ProcessEventsOptions extends Partial<CorrelationConfig> {
  /** Release and close everything when the input completes (replays: true; live consumers stop without flushing). Default true. */
  flushOnComplete?: boolean;
  /** Receives the Pipeline instance (to read stats). */
  onPipeline?: (p: Pipeline<unknown>) => void;
}

/** The whole pipeline as one operator. */
export function processEvents<R = never>(options: ProcessEventsOptions = {}): OperatorFunction<PipelineInput<R>, PipelineOutput<R>> {
  const { flushOnComplete = true, onPipeline, ...config } = options;
  return (source) =>
    new Observable<PipelineOutput<R>>((sub) => {
      const p = new Pipeline<R>(config);
      onPipeline?.(p as Pipeline<unknown>);
      const emit = (o: PipelineOutput<R>) => sub.next(o);
      return source.subscribe({
        next: (input) => {
          try {
            p.push(input, emit);
          } catch (err) {
            sub.error(err);
          }
        },
        error: (err) => sub.error(err),
        complete: () => {
          if (flushOnComplete) p.flush(emit);
          sub.complete();
        },
      });
    });
}

/** decode stage alone: records → events, dead letters beside them. */
export function decodeEvents<R = never>(): OperatorFunction<PipelineInput<R>, { type: 'event'; event: RoamwatchEvent; ref: R | undefined } | PipelineOutput<R>> {
  return (source) =>
    new Observable((sub) =>
      source.subscribe({
        next: (input) => {
          if (input.type === 'tick') return;
          const d = decodeRecord(input.value, input.ref);
          if (d.ok) sub.next({ type: 'event', event: d.event, ref: d.ref });
          else {
            const { ok: _ok, ...dl } = d;
            sub.next(dl);
          }
        },
        error: (e) => sub.error(e),
        complete: () => sub.complete(),
      }),
    );
}

/** order stage alone: events (or ticks) → per-host event-time order with watermarks. */
export function orderByEventTime<R = never>(
  options: { allowedLatenessMs?: number; dedupeIds?: number; flushOnComplete?: boolean } = {},
): OperatorFunction<{ type: 'event'; event: RoamwatchEvent; ref?: R } | { type: 'tick'; nowUs: number; restart?: boolean }, OrderedItem<R>> {
  const cfg = correlationConfig({ allowedLatenessMs: options.allowedLatenessMs, dedupeIds: options.dedupeIds });
  return (source) =>
    new Observable<OrderedItem<R>>((sub) => {
      const o = new EventTimeOrderer<R>(cfg);
      const emit = (i: OrderedItem<R>) => sub.next(i);
      return source.subscribe({
        next: (x) => (x.type === 'tick' ? o.tick(x.nowUs, emit, x.restart === true) : o.push(x.event, x.ref, emit)),
        error: (e) => sub.error(e),
        complete: () => {
          if (options.flushOnComplete !== false) o.flush(emit);
          sub.complete();
        },
      });
    });
}

/** correlate stage alone: ordered items → points, findings, releases. */
export function correlate<R = never>(config: Partial<CorrelationConfig> = {}): OperatorFunction<OrderedItem<R>, PipelineOutput<R>> {
  const cfg = correlationConfig(config);
  return (source) =>
    new Observable<PipelineOutput<R>>((sub) => {
      const c = new Correlator<R>(cfg);
      const emit = (o: PipelineOutput<R>) => sub.next(o);
      return source.subscribe({
        next: (i) => c.process(i, emit),
        error: (e) => sub.error(e),
        complete: () => sub.complete(),
      });
    });
}
