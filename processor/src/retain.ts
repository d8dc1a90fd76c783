/**
 * retain: the offset retention barrier. Every record that reaches correlation is held here
 * until nothing in the pipeline's state depends on it any more, then handed back in a
 * `release` (the Kafka edge commits its offset once the outputs before the release are
 * acknowledged: docs/processor.md "Commits and state").
 *
 * A record of a host is released when both hold:
 * - the host's event-time clock passed the record's own retention (how long the tracker or
 *   the projection may still read it: a log line while it may explain a reauth, a routing
 *   event while it may be a trigger or its count window is open);
 * - it is older than the host's pin: the start of the attribution window of the oldest
 *   reauth still open (ReauthTracker.pinnedFromUs). A restart re-reading from a later offset
 *   would miss the triggers of that reauth.
 *
 * Records are released per host in arrival order (the order their offsets were consumed): the
 * barrier's low watermark is the first record still held, everything that arrived before it
 * is released. Pure and synchronous: no clock, no I/O.
 */
import type { RoamwatchEvent } from '@roamwatch/core';

interface Held<R> {
  tUs: number;
  releaseAtUs: number;
  ref: R;
  /** The applied event, kept only when a shadow tracker follows the releases (correlate.ts, checkpoints). */
  event?: RoamwatchEvent;
  late?: boolean;
}

/** One host's held records, in arrival order; opaque outside the barrier (RetentionBarrier.host). */
export class HostHeld<R> {
  held: Held<R>[] = [];
  head = 0;

  get size(): number {
    return this.held.length - this.head;
  }
}

export class RetentionBarrier<R> {
  private readonly hosts = new Map<string, HostHeld<R>>();

  /** The records of `host` (created on first use): the handle `hold` and `release` take. */
  host(host: string): HostHeld<R> {
    let h = this.hosts.get(host);
    if (!h) {
      h = new HostHeld<R>();
      this.hosts.set(host, h);
    }
    return h;
  }

  /** Holds `ref` (a record of host `h` with event time `tUs`) until the host's clock reaches `tUs + retainUs`. No ref (replays of plain files): nothing to hold. */
  hold(h: HostHeld<R>, tUs: number, retainUs: number, ref: R | undefined, event?: RoamwatchEvent, late?: boolean): void {
    if (ref === undefined) return;
    // one object shape whether or not the event is kept (the release loop stays monomorphic)
    h.held.push({ tUs, releaseAtUs: tUs + retainUs, ref, event, late });
  }

  /**
   * Host `h`'s clock is `nowUs` and its records from `pinnedFromUs` on are still needed: returns
   * the refs that may go (in arrival order), or undefined. `onEvent` sees the events kept with
   * them, in the same order.
   */
  release(h: HostHeld<R>, nowUs: number, pinnedFromUs: number, onEvent?: (event: RoamwatchEvent, late: boolean) => void): R[] | undefined {
    if (h.held.length <= h.head) return undefined;
    let refs: R[] | undefined;
    while (h.head < h.held.length) {
      const x = h.held[h.head]!;
      if (x.releaseAtUs > nowUs || x.tUs >= pinnedFromUs) break;
      (refs ??= []).push(x.ref);
      if (x.event && onEvent) onEvent(x.event, x.late === true);
      h.head += 1;
    }
    if (h.head === h.held.length) {
      h.held = [];
      h.head = 0;
    } else if (h.head > 1024 && h.head * 2 > h.held.length) {
      h.held = h.held.slice(h.head);
      h.head = 0;
    }
    return refs;
  }

  /** Records held (not yet released) over all hosts, or of one host. */
  heldCount(host?: string): number {
    if (host !== undefined) {
      return this.hosts.get(host)?.size ?? 0;
    }
    let n = 0;
    for (const h of this.hosts.values()) n += h.size;
    return n;
  }

  /**
   * The low watermark: the event time (µs) of the first record (in arrival order) still held,
   * of one host, or the smallest over all hosts; undefined when nothing is held. Every record
   * of that host that arrived before it has been released.
   */
  lowWatermarkUs(host?: string): number | undefined {
    const oldest = (h: HostHeld<R>) => (h.head < h.held.length ? h.held[h.head]!.tUs : undefined);
    if (host !== undefined) {
      const h = this.hosts.get(host);
      return h ? oldest(h) : undefined;
    }
    let low: number | undefined;
    for (const h of this.hosts.values()) {
      const t = oldest(h);
      if (t !== undefined && (low === undefined || t < low)) low = t;
    }
    return low;
  }
}
