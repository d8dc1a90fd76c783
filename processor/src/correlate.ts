/**
 * correlate: the stage between order and project. Per host, it keeps the event-time clock
 * (the newest in-order event time or watermark), applies each event to the reauth tracker
 * (reauth-tracker.ts: SA lifecycles, pairing, attribution, classification → findings), and
 * holds each record in the retention barrier (retain.ts) until neither the tracker nor the
 * projection needs it.
 *
 * For each ordered item it emits, in this order (the projection turns them into points; the
 * order is what guarantees that a release follows every output of the records it releases):
 *
 *   { event }    the applied event, as order emitted it (projection: its point, its count)
 *   findings     of the event itself (at-risk, or reauths closed because charon went away)
 *   { clock }    the host's clock, when it crossed a multiple of `netWindowMs` since the last
 *                one: the only moments a count window of the projection can close (windows
 *                are aligned to multiples of netWindowMs; see project.ts)
 *   findings     of reauths that became complete or due
 *   { release }  records nothing depends on any more
 *
 * Duplicates are not applied but still held and released; dead letters pass through.
 */
import type { CorrelationConfig } from './config.js';
import { correlationConfig } from './config.js';
import type { OrderedItem } from './order.js';
import type { Stage, Emit } from './stage.js';
import type { DeadLetter, Finding } from './types.js';
import { ReauthTracker } from './reauth-tracker.js';
import type { HostTrack } from './reauth-tracker.js';
import { RetentionBarrier } from './retain.js';
import type { HostHeld } from './retain.js';
import { netKind } from './net.js';
import { netWindowRetentionUs } from './project.js';

export type CorrelatedItem<R> =
  | AppliedEvent<R>
  | { type: 'finding'; finding: Finding }
  | { type: 'clock'; host: string; nowUs: number }
  | DeadLetter<R>
  | { type: 'release'; refs: R[] };

/** An event the tracker applied (not a duplicate): the ordered item itself, passed on. */
export type AppliedEvent<R> = Extract<OrderedItem<R>, { type: 'event' }>;

export interface CorrelateStats {
  /** Events applied (not duplicates). */
  events: number;
  late: number;
  duplicates: number;
}

/** Per host: its event-time clock and its handles into the tracker and the barrier. */
interface HostSlot<R> {
  host: string;
  clockUs: number;
  /** The clock last passed on in a `clock` item, in whole `netWindowMs` slots. */
  sentSlot: number;
  track: HostTrack;
  held: HostHeld<R>;
}

export class CorrelateStage<R> implements Stage<OrderedItem<R> | DeadLetter<R>, CorrelatedItem<R>> {
  readonly config: CorrelationConfig;
  readonly tracker: ReauthTracker;
  readonly barrier = new RetentionBarrier<R>();
  readonly stats: CorrelateStats = { events: 0, late: 0, duplicates: 0 };
  private readonly hosts = new Map<string, HostSlot<R>>();
  private readonly windowUs: number;
  private out: Emit<CorrelatedItem<R>> = () => {};
  private readonly onFinding = (finding: Finding) => this.out({ type: 'finding', finding });

  constructor(config: Partial<CorrelationConfig> = {}) {
    this.config = correlationConfig(config);
    this.tracker = new ReauthTracker(this.config);
    this.windowUs = this.config.netWindowMs * 1000;
  }

  push(item: OrderedItem<R> | DeadLetter<R>, emit: Emit<CorrelatedItem<R>>): void {
    this.out = emit;
    if (item.type === 'dead-letter') {
      emit(item);
      return;
    }
    if (item.type === 'watermark') {
      const h = this.hosts.get(item.host);
      if (!h) return;
      if (item.timeUs > h.clockUs) h.clockUs = item.timeUs;
      this.advance(h, emit);
      return;
    }
    const e = item.event;
    let h = this.hosts.get(e.host);
    if (!h) {
      h = { host: e.host, clockUs: 0, sentSlot: 0, track: this.tracker.host(e.host), held: this.barrier.host(e.host) };
      this.hosts.set(e.host, h);
    }
    if (item.duplicate) {
      this.stats.duplicates += 1;
      this.barrier.hold(h.held, h.clockUs, 0, item.ref);
      this.advance(h, emit);
      return;
    }
    this.stats.events += 1;
    if (item.late) this.stats.late += 1;
    else if (e.timeUs > h.clockUs) h.clockUs = e.timeUs;
    emit(item);
    let retainUs = this.tracker.apply(h.track, e, item.late, h.clockUs, this.onFinding);
    if (netKind(e.kind)) retainUs = Math.max(retainUs, netWindowRetentionUs(e.timeUs, this.config.netWindowMs));
    this.barrier.hold(h.held, e.timeUs, retainUs, item.ref);
    this.advance(h, emit);
  }

  flush(): void {}

  /** Hosts seen. */
  get hostCount(): number {
    return this.hosts.size;
  }

  private advance(h: HostSlot<R>, emit: Emit<CorrelatedItem<R>>): void {
    const slot = Math.floor(h.clockUs / this.windowUs);
    if (slot > h.sentSlot) {
      h.sentSlot = slot;
      emit({ type: 'clock', host: h.host, nowUs: h.clockUs });
    }
    this.tracker.advance(h.track, h.clockUs, this.onFinding);
    if (h.held.size === 0) return;
    const refs = this.barrier.release(h.held, h.clockUs, this.tracker.pinnedFromUs(h.track));
    if (refs) emit({ type: 'release', refs });
  }
}
