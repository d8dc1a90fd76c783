/**
 * decode: bytes → validated envelopes, or dead letters naming why.
 *
 * Kafka values and JSON lines go through `decodeEvent` (JSON parse + the contract from
 * @roamwatch/core: the compiled checker, zod for the message of a bad one). Envelopes handed over already as objects (the in-process agent of
 * `roamwatch watch`, made by createEventFactory, which validates every payload) are trusted.
 *
 * A dead letter keeps the whole original record (no cut): it can be reprocessed once the
 * reason is fixed (a newer processor, a corrected clock). Its Kafka coordinates travel in the
 * dead letter's headers too (edges/processor.ts).
 *
 * Batch records (a Kafka record of many events of one host, NDJSON, docs/events.md "Records";
 * the edge says so with `batchEvents`, read from the record's headers): each line is decoded as
 * a record of its own, and shares the record's ref through a BatchPart, so that the record is
 * released only once every one of its events is (release-join.ts). A bad event inside a batch
 * is a dead letter of its own (its line, raw, with `batchIndex`); the others go on. A batch whose
 * framing is broken (fewer or more lines than its header announces, a line that is not JSON)
 * is one dead letter of the whole record: nothing of it is trusted, nothing is lost.
 *
 * Clock skew: when the edge knows the record's timestamp (Kafka: CreateTime, the producer's
 * clock at send time, or LogAppendTime, the broker's), an event stamped more than
 * `maxFutureSkewMs` after it is a dead letter with code `clock-skew`. Event time only moves
 * forward per host (order.ts), so one event a year ahead would make every later event of its
 * host "late" for a year; dead-lettering it keeps the host's time sane and loses nothing.
 */
import { BatchFramingError, decodeEvent, EventValidationError, errorMessage, splitBatch, validateEvent } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { DeadLetter } from './types.js';

export type Decoded<R> = { ok: true; event: RoamwatchEvent; ref: R | undefined } | (DeadLetter<R> & { ok: false });

export interface DecodeOptions {
  /** The record's timestamp (ms since the epoch), when the edge knows it. */
  recordTimeMs?: number;
  /** How far the event time may be ahead of recordTimeMs (ms). Default: no bound. */
  maxFutureSkewMs?: number;
}

/**
 * One event's share of a batch record: every event of the record carries the same BatchPart
 * as its ref; the record's own ref is released when `pending` reaches 0 (release-join.ts).
 */
export class BatchPart<R> {
  constructor(
    readonly ref: R,
    public pending: number,
  ) {}
}

function deadLetter<R>(err: unknown, raw: string | Buffer, ref: R | undefined): DeadLetter<R> & { ok: false } {
  let code = 'invalid-event';
  if (err instanceof EventValidationError) {
    const first = err.issues[0];
    if (first?.path === '(root)' && first.message.startsWith('not JSON')) code = 'not-json';
    else if (first?.path === 'v') code = 'unsupported-version';
    else if (first?.path === 'kind') code = 'unknown-kind';
  } else if (err instanceof BatchFramingError) {
    code = err.reason;
  } else {
    code = 'decode-error';
  }
  const dl: DeadLetter<R> & { ok: false } = { ok: false, type: 'dead-letter', code, reason: errorMessage(err), raw };
  if (ref !== undefined) dl.ref = ref;
  return dl;
}

/** The clock-skew verdict (see the header): a reason when `event` is too far ahead of its record. */
function skewReason(event: RoamwatchEvent, { recordTimeMs, maxFutureSkewMs }: DecodeOptions): string | undefined {
  if (recordTimeMs === undefined || maxFutureSkewMs === undefined || !Number.isFinite(recordTimeMs) || recordTimeMs <= 0) return undefined;
  const aheadMs = event.timeUs / 1000 - recordTimeMs;
  if (aheadMs <= maxFutureSkewMs) return undefined;
  return (
    `event time ${new Date(event.timeUs / 1000).toISOString()} is ${Math.round(aheadMs / 1000)} s ahead of its record's timestamp ` +
    `${new Date(recordTimeMs).toISOString()} (bound maxFutureSkewMs = ${maxFutureSkewMs}): the host's clock jumped?`
  );
}

export function decodeRecord<R>(value: string | Buffer | RoamwatchEvent, ref: R | undefined, opts: DecodeOptions = {}): Decoded<R> {
  if (typeof value === 'object' && !Buffer.isBuffer(value)) return { ok: true, event: value, ref };
  let event: RoamwatchEvent;
  try {
    event = decodeEvent(value);
  } catch (err) {
    return deadLetter(err, value, ref);
  }
  const skew = skewReason(event, opts);
  if (skew !== undefined) {
    const dl: DeadLetter<R> & { ok: false } = { ok: false, type: 'dead-letter', code: 'clock-skew', reason: skew, raw: value };
    if (ref !== undefined) dl.ref = ref;
    return dl;
  }
  return { ok: true, event, ref };
}

/**
 * Decodes a batch record of `expected` events (its header's count): either one dead letter of
 * the whole record (framing broken), or one Decoded per line, in order, each carrying a shared
 * BatchPart of `ref` (no ref: none) and, when it is a dead letter, its `batchIndex`.
 */
export function decodeBatchRecord<R>(value: string | Buffer, ref: R | undefined, expected: number, opts: DecodeOptions = {}): Decoded<R | BatchPart<R>>[] {
  let lines: string[];
  const values: unknown[] = [];
  try {
    lines = splitBatch(value, expected);
    for (let i = 0; i < lines.length; i++) {
      try {
        values.push(JSON.parse(lines[i]!));
      } catch (err) {
        throw new BatchFramingError(`batch record line ${i + 1} of ${lines.length} is not JSON (${(err as Error).message}): the record is garbled`, 'garbled-batch');
      }
    }
  } catch (err) {
    const whole: Decoded<R | BatchPart<R>> = deadLetter(err, value, ref);
    if (Number.isInteger(expected) && expected > 0) whole.batchEvents = expected;
    return [whole];
  }
  const part = ref === undefined ? undefined : new BatchPart(ref, lines.length);
  const out: Decoded<R | BatchPart<R>>[] = [];
  for (let i = 0; i < values.length; i++) {
    let event: RoamwatchEvent;
    try {
      event = validateEvent(values[i]);
    } catch (err) {
      out.push({ ...deadLetter(err, lines[i]!, part), batchIndex: i });
      continue;
    }
    const skew = skewReason(event, opts);
    if (skew !== undefined) {
      const dl: DeadLetter<R | BatchPart<R>> & { ok: false } = { ok: false, type: 'dead-letter', code: 'clock-skew', reason: skew, raw: lines[i]!, batchIndex: i };
      if (part) dl.ref = part;
      out.push(dl);
      continue;
    }
    out.push({ ok: true, event, ref: part });
  }
  return out;
}
