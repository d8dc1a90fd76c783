/**
 * The processor pipeline: one chain of pure, synchronous stages (stage.ts), composed once.
 *
 *   records ─decode─▶ events ─order─▶ ordered ─correlate─▶ events, findings, clocks, releases ─project─▶ outputs ─join─▶ outputs
 *      └──▶ dead letters (with the reason), passed through to the output
 *
 * | stage     | file                                     | holds                                        |
 * |-----------|------------------------------------------|----------------------------------------------|
 * | decode    | decode.ts                                | nothing                                      |
 * | order     | order.ts (EventTimeOrderer)              | per host: events until the watermark passes  |
 * | correlate | correlate.ts: reauth-tracker.ts, retain.ts | per host: SA lifecycles, open reauths; records until nothing needs them |
 * | project   | project.ts (MetricsProjection)           | per host: open net-change count windows      |
 * | join      | release-join.ts (ReleaseJoin)            | batch records until all their events are released |
 *
 * `Pipeline` is that chain; `processEvents` is the same chain as an RxJS operator (what
 * `roamwatch processor`, `watch` and `replay` run); `decodeEvents`, `orderByEventTime`,
 * `correlate` and `project` are the stages alone, as operators, for tests. No I/O and no
 * clock: ticks come in as input items from the edge.
 *
 * Incidents (incidents.ts, IncidentGrouper) are grouped behind this chain, on the findings of every
 * instance (edges/incidents.ts), not inside it: one instance sees only its partitions' hosts.
 */
import type { OperatorFunction } from 'rxjs';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { CorrelationConfig } from './config.js';
import { correlationConfig } from './config.js';
import { decodeBatchRecord, decodeRecord } from './decode.js';
import { ReleaseJoin } from './release-join.js';
import type { PartRef } from './release-join.js';
import { EventTimeOrderer } from './order.js';
import type { OrderedItem } from './order.js';
import { CorrelateStage } from './correlate.js';
import type { CorrelatedItem, CorrelateInput } from './correlate.js';
import { MetricsProjection } from './project.js';
import { chain, stageOperator } from './stage.js';
import type { Stage, Emit } from './stage.js';
import type { Classification, ControlInput, DeadLetter, PipelineInput, PipelineOutput, TickInput } from './types.js';

export type DecodedItem<R> = { type: 'event'; event: RoamwatchEvent; ref: R | undefined } | TickInput | DeadLetter<R> | ControlInput;

/**
 * decode: records → events; a bad record, or one whose event time is too far ahead of its
 * record timestamp (clock skew, maxFutureSkewMs), becomes a dead letter; ticks pass through.
 * A batch record becomes its events, each with a BatchPart of the record's ref (decode.ts).
 */
export class DecodeStage<R> implements Stage<PipelineInput<R>, DecodedItem<PartRef<R>>> {
  deadLetters = 0;
  /** Of deadLetters, those dead-lettered for clock skew. */
  clockSkew = 0;

  constructor(private readonly config: Pick<CorrelationConfig, 'maxFutureSkewMs'>) {}

  push(input: PipelineInput<R>, emit: Emit<DecodedItem<PartRef<R>>>): void {
    if (input.type !== 'record') {
      emit(input);
      return;
    }
    const v = input.value;
    if (typeof v === 'object' && !Buffer.isBuffer(v)) {
      // an envelope handed over as an object (the in-process agent): trusted, as decodeRecord does
      emit({ type: 'event', event: v, ref: input.ref });
      return;
    }
    if (input.batchEvents !== undefined) {
      for (const d of decodeBatchRecord(v, input.ref, input.batchEvents, { recordTimeMs: input.recordTimeMs, maxFutureSkewMs: this.config.maxFutureSkewMs })) {
        if (d.ok) {
          emit({ type: 'event', event: d.event, ref: d.ref });
          continue;
        }
        this.deadLetters += 1;
        if (d.code === 'clock-skew') this.clockSkew += 1;
        const { ok: _ok, ...dl } = d;
        emit(dl);
      }
      return;
    }
    const d = decodeRecord(v, input.ref, { recordTimeMs: input.recordTimeMs, maxFutureSkewMs: this.config.maxFutureSkewMs });
    if (d.ok) {
      emit({ type: 'event', event: d.event, ref: d.ref });
      return;
    }
    this.deadLetters += 1;
    if (d.code === 'clock-skew') this.clockSkew += 1;
    const { ok: _ok, ...dl } = d;
    emit(dl);
  }

