/**
 * decode: bytes → validated envelopes, or dead letters naming why.
 *
 * Kafka values and JSON lines go through `decodeEvent` (JSON parse + the zod contract from
 * @roamwatch/core). Envelopes handed over already as objects (the in-process agent of
 * `roamwatch watch`, made by createEventFactory, which validates every payload) are trusted.
 *
 * A dead letter keeps the whole original record (no cut): it can be reprocessed once the
 * reason is fixed (a newer processor, a corrected clock). Its Kafka coordinates travel in the
 * dead letter's headers too (edges/processor.ts).
 *
 * Clock skew: when the edge knows the record's timestamp (Kafka: CreateTime, the producer's
 * clock at send time, or LogAppendTime, the broker's), an event stamped more than
 * `maxFutureSkewMs` after it is a dead letter with code `clock-skew`. Event time only moves
 * forward per host (order.ts), so one event a year ahead would make every later event of its
 * host "late" for a year; dead-lettering it keeps the host's time sane and loses nothing.
 */
import { decodeEvent, EventValidationError, errorMessage } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { DeadLetter } from './types.js';

export type Decoded<R> = { ok: true; event: RoamwatchEvent; ref: R | undefined } | (DeadLetter<R> & { ok: false });

export interface DecodeOptions {
  /** The record's timestamp (ms since the epoch), when the edge knows it. */
  recordTimeMs?: number;
  /** How far the event time may be ahead of recordTimeMs (ms). Default: no bound. */
  maxFutureSkewMs?: number;
}

export function decodeRecord<R>(value: string | Buffer | RoamwatchEvent, ref: R | undefined, opts: DecodeOptions = {}): Decoded<R> {
  if (typeof value === 'object' && !Buffer.isBuffer(value)) return { ok: true, event: value, ref };
  let event: RoamwatchEvent;
  try {
    event = decodeEvent(value);
  } catch (err) {
    const raw = value;
    let code = 'invalid-event';
    if (err instanceof EventValidationError) {
      const first = err.issues[0];
      if (first?.path === '(root)' && first.message.startsWith('not JSON')) code = 'not-json';
      else if (first?.path === 'v') code = 'unsupported-version';
      else if (first?.path === 'kind') code = 'unknown-kind';
    } else {
      code = 'decode-error';
    }
    const dl: DeadLetter<R> & { ok: false } = { ok: false, type: 'dead-letter', code, reason: errorMessage(err), raw };
    if (ref !== undefined) dl.ref = ref;
    return dl;
  }
  const { recordTimeMs, maxFutureSkewMs } = opts;
  if (recordTimeMs !== undefined && maxFutureSkewMs !== undefined && Number.isFinite(recordTimeMs) && recordTimeMs > 0) {
    const aheadMs = event.timeUs / 1000 - recordTimeMs;
    if (aheadMs > maxFutureSkewMs) {
      const reason =
        `event time ${new Date(event.timeUs / 1000).toISOString()} is ${Math.round(aheadMs / 1000)} s ahead of its record's timestamp ` +
        `${new Date(recordTimeMs).toISOString()} (bound maxFutureSkewMs = ${maxFutureSkewMs}): the host's clock jumped?`;
      const dl: DeadLetter<R> & { ok: false } = { ok: false, type: 'dead-letter', code: 'clock-skew', reason, raw: value };
      if (ref !== undefined) dl.ref = ref;
      return dl;
    }
  }
  return { ok: true, event, ref };
}
