/**
 * Event time. Every envelope carries `timeUs`: microseconds since the Unix epoch on the
 * agent's CLOCK_REALTIME, taken when the agent read the fact (the netlink datagram or
 * the VICI event came off its socket), not when it was sent or processed.
 *
 * Node offers wall-clock time only in milliseconds (Date.now()); the microseconds come
 * from the monotonic clock (performance.now()) anchored to the wall clock. The anchor
 * is renewed whenever the two drift apart by more than `maxDriftUs` (an NTP step, a
 * suspended VM), and the returned times never go backwards within one process, so one
 * agent's events are ordered by time as they are by sequence number.
 */
import { performance } from 'node:perf_hooks';

export interface EventClock {
  /** Microseconds since the Unix epoch, never smaller than the previous reading. */
  nowUs(): number;
}

export function createRealtimeClock({ maxDriftUs = 1000 }: { maxDriftUs?: number } = {}): EventClock {
  let anchorWallUs = Date.now() * 1000;
  let anchorMonoUs = performance.now() * 1000;
  let last = 0;
  return {
    nowUs(): number {
      const mono = performance.now() * 1000;
      let t = anchorWallUs + (mono - anchorMonoUs);
      const wall = Date.now() * 1000;
      // Date.now() truncates to the millisecond: the true wall time is in [wall, wall+1000).
      if (t < wall - maxDriftUs || t > wall + 1000 + maxDriftUs) {
        anchorWallUs = wall;
        anchorMonoUs = mono;
        t = wall;
      }
      let us = Math.floor(t);
      if (us <= last) us = last + 1;
      last = us;
      return us;
    },
  };
}

/** A clock for tests and replays: returns the times it is given, in order. */
export function createManualClock(startUs: number): EventClock & { advanceUs(us: number): void; setUs(us: number): void } {
  let now = startUs;
  return {
    nowUs: () => now,
    advanceUs: (us: number) => {
      now += us;
    },
    setUs: (us: number) => {
      now = us;
    },
  };
}

/** ISO-8601 with microseconds, e.g. 2026-11-27T15:50:38.123456Z. */
export function formatUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // ...SS.mmmZ
  const micro = String(Math.floor(us % 1000)).padStart(3, '0');
  return iso.slice(0, -1) + micro + 'Z';
}
