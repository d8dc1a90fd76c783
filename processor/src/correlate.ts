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
 *
 * Checkpoints (`checkpoints: true`, the Kafka processor; docs/processor.md "Scale-out"): a
 * second, *shadow* tracker follows the releases. Each released event is applied to it in
 * release order, on the event-time clock of the released events alone, so its state is the
 * state after exactly the released prefix of the host's stream: what the committed offsets
 * stand for. On request (`{ type: 'checkpoint' }`) it is emitted as a `checkpoint` (checkpoint.ts)
 * for every host with releases since its last one; `{ type: 'restore' }` installs one as the
 * host's state, and the re-read events at or before its frontier are then released without
 * being applied again.
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
import { atOrBefore, restoreTrack, trackState } from './checkpoint.js';
import type { EventPosition, HostCheckpoint } from './checkpoint.js';
import type { PathVerdict, RoamwatchEvent } from '@roamwatch/core';

export type CorrelatedItem<R> =
  | AppliedEvent<R>
  | { type: 'finding'; finding: Finding }
  | { type: 'clock'; host: string; nowUs: number }
  | DeadLetter<R>
  | { type: 'release'; refs: R[] }
  | { type: 'checkpoint'; checkpoint: HostCheckpoint; ref: R | undefined }
  /** A host restored from its checkpoint: its path verdicts, oldest first (the projection rebuilds which IKE_SA holds each roamwatch_path series). */
  | { type: 'restored'; host: string; verdicts: PathVerdict[] };

/** What correlate takes: ordered items, dead letters, and the edge's checkpoint requests and restores. */
export type CorrelateInput<R> = OrderedItem<R> | DeadLetter<R> | { type: 'checkpoint'; all?: boolean } | { type: 'restore'; checkpoint: HostCheckpoint };

/** An event the tracker applied (not a duplicate): the ordered item itself, passed on. */
export type AppliedEvent<R> = Extract<OrderedItem<R>, { type: 'event' }>;

export interface CorrelateStats {
  /** Events applied (not duplicates). */
  events: number;
  late: number;
  duplicates: number;
  /** Re-read events already in a restored checkpoint (released, not applied again). */
  restoredSkips: number;
}

/** Per host, with checkpoints: the shadow tracker's state, its clock, the newest event it applied (frontier). */
interface ShadowSlot<R> {
  track: HostTrack;
  clockUs: number;
  frontierUs: number;
  frontierSeq: number;
  dirty: boolean;
  lastRef: R | undefined;
  /** The release callback of this host (one closure per host, not one per release). */
  follow: (e: RoamwatchEvent, late: boolean) => void;
}

/** Per host: its event-time clock and its handles into the tracker and the barrier. */
interface HostSlot<R> {
  host: string;
  clockUs: number;
  /** The clock last passed on in a `clock` item, in whole `netWindowMs` slots. */
  sentSlot: number;
  track: HostTrack;
  held: HostHeld<R>;
  /** Checkpoints only: the shadow tracker's state of this host, its clock, and the newest event it applied. */
  shadow?: ShadowSlot<R>;
  /** Restored from a checkpoint: re-read events at or before this position are already in the state. */
  skipUpTo?: EventPosition;
}

export class CorrelateStage<R> implements Stage<CorrelateInput<R>, CorrelatedItem<R>> {
  readonly config: CorrelationConfig;
  readonly tracker: ReauthTracker;
  /** The tracker that follows the releases (checkpoints only). */
  readonly shadow: ReauthTracker | undefined;
  readonly barrier = new RetentionBarrier<R>();
  readonly stats: CorrelateStats = { events: 0, late: 0, duplicates: 0, restoredSkips: 0 };
  private readonly hosts = new Map<string, HostSlot<R>>();
  private readonly windowUs: number;
  private out: Emit<CorrelatedItem<R>> = () => {};
  private readonly onFinding = (finding: Finding) => this.out({ type: 'finding', finding });

  constructor(config: Partial<CorrelationConfig> = {}, { checkpoints = false }: { checkpoints?: boolean } = {}) {
    this.config = correlationConfig(config);
    this.tracker = new ReauthTracker(this.config);
    this.shadow = checkpoints ? new ReauthTracker(this.config) : undefined;
    this.windowUs = this.config.netWindowMs * 1000;
  }

