/**
 * decode: bytes → validated envelopes, or dead letters naming why.
 *
 * Kafka values and JSON lines go through `decodeEvent` (JSON parse + the zod contract from
 * @roamwatch/core). Envelopes handed over already as objects (the in-process agent of
 * `roamwatch watch`, made by createEventFactory, which validates every payload) are trusted.
 */
import { decodeEvent, EventValidationError, errorMessage } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import type { DeadLetter } from './types.js';

export type Decoded<R> = { ok: true; event: RoamwatchEvent; ref: R | undefined } | (DeadLetter<R> & { ok: false });

const RAW_LIMIT = 64 * 1024;

export function decodeRecord<R>(value: string | Buffer | RoamwatchEvent, ref: R | undefined): Decoded<R> {
  if (typeof value === 'object' && !Buffer.isBuffer(value)) return { ok: true, event: value, ref };
  try {
    return { ok: true, event: decodeEvent(value), ref };
  } catch (err) {
    const text = typeof value === 'string' ? value : value.toString('utf8');
    const raw = text.length > RAW_LIMIT ? text.slice(0, RAW_LIMIT) : text;
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
}
