import { describe, expect, it } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { EVENT_KINDS, EXAMPLE_PAYLOADS, EventEnvelope, EventValidationError, compileFastCheck, createEventFactory, createManualClock, envelopeFastCheck, eventKinds, validateEvent, validateEventSlow } from '../index.js';
import type { EventKind } from '../index.js';

const T0 = 1_795_794_638_000_000;

/** Every example as a JSON value (what the decoder sees after JSON.parse). */
const corpus: unknown[] = eventKinds.map((kind, i) => {
  const factory = createEventFactory({ host: 'gw-17', lastSeq: i, clock: createManualClock(T0) });
  return JSON.parse(JSON.stringify(factory.make(kind, EXAMPLE_PAYLOADS[kind] as never)));
});

/** zod's verdict for the fast path: accepted and given back unchanged. */
function zodUnchanged(value: unknown): boolean {
  const r = EventEnvelope.safeParse(value);
  return r.success && isDeepStrictEqual(r.data, value);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Paths to every node of a JSON value. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** A mutation at one node: a new value of another (or the same) type, a deletion, an extra key. */
const replacement: fc.Arbitrary<Json | { delete: true } | { extraKey: string }> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1, 1.5, 2 ** 53, -(2 ** 53), 4, 6, 65535, 65536, 4294967295, 4294967296, '', 'x', '192.0.2.1', '10.0.0.0/8', 'a'.repeat(300), [], {}, ['x'], [1]),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 80 }),
  fc.constantFrom(...Object.keys(EVENT_KINDS), 'rtnetlink', 'vici', 'agent', 'startup', 'spool-full', 'at-risk'),
  fc.constant({ delete: true as const }),
  fc.string({ minLength: 1, maxLength: 8 }).map((extraKey) => ({ extraKey })),
);

function mutate(base: unknown, path: (string | number)[], r: Json | { delete: true } | { extraKey: string }): unknown {
  const v = structuredClone(base) as Json;
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (path.length === 0) return isObj(r) && ('delete' in r || 'extraKey' in r) ? null : r;
  let parent = v as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (isObj(r) && 'delete' in r) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (isObj(r) && 'extraKey' in r) {
    const target = parent[last];
    if (isObj(target)) (target as Record<string, Json>)[r.extraKey as string] = 1;
    else parent[last] = r.extraKey as string;
  } else {
    parent[last] = r as Json;
  }
  return v;
}

describe('compiled validation (fast-check.ts)', () => {
  it('when compiled from the contract, then nothing but the agent.gap refinements is left to zod', () => {
    const check = compileFastCheck(EventEnvelope);
    expect(check.report.unsupported).toEqual([]);
    expect(check.report.delegated).toEqual(['object custom', 'object custom']);
  });

  it('when given every example, then the fast path accepts it, as zod does', () => {
    const check = envelopeFastCheck();
    for (const v of corpus) {
      expect(zodUnchanged(v)).toBe(true);
      expect(check(v)).toBe(true);
    }
  });

  it('when an example is mutated at any node, then the fast verdict equals zod (accepted unchanged, or not)', () => {
    const check = envelopeFastCheck();
    const cases = fc.integer({ min: 0, max: corpus.length - 1 }).chain((i) =>
      fc.tuple(fc.constant(i), fc.constantFrom(...paths(corpus[i] as Json)), replacement, fc.constantFrom(...paths(corpus[i] as Json)), replacement, fc.boolean()),
    );
    fc.assert(
      fc.property(cases, ([i, p1, r1, p2, r2, twice]) => {
        let v = mutate(corpus[i], p1, r1);
        if (twice) {
          try {
            v = mutate(v, p2, r2);
          } catch {
            // the second path no longer exists after the first mutation: one mutation only
          }
        }
        expect(check(v)).toBe(zodUnchanged(v));
      }),
      { numRuns: 4000 },
    );
  });

  it('when a value is valid but carries an unknown key, then zod strips it (slow path) and the event is accepted', () => {
    const v = structuredClone(corpus[0]) as Record<string, unknown>;
    v.extra = 'from a newer agent';
    expect(envelopeFastCheck()(v)).toBe(false);
    const e = validateEvent(v) as unknown as Record<string, unknown>;
    expect(e.extra).toBeUndefined();
    expect(e.kind).toBe((corpus[0] as { kind: string }).kind);
  });

  it('when a value is invalid, then the error is zod’s, naming the field', () => {
    const v = structuredClone(corpus[0]) as { payload: { route: { dst: string } } };
    v.payload.route.dst = 'not a prefix';
    expect(() => validateEvent(v)).toThrow(EventValidationError);
    expect(() => validateEvent(v)).toThrow(/payload\.route\.dst/);
    expect(() => validateEventSlow(v)).toThrow(/payload\.route\.dst/);
  });

  it('when a payload of every kind is checked alone, then the fast verdict equals zod', () => {
    for (const kind of eventKinds as EventKind[]) {
      const schema = EVENT_KINDS[kind].payload;
      const check = compileFastCheck(schema);
      const p = JSON.parse(JSON.stringify(EXAMPLE_PAYLOADS[kind]));
      expect(check(p)).toBe(true);
      expect(check({ ...p, unknownKey: 1 })).toBe(false);
      expect(schema.safeParse({ ...p, unknownKey: 1 }).success).toBe(true);
    }
  });
});