  push(item: CorrelateInput<R>, emit: Emit<CorrelatedItem<R>>): void {
    this.out = emit;
    if (item.type === 'dead-letter') {
      emit(item);
      return;
    }
    if (item.type === 'checkpoint') {
      this.checkpoint(item.all === true, emit);
      return;
    }
    if (item.type === 'restore') {
      this.restore(item.checkpoint, emit);
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
    const h = this.slot(e.host);
    if (item.duplicate || (h.skipUpTo && atOrBefore(e, h.skipUpTo))) {
      if (!item.duplicate) this.stats.restoredSkips += 1;
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
    this.barrier.hold(h.held, e.timeUs, retainUs, item.ref, h.shadow ? e : undefined, item.late);
    this.advance(h, emit);
  }

  flush(): void {}

  private slot(host: string): HostSlot<R> {
    let h = this.hosts.get(host);
    if (!h) {
      h = { host, clockUs: 0, sentSlot: 0, track: this.tracker.host(host), held: this.barrier.host(host) };
      if (this.shadow) {
        const slot = h;
        h.shadow = { track: this.shadow.host(host), clockUs: 0, frontierUs: 0, frontierSeq: 0, dirty: false, lastRef: undefined, follow: (e, late) => this.follow(slot, e, late) };
      }
      this.hosts.set(host, h);
    }
    return h;
  }

  /** Released records, in release order, into the shadow tracker (its findings go nowhere: the main tracker emitted them). */
  private follow(h: HostSlot<R>, e: RoamwatchEvent, late: boolean): void {
    const sh = h.shadow!;
    if (!late && e.timeUs > sh.clockUs) sh.clockUs = e.timeUs;
    this.shadow!.apply(sh.track, e, late, sh.clockUs, discard);
    this.shadow!.advance(sh.track, sh.clockUs, discard);
    if (e.timeUs > sh.frontierUs || (e.timeUs === sh.frontierUs && e.seq > sh.frontierSeq)) {
      sh.frontierUs = e.timeUs;
      sh.frontierSeq = e.seq;
    }
    sh.dirty = true;
  }

  private checkpoint(all: boolean, emit: Emit<CorrelatedItem<R>>): void {
    if (!this.shadow) return;
    for (const h of this.hosts.values()) {
      const sh = h.shadow!;
      if (!sh.dirty && !(all && sh.lastRef !== undefined)) continue;
      sh.dirty = false;
      emit({ type: 'checkpoint', checkpoint: { v: 1, host: h.host, clockUs: h.clockUs, frontier: { timeUs: sh.frontierUs, seq: sh.frontierSeq }, state: trackState(sh.track) }, ref: sh.lastRef });
    }
  }

  /**
   * The host's state from its checkpoint, before any of its records is re-read: the tracker and
   * the shadow get (separate copies of) the checkpoint's state; the host's clock starts at the
   * checkpoint's frontier (the tracker's deadlines run on from there as the re-read events come),
   * and the projection learns the clock its count windows were written with (a `clock` item), so
   * that a window already written is not written again with only the re-read part of it, and
   * the host's path verdicts (a `restored` item), so that an IKE_SA going down after the move
   * still ends the roamwatch_path series it holds (`verdict=gone`).
   */
  private restore(cp: HostCheckpoint, emit: Emit<CorrelatedItem<R>>): void {
    const h = this.slot(cp.host);
    h.track = this.tracker.adopt(restoreTrack(cp.host, cp.state));
    h.clockUs = Math.max(h.clockUs, cp.frontier.timeUs);
    h.sentSlot = Math.floor(cp.clockUs / this.windowUs);
    h.skipUpTo = { ...cp.frontier };
    if (this.shadow && h.shadow) {
      h.shadow.track = this.shadow.adopt(restoreTrack(cp.host, cp.state));
      h.shadow.clockUs = cp.frontier.timeUs;
      h.shadow.frontierUs = cp.frontier.timeUs;
      h.shadow.frontierSeq = cp.frontier.seq;
    }
    emit({ type: 'clock', host: cp.host, nowUs: cp.clockUs });
    emit({ type: 'restored', host: cp.host, verdicts: [...h.track.verdicts.values()] });
  }

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
    const refs = this.barrier.release(h.held, h.clockUs, this.tracker.pinnedFromUs(h.track), h.shadow?.follow);
    if (!refs) return;
    if (h.shadow) h.shadow.lastRef = refs[refs.length - 1];
    emit({ type: 'release', refs });
  }
}

const discard = (): void => {};
