/**
 * order: per-host event-time ordering with watermarks and bounded lateness.
 *
 * Each host's events are buffered and released in (timeUs, seq) order once the host's
 * watermark has passed them: watermark = newest event time seen from that host −
 * `allowedLatenessMs`. Hosts are independent: a host flushing its spool hours late is not
 * late at all, because only its own clock counts.
 *
 * - An event older than what was already released for its host is *late*: it is passed on
 *   at once, marked `late` (see docs/processor.md "Late events").
 * - A re-sent event (same id as one seen recently from that host) is a duplicate: it is
 *   passed on marked `duplicate` (so its Kafka offset is still released) and not processed.
 * - Ticks (processing time from the edge) let a silent host's time run on: its effective
 *   time is its newest event time plus the processing time since the first tick after that
 *   event arrived (conservative by up to one tick interval).
 * - Order at the source: a host whose agent declares `streamOrder: 'time'` (on agent.started and
 *   agent.status: its seq order is its event-time order, and Kafka keeps one host's records in
 *   order) needs no waiting: from that declaration on, each of its events is released as it
 *   arrives (what was buffered before is released with it). An agent.started without the
 *   declaration (an older agent after a downgrade) puts the host back on the fixed lateness.
 *   Ticks still advance a silent ordered host's watermark with the allowed lateness, because an
 *   event may still be on its way (agent linger, Kafka).
 * - `flush()` (end of a replay) releases everything and closes every host.
 * - Bounded: a host holds at most `maxBufferedPerHost` events; beyond, its oldest are released
 *   early (in order, counted in `forcedReleases`). A flood costs some late events, never
 *   unbounded memory.
 */
import type { RoamwatchEvent } from '@roamwatch/core';

export type OrderedItem<R> =
  | { type: 'event'; event: RoamwatchEvent; ref: R | undefined; late: boolean; duplicate: boolean }
  | { type: 'watermark'; host: string; timeUs: number };

interface Buffered<R> {
  event: RoamwatchEvent;
  ref: R | undefined;
}

class HostBuffer<R> {
  buf: Buffered<R>[] = [];
  head = 0;
  maxTimeUs = 0;
  releasedUs = 0;
  watermarkUs = 0;
  /** Processing time (the first tick after maxTimeUs last advanced): the host's time runs on from there. */
  arrivalTickUs = 0;
  /** maxTimeUs advanced since the last tick. */
  arrivedSinceTick = true;
  /** The host's agent declared its stream ordered by event time (streamOrder 'time'). */
  ordered = false;
  /** Highest seq taken from this host (ordered hosts: a lower one is a re-sent event). */
  maxSeq = 0;
  ids = new Set<string>();
  /** Ring of the last ids, oldest at idPos once full. */
  idRing: string[] = [];
  idPos = 0;
}

export const END_OF_TIME_US = Number.MAX_SAFE_INTEGER;

export class EventTimeOrderer<R> {
  private readonly hosts = new Map<string, HostBuffer<R>>();
  private readonly latenessUs: number;
  private readonly dedupeIds: number;
  private readonly maxBuffered: number;
  private lastTickUs = 0;
  /** Counters for the processor's self-report. */
  readonly stats = { late: 0, duplicates: 0, buffered: 0, maxTimeUs: 0, forcedReleases: 0, orderedHosts: 0 };

  constructor({ allowedLatenessMs, dedupeIds, maxBufferedPerHost = Infinity }: { allowedLatenessMs: number; dedupeIds: number; maxBufferedPerHost?: number }) {
    this.latenessUs = Math.round(allowedLatenessMs * 1000);
    this.dedupeIds = dedupeIds;
    this.maxBuffered = maxBufferedPerHost;
  }

  get hostCount(): number {
    return this.hosts.size;
  }

