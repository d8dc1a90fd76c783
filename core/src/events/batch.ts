/**
 * Batch records: one Kafka record that carries many consecutive events of one host
 * (docs/events.md, "Records").
 *
 * - value: NDJSON, the compact JSON of each envelope (encodeEvent) on its own line, in sequence
 *   order, lines separated by `\n` (no trailing newline). `kcat -C … -e | jq -c .` prints a
 *   batch record as its events, exactly like single-event records, because jq reads a stream
 *   of JSON values; a dump of a topic is therefore a JSON-lines file `roamwatch replay` reads.
 *   Why not a JSON array or `{ "events": [...] }`: each event stays byte for byte what a
 *   single-event record carries (one bad event is dead-lettered as its own line, raw), no
 *   `jq '.events[]'` is needed, and a reader parses lines it can split without parsing twice.
 * - headers: `content-type: application/x-ndjson` tells a batch from today's single-event
 *   record (a record without it is one envelope, as before: replaying old topics works), and
 *   `roamwatch-events: N` says how many lines it holds, so that a cut value is noticed even
 *   when it is cut at a line boundary.
 * - key: the host id, as for single events; the agent's idempotent producer is kept.
 */
import { RoamwatchError } from '../errors.js';
import type { RoamwatchEvent } from './envelope.js';
import { decodeEvent } from './validate.js';

export const RECORD_CONTENT_TYPE_HEADER = 'content-type';
export const RECORD_EVENTS_HEADER = 'roamwatch-events';
export const BATCH_CONTENT_TYPE = 'application/x-ndjson';

/** A batch record whose framing is broken: the whole record is a dead letter. */
export class BatchFramingError extends RoamwatchError {
  constructor(
    message: string,
    /** `truncated-batch` (fewer or more lines than announced), `garbled-batch` (a line that is not JSON, a bad header). */
    readonly reason: 'truncated-batch' | 'garbled-batch',
  ) {
    super(message, { code: 'BATCH_FRAMING', retriable: false });
    this.name = 'BatchFramingError';
  }
}

/** The value of a batch record of these encoded envelopes. */
export function encodeBatchValue(lines: readonly string[]): string {
  return lines.join('\n');
}

/** The headers of a batch record of `count` events. */
export function batchHeaders(count: number): Record<string, string> {
  return { [RECORD_CONTENT_TYPE_HEADER]: BATCH_CONTENT_TYPE, [RECORD_EVENTS_HEADER]: String(count) };
}

type HeaderValue = Buffer | string | (Buffer | string | undefined)[] | undefined;

function headerText(v: HeaderValue): string | undefined {
  const one = Array.isArray(v) ? v[v.length - 1] : v;
  if (one === undefined) return undefined;
  return typeof one === 'string' ? one : one.toString('utf8');
}

/**
 * What a record's headers say about its value: undefined for a single-event record, else the
 * number of events the batch announces (NaN when the count header is missing or not a count:
 * the record is then a garbled batch).
 */
export function batchEventsOf(headers: Record<string, HeaderValue> | undefined): number | undefined {
  if (!headers) return undefined;
  const ct = headerText(headers[RECORD_CONTENT_TYPE_HEADER]);
  if (ct === undefined || ct.trim().toLowerCase() !== BATCH_CONTENT_TYPE) return undefined;
  const n = headerText(headers[RECORD_EVENTS_HEADER]);
  return n !== undefined && /^[1-9]\d{0,8}$/.test(n.trim()) ? Number(n.trim()) : Number.NaN;
}

/**
 * The lines of a batch record's value, checked against the announced count. One trailing
 * newline is tolerated. Throws BatchFramingError when the count does not match.
 */
export function splitBatch(value: string | Buffer, expected: number): string[] {
  if (!Number.isInteger(expected) || expected < 1) {
    throw new BatchFramingError(`batch record without a valid ${RECORD_EVENTS_HEADER} header (the count of its events)`, 'garbled-batch');
  }
  const text = typeof value === 'string' ? value : value.toString('utf8');
  const lines: string[] = [];
  let start = 0;
  const end = text.endsWith('\n') ? text.length - 1 : text.length;
  while (start <= end) {
    let nl = text.indexOf('\n', start);
    if (nl === -1 || nl > end) nl = end;
    lines.push(text.slice(start, nl));
    start = nl + 1;
    if (lines.length > expected) break;
  }
  if (lines.length !== expected) {
    throw new BatchFramingError(
      `batch record holds ${lines.length > expected ? 'more than' : 'only'} ${lines.length > expected ? expected : lines.length} line(s), its ${RECORD_EVENTS_HEADER} header announces ${expected}: cut or garbled in transit`,
      'truncated-batch',
    );
  }
  return lines;
}

/**
 * Every event of one Kafka record, single-event or batch (told apart by its headers), strictly:
 * any bad event or broken framing throws (EventValidationError, BatchFramingError). For readers
 * that want all or nothing (tests, tools); the processor dead-letters per event instead.
 */
export function decodeRecordEvents(value: string | Buffer, headers?: Record<string, HeaderValue>): RoamwatchEvent[] {
  const count = batchEventsOf(headers);
  if (count === undefined) return [decodeEvent(value)];
  return splitBatch(value, count).map((line) => decodeEvent(line));
}
