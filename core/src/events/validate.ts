/**
 * Decoding and validation of envelopes, with errors that name the offending field.
 *
 * Two paths, one schema: a value goes first through the checker compiled from the zod schema
 * (fast-check.ts), which says yes only when zod would accept it unchanged; everything else
 * (an unknown key to strip, any invalid value) goes through zod, which gives the result or the
 * precise error. The checkers are compiled on first use.
 */
import type { z } from 'zod';
import { EventEnvelope, EVENT_KINDS, EVENT_VERSION } from './envelope.js';
import type { EventKind, RoamwatchEvent, PayloadOf } from './envelope.js';
import { RoamwatchError } from '../errors.js';
import { compileFastCheck } from './fast-check.js';
import type { FastCheck } from './fast-check.js';

let envelopeCheck: FastCheck | undefined;
const payloadChecks = new Map<string, FastCheck>();

/** The compiled checker of the whole envelope (compiled on first use). */
export function envelopeFastCheck(): FastCheck {
  return (envelopeCheck ??= compileFastCheck(EventEnvelope));
}

function payloadFastCheck(kind: EventKind): FastCheck {
  let c = payloadChecks.get(kind);
  if (!c) {
    c = compileFastCheck(EVENT_KINDS[kind].payload);
    payloadChecks.set(kind, c);
  }
  return c;
}

export interface FieldIssue {
  /** Dotted path of the field, e.g. `payload.route.dst`; `(root)` for the whole value. */
  path: string;
  message: string;
}

/** An event that does not satisfy the contract. `issues` names every bad field. */
export class EventValidationError extends RoamwatchError {
  readonly issues: FieldIssue[];
  constructor(issues: FieldIssue[], context?: { kind?: string; id?: string }) {
    const head = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`).join('; ');
    const more = issues.length > 3 ? ` (+${issues.length - 3} more)` : '';
    const where = context?.kind ? ` (${context.kind}${context.id ? ` ${context.id}` : ''})` : '';
    super(`invalid event${where}: ${head}${more}`, { code: 'EVENT_INVALID', retriable: false });
    this.name = 'EventValidationError';
    this.issues = issues;
  }
}

function pathOf(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function toIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: pathOf(i.path), message: i.message }));
}

function describeKnownKind(value: unknown): { kind?: string; id?: string } {
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return {
      kind: typeof o.kind === 'string' ? o.kind : undefined,
      id: typeof o.id === 'string' ? o.id : undefined,
    };
  }
  return {};
}

/**
 * Validates an already-parsed value as an envelope. Unknown keys are stripped (forward
 * compatibility, see docs/events.md). Throws EventValidationError naming each bad field.
 */
export function validateEvent(value: unknown): RoamwatchEvent {
  if ((envelopeCheck ?? envelopeFastCheck())(value)) return value as RoamwatchEvent;
  return validateEventSlow(value);
}

/** zod alone: the result (unknown keys stripped) or the error naming each bad field. */
export function validateEventSlow(value: unknown): RoamwatchEvent {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (typeof o.v === 'number' && o.v !== EVENT_VERSION) {
      throw new EventValidationError(
        [{ path: 'v', message: `unsupported contract version ${o.v} (this build reads version ${EVENT_VERSION})` }],
        describeKnownKind(value),
      );
    }
    if (typeof o.kind === 'string' && !(o.kind in EVENT_KINDS)) {
      throw new EventValidationError([{ path: 'kind', message: `unknown event kind "${o.kind.slice(0, 64)}"` }], describeKnownKind(value));
    }
  }
  const r = EventEnvelope.safeParse(value);
  if (!r.success) throw new EventValidationError(toIssues(r.error), describeKnownKind(value));
  return r.data as RoamwatchEvent;
}

/** Parses one JSON-encoded envelope (a Kafka message value, a JSON line). */
export function decodeEvent(text: string | Buffer): RoamwatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (err) {
    throw new EventValidationError([{ path: '(root)', message: `not JSON: ${(err as Error).message}` }]);
  }
  return validateEvent(value);
}

/** Encodes an envelope as compact JSON (the Kafka message value and the JSON-lines form). */
export function encodeEvent(event: RoamwatchEvent): string {
  return JSON.stringify(event);
}

/** Validates a payload on its own (used by producers before they stamp the envelope). */
export function validatePayload<K extends EventKind>(kind: K, payload: unknown): PayloadOf<K> {
  const spec = EVENT_KINDS[kind];
  if (spec && payloadFastCheck(kind)(payload)) return payload as PayloadOf<K>;
  if (!spec) throw new EventValidationError([{ path: 'kind', message: `unknown event kind "${String(kind)}"` }]);
  const r = spec.payload.safeParse(payload);
  if (!r.success) {
    throw new EventValidationError(
      toIssues(r.error).map((i) => ({ ...i, path: i.path === '(root)' ? 'payload' : `payload.${i.path}` })),
      { kind },
    );
  }
  return r.data as PayloadOf<K>;
}
