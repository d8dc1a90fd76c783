/**
 * Stamping payloads into envelopes: id, host, sequence number and event time.
 */
import { EVENT_KINDS, EVENT_VERSION } from './envelope.js';
import type { EventKind, EventOf, PayloadOf } from './envelope.js';
import { uuidv7 } from './ids.js';
import type { EventClock } from './clock.js';
import { createRealtimeClock } from './clock.js';
import { validatePayload } from './validate.js';

export interface EventFactoryOptions {
  host: string;
  /** The last sequence number already used by this host (persisted by the agent); 0 for a new host. */
  lastSeq?: number;
  clock?: EventClock;
  /**
   * Validate each payload against its schema before stamping (default true). A valid payload
   * without unknown keys is taken as it is, not copied (compiled validation, fast-check.ts): the
   * caller hands over a payload it does not change afterwards.
   */
  validate?: boolean;
}

export interface EventFactory {
  /** Stamps a payload into a new envelope with the next sequence number. */
  make<K extends EventKind>(kind: K, payload: PayloadOf<K>, opts?: { timeUs?: number }): EventOf<K>;
  /** The last sequence number handed out. */
  readonly lastSeq: number;
}

export function createEventFactory({ host, lastSeq = 0, clock = createRealtimeClock(), validate = true }: EventFactoryOptions): EventFactory {
  let seq = lastSeq;
  return {
    make<K extends EventKind>(kind: K, payload: PayloadOf<K>, opts?: { timeUs?: number }): EventOf<K> {
      const checked = validate ? validatePayload(kind, payload) : payload;
      const timeUs = opts?.timeUs ?? clock.nowUs();
      seq += 1;
      return {
        v: EVENT_VERSION,
        id: uuidv7(Math.floor(timeUs / 1000)),
        host,
        seq,
        timeUs,
        source: EVENT_KINDS[kind].source,
        kind,
        payload: checked,
      } as EventOf<K>;
    },
    get lastSeq() {
      return seq;
    },
  };
}