  flush(): void {}
}

type OrderInput<R> = { type: 'event'; event: RoamwatchEvent; ref?: R } | TickInput | DeadLetter<R> | ControlInput;

/** order: per-host event-time order with watermarks (order.ts); dead letters and control items pass through. */
export class OrderStage<R> implements Stage<OrderInput<R>, OrderedItem<R> | DeadLetter<R> | ControlInput> {
  readonly orderer: EventTimeOrderer<R>;

  constructor(config: Pick<CorrelationConfig, 'allowedLatenessMs' | 'dedupeIds' | 'maxBufferedPerHost'>) {
    this.orderer = new EventTimeOrderer<R>(config);
  }

  push(x: OrderInput<R>, emit: Emit<OrderedItem<R> | DeadLetter<R> | ControlInput>): void {
    if (x.type === 'event') this.orderer.push(x.event, x.ref, emit);
    else if (x.type === 'tick') this.orderer.tick(x.nowUs, emit, x.restart === true);
    else emit(x);
  }

  flush(emit: Emit<OrderedItem<R> | DeadLetter<R>>): void {
    this.orderer.flush(emit);
  }
}

export interface PipelineStats {
  /** Events correlated (duplicates excluded). */
  events: number;
  late: number;
  duplicates: number;
  lateNetChanges: number;
  /** Path verdicts written to the `peer="_overflow"` series (docs/metrics.md, pathPeersPerHost). */
  pathPeersOverflow: number;
  reauths: Record<Classification, number>;
  rekeys: number;
  findings: number;
  points: number;
  trackedSas: number;
  deadLetters: number;
  /** Of those, events too far ahead of their record's timestamp (code clock-skew). */
  clockSkewDeadLetters: number;
  buffered: number;
  /** Events released before their watermark because their host had maxBufferedPerHost waiting. */
  forcedReleases: number;
  hosts: number;
  /** Newest event time seen (µs), for the lag self-report. */
  maxEventTimeUs: number;
  /** Records held for their offsets, and the event time of the oldest of them (retain.ts). */
  retained: number;
  lowWatermarkUs: number | undefined;
  /** Re-read events that a restored checkpoint already held (scale-out). */
  restoredSkips: number;
}

/** The whole pipeline, synchronous: push inputs, get outputs through `emit`. */
export class Pipeline<R> implements Stage<PipelineInput<R>, PipelineOutput<R>> {
  readonly config: CorrelationConfig;
  readonly decode: DecodeStage<R>;
  readonly order: OrderStage<PartRef<R>>;
  readonly correlate: CorrelateStage<PartRef<R>>;
  readonly project: MetricsProjection<PartRef<R>>;
  readonly join: ReleaseJoin<R>;
  private readonly chain: Stage<PipelineInput<R>, PipelineOutput<R>>;

  /** `checkpoints`: keep the shadow tracker and answer checkpoint requests and restores (the Kafka processor; correlate.ts). */
  constructor(config: Partial<CorrelationConfig> = {}, { checkpoints = false }: { checkpoints?: boolean } = {}) {
    this.config = correlationConfig(config);
    this.decode = new DecodeStage<R>(this.config);
    this.order = new OrderStage<PartRef<R>>(this.config);
    this.correlate = new CorrelateStage<PartRef<R>>(this.config, { checkpoints });
    this.project = new MetricsProjection<PartRef<R>>(this.config);
    this.join = new ReleaseJoin<R>();
    // The one composition: decode → order → correlate → project → join.
    this.chain = chain(chain(chain(chain(this.decode, this.order), this.correlate), this.project), this.join);
  }

  push(input: PipelineInput<R>, emit: Emit<PipelineOutput<R>>): void {
    this.chain.push(input, emit);
  }