  push(event: RoamwatchEvent, ref: R | undefined, emit: (item: OrderedItem<R>) => void): void {
    let h = this.hosts.get(event.host);
    if (!h) {
      h = new HostBuffer<R>();
      this.hosts.set(event.host, h);
    }
    // A host ordered at the source sends its seqs in increasing order; one at or below the highest
    // taken is an event re-sent from the agent's spool after a crash (however many: the id ring
    // remembers only the last dedupeIds). agent.started with a lower seq starts a new numbering
    // (a fresh spool), so it resets the count instead.
    const resent = h.ordered && event.seq <= h.maxSeq && event.kind !== 'agent.started';
    if (resent || h.ids.has(event.id)) {
      this.stats.duplicates += 1;
      emit({ type: 'event', event, ref, late: false, duplicate: true });
      return;
    }
    this.remember(h, event.id);
    h.maxSeq = event.kind === 'agent.started' && event.seq <= h.maxSeq ? event.seq : Math.max(h.maxSeq, event.seq);
    if (event.timeUs < h.releasedUs) {
      // Behind what was already released for this host: too late to put in order.
      this.stats.late += 1;
      emit({ type: 'event', event, ref, late: true, duplicate: false });
      return;
    }
    this.insert(h, { event, ref });
    this.stats.buffered += 1;
    if (event.timeUs > this.stats.maxTimeUs) this.stats.maxTimeUs = event.timeUs;
    if (event.timeUs > h.maxTimeUs) {
      h.maxTimeUs = event.timeUs;
      h.arrivedSinceTick = true;
    }
    if (event.kind === 'agent.started' || event.kind === 'agent.status') {
      const ordered = event.payload.streamOrder === 'time';
      // agent.status never downgrades (an old agent sends agent.started first after a downgrade).
      if (ordered !== h.ordered && (ordered || event.kind === 'agent.started')) {
        h.ordered = ordered;
        this.stats.orderedHosts += ordered ? 1 : -1;
      }
    }
    this.release(h, h.ordered ? h.maxTimeUs : h.maxTimeUs - this.latenessUs, emit, false);
    const over = h.buf.length - h.head - this.maxBuffered;
    if (over > 0) {
      // Too many waiting: release the oldest now, as if the watermark had passed them.
      const before = this.stats.buffered;
      this.release(h, h.buf[h.head + over - 1]!.event.timeUs, emit, false);
      this.stats.forcedReleases += before - this.stats.buffered;
    }
  }

  /** Processing time moved on: silent hosts' time moves with it. */
  tick(nowUs: number, emit: (item: OrderedItem<R>) => void, restart = false): void {
    if (restart) {
      // We, not the hosts, were silent (paused consumer): their silence counts from the next tick.
      for (const h of this.hosts.values()) h.arrivedSinceTick = true;
      this.lastTickUs = Math.max(this.lastTickUs, nowUs);
      return;
    }
    if (nowUs <= this.lastTickUs) return;
    this.lastTickUs = nowUs;
    for (const [host, h] of this.hosts) {
      if (h.maxTimeUs === 0) continue;
      if (h.arrivedSinceTick) {
        // Conservative: count the host's silence from this tick on, not from the previous one.
        h.arrivedSinceTick = false;
        h.arrivalTickUs = nowUs;
        continue;
      }
      const effective = h.maxTimeUs + Math.max(0, nowUs - h.arrivalTickUs);
      const wm = effective - this.latenessUs;
      if (wm > h.watermarkUs) {
        this.release(h, wm, emit, true);
        emit({ type: 'watermark', host, timeUs: h.watermarkUs });
      }
    }
  }

  /** End of input: release everything, in order, and close every host. */
  flush(emit: (item: OrderedItem<R>) => void): void {
    for (const [host, h] of this.hosts) {
      this.release(h, END_OF_TIME_US, emit, true);
      emit({ type: 'watermark', host, timeUs: END_OF_TIME_US });
    }
  }

  private remember(h: HostBuffer<R>, id: string): void {
    h.ids.add(id);
    if (h.idRing.length < this.dedupeIds) {
      h.idRing.push(id);
      return;
    }
    h.ids.delete(h.idRing[h.idPos]!);
    h.idRing[h.idPos] = id;
    h.idPos = (h.idPos + 1) % this.dedupeIds;
  }

  private insert(h: HostBuffer<R>, b: Buffered<R>): void {
    const buf = h.buf;
    let i = buf.length;
    // Mostly in order already: walk back from the end.
    while (i > h.head && before(b.event, buf[i - 1]!.event)) i -= 1;
    if (i === buf.length) buf.push(b);
    else buf.splice(i, 0, b);
  }

  private release(h: HostBuffer<R>, watermarkUs: number, emit: (item: OrderedItem<R>) => void, force: boolean): void {
    if (watermarkUs > h.watermarkUs || force) h.watermarkUs = Math.max(h.watermarkUs, watermarkUs);
    const buf = h.buf;
    while (h.head < buf.length && buf[h.head]!.event.timeUs <= h.watermarkUs) {
      const b = buf[h.head]!;
      buf[h.head] = undefined as unknown as Buffered<R>;
      h.head += 1;
      this.stats.buffered -= 1;
      if (b.event.timeUs > h.releasedUs) h.releasedUs = b.event.timeUs;
      emit({ type: 'event', event: b.event, ref: b.ref, late: false, duplicate: false });
    }
    if (h.head === buf.length) {
      h.buf = [];
      h.head = 0;
    } else if (h.head > 1024 && h.head * 2 > buf.length) {
      h.buf = buf.slice(h.head);
      h.head = 0;
    }
  }
}

function before(a: RoamwatchEvent, b: RoamwatchEvent): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