  /** End of input (replays): release and close everything. */
  flush(emit: Emit<PipelineOutput<R>>): void {
    this.chain.flush(emit);
  }

  stats(): PipelineStats {
    const c = this.correlate;
    const t = c.tracker.stats;
    const o = this.order.orderer;
    return {
      events: c.stats.events,
      late: c.stats.late,
      duplicates: c.stats.duplicates,
      lateNetChanges: this.project.stats.lateNetChanges,
      restoredSkips: c.stats.restoredSkips,
      pathPeersOverflow: this.project.stats.pathPeersOverflow,
      reauths: { ...t.reauths },
      rekeys: t.rekeys,
      findings: t.findings,
      points: this.project.stats.points,
      trackedSas: c.tracker.trackedSas(),
      deadLetters: this.decode.deadLetters,
      clockSkewDeadLetters: this.decode.clockSkew,
      buffered: o.stats.buffered,
      forcedReleases: o.stats.forcedReleases,
      hosts: o.hostCount,
      maxEventTimeUs: o.stats.maxTimeUs,
      retained: c.barrier.heldCount(),
      lowWatermarkUs: c.barrier.lowWatermarkUs(),
    };
  }
}

export interface ProcessEventsOptions extends Partial<CorrelationConfig> {
  /** Keep the shadow tracker for checkpoints (the Kafka processor, docs/processor.md "Scale-out"). Default false. */
  checkpoints?: boolean;
  /** Release and close everything when the input completes (replays: true; live consumers stop without flushing). Default true. */
  flushOnComplete?: boolean;
  /** Receives the Pipeline instance (to read stats). */
  onPipeline?: (p: Pipeline<unknown>) => void;
}

/** The whole pipeline as one operator. */
export function processEvents<R = never>(options: ProcessEventsOptions = {}): OperatorFunction<PipelineInput<R>, PipelineOutput<R>> {
  const { flushOnComplete = true, onPipeline, checkpoints = false, ...config } = options;
  return stageOperator(
    () => {
      const p = new Pipeline<R>(config, { checkpoints });
      onPipeline?.(p as Pipeline<unknown>);
      return p;
    },
    { flushOnComplete },
  );
}

/** decode stage alone: records → events, dead letters beside them, ticks passed on. */
export function decodeEvents<R = never>(options: { maxFutureSkewMs?: number } = {}): OperatorFunction<PipelineInput<R>, DecodedItem<PartRef<R>>> {
  const cfg = correlationConfig({ maxFutureSkewMs: options.maxFutureSkewMs });
  return stageOperator(() => new DecodeStage<R>(cfg));
}

/** order stage alone: events (or ticks) → per-host event-time order with watermarks. */
export function orderByEventTime<R = never>(
  options: { allowedLatenessMs?: number; dedupeIds?: number; flushOnComplete?: boolean } = {},
): OperatorFunction<OrderInput<R>, OrderedItem<R> | DeadLetter<R> | ControlInput> {
  const cfg = correlationConfig({ allowedLatenessMs: options.allowedLatenessMs, dedupeIds: options.dedupeIds });
  return stageOperator(() => new OrderStage<R>(cfg), { flushOnComplete: options.flushOnComplete });
}

/** correlate stage alone: ordered items → applied events, findings, host clocks, releases. */
export function correlate<R = never>(config: Partial<CorrelationConfig> = {}): OperatorFunction<CorrelateInput<R>, CorrelatedItem<R>> {
  const cfg = correlationConfig(config);
  return stageOperator(() => new CorrelateStage<R>(cfg));
}

/** project stage alone: correlated items → points, findings, dead letters, releases. */
export function project<R = never>(config: Partial<CorrelationConfig> = {}): OperatorFunction<CorrelatedItem<R>, PipelineOutput<R>> {
  const cfg = correlationConfig(config);
  return stageOperator(() => new MetricsProjection<R>(cfg));
}

/** join stage alone: batch records' shares → one release per record, once all its events are done. */
export function joinReleases<R = never>(): OperatorFunction<PipelineOutput<PartRef<R>>, PipelineOutput<R>> {
  return stageOperator(() => new ReleaseJoin<R>());
}
