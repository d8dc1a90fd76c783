import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EVENT_KINDS,
  EVENT_VERSION,
  EXAMPLE_PAYLOADS,
  EventValidationError,
  createEventFactory,
  createManualClock,
  decodeEvent,
  encodeEvent,
  eventKinds,
  uuidv7,
  uuidv7Millis,
  validateEvent,
  validatePayload,
  UUID_V7_RE,
  formatUs,
} from '../index.js';
import type { EventKind, RoamwatchEvent } from '../index.js';

const T0 = 1_795_794_638_000_000; // 2026-11-27T…Z in µs

function envelope(kind: EventKind, seq = 1) {
  const factory = createEventFactory({ host: 'gw-17', lastSeq: seq - 1, clock: createManualClock(T0) });
  // a copy: the factory takes a valid payload as it is, and these tests break the envelope afterwards
  return factory.make(kind, structuredClone(EXAMPLE_PAYLOADS[kind]) as never);
}

function expectFieldError(value: unknown, path: string): EventValidationError {
  let caught: unknown;
  try {
    validateEvent(value);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EventValidationError);
  const e = caught as EventValidationError;
  expect(e.issues.map((i) => i.path)).toContain(path);
  expect(e.message).toContain(path);
  return e;
}

describe('event contract', () => {
  describe.each(eventKinds)('kind %s', (kind) => {
    it('when the example payload is stamped, then the envelope validates and round-trips through JSON', () => {
      const ev = envelope(kind);
      expect(ev.source).toBe(EVENT_KINDS[kind].source);
      const back = decodeEvent(encodeEvent(ev as RoamwatchEvent));
      expect(back).toEqual(ev);
    });

    it('when the payload is missing, then the error names `payload`', () => {
      const ev = envelope(kind) as Record<string, unknown>;
      delete ev.payload;
      expectFieldError(ev, 'payload');
    });

    it('when the payload has a field of the wrong type, then the error names that field', () => {
      const ev = envelope(kind) as { payload: Record<string, unknown> };
      const [key] = Object.keys(ev.payload);
      ev.payload[key!] = Symbol.for('not-json') as unknown;
      expectFieldError(ev, `payload.${key}`);
    });

    it('when the source does not match the kind, then the error names `source`', () => {
      const ev = envelope(kind) as Record<string, unknown>;
      ev.source = EVENT_KINDS[kind].source === 'vici' ? 'agent' : 'vici';
      expectFieldError(ev, 'source');
    });
  });

  it('when a nested field is wrong, then the error names its full path', () => {
    const ev = envelope('route.added') as { payload: { route: Record<string, unknown> } };
    ev.payload.route.dst = 'not a prefix';
    expectFieldError(ev, 'payload.route.dst');
    const up = envelope('vici.ike-updown') as { payload: { ikeSa: { childSas: Array<Record<string, unknown>> } } };
    up.payload.ikeSa.childSas[0]!.uniqueId = 42;
    expectFieldError(up, 'payload.ikeSa.childSas[0].uniqueId');
  });

  it('when the envelope fields are wrong, then each is named', () => {
    const ev = envelope('agent.started') as Record<string, unknown>;
    expectFieldError({ ...ev, id: 'abc' }, 'id');
    expectFieldError({ ...ev, seq: 0 }, 'seq');
    expectFieldError({ ...ev, seq: 1.5 }, 'seq');
    expectFieldError({ ...ev, host: 'bad host!' }, 'host');
    expectFieldError({ ...ev, timeUs: -1 }, 'timeUs');
  });

  it('when the version is newer than this build reads, then the error says so and names `v`', () => {
    const e = expectFieldError({ ...envelope('agent.started'), v: EVENT_VERSION + 1 }, 'v');
    expect(e.message).toMatch(/unsupported contract version/);
  });

  it('when the kind is unknown, then the error names `kind` and the kind', () => {
    const e = expectFieldError({ ...envelope('agent.started'), kind: 'route.teleported' }, 'kind');
    expect(e.message).toContain('route.teleported');
  });

  it('when the input is not JSON or not an object, then decodeEvent throws EventValidationError', () => {
    expect(() => decodeEvent('{"v":1,')).toThrow(EventValidationError);
    expect(() => decodeEvent('[]')).toThrow(EventValidationError);
    expect(() => decodeEvent('null')).toThrow(EventValidationError);
    expect(() => decodeEvent(Buffer.from([0xff, 0xfe, 0x00]))).toThrow(EventValidationError);
  });

  it('when an envelope carries unknown extra fields, then they are dropped (forward compatibility)', () => {
    const ev = { ...envelope('agent.started'), future: 1 } as Record<string, unknown>;
    const back = validateEvent(ev) as unknown as Record<string, unknown>;
    expect(back.future).toBeUndefined();
  });

  it('when arbitrary values are validated, then only EventValidationError is ever thrown', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          validateEvent(value);
        } catch (err) {
          expect(err).toBeInstanceOf(EventValidationError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('when validatePayload fails, then paths are prefixed with payload', () => {
    expect(() => validatePayload('vici.log', { group: 'IKE' })).toThrow(/payload\.level/);
  });
});

describe('event factory', () => {
  it('when events are made, then seq increases by one from lastSeq and ids are unique UUIDv7', () => {
    const f = createEventFactory({ host: 'gw-1', lastSeq: 41, clock: createManualClock(T0) });
    const a = f.make('agent.started', { agentVersion: '1' });
    const b = f.make('agent.stopping', { agentVersion: '1', reason: 'SIGTERM' });
    expect([a.seq, b.seq]).toEqual([42, 43]);
    expect(f.lastSeq).toBe(43);
    expect(a.id).toMatch(UUID_V7_RE);
    expect(a.id).not.toBe(b.id);
  });

  it('when a payload is invalid, then make throws before a sequence number is used', () => {
    const f = createEventFactory({ host: 'gw-1' });
    expect(() => f.make('vici.log', { msg: 'x' } as never)).toThrow(EventValidationError);
    expect(f.lastSeq).toBe(0);
  });
});

describe('uuidv7', () => {
  it('when many ids are made in one millisecond, then they are unique and sort in creation order', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(T0 / 1000));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(uuidv7Millis(ids[0]!)).toBeGreaterThanOrEqual(T0 / 1000);
  });
});

describe('formatUs', () => {
  it('when given µs, then prints ISO-8601 with six fraction digits', () => {
    expect(formatUs(1_795_794_638_123_456)).toBe('2026-11-27T15:50:38.123456Z');
  });
});

describe('realtime clock', () => {
  it('when read many times, then it never goes backwards and stays within 2 ms of the wall clock', async () => {
    const { createRealtimeClock } = await import('../index.js');
    const clock = createRealtimeClock();
    let prev = 0;
    for (let i = 0; i < 50_000; i++) {
      const t = clock.nowUs();
      expect(t).toBeGreaterThan(prev);
      prev = t;
    }
    const wallBefore = Date.now();
    const t = clock.nowUs();
    const wallAfter = Date.now();
    expect(t).toBeGreaterThanOrEqual(wallBefore * 1000 - 2000);
    expect(t).toBeLessThanOrEqual((wallAfter + 1) * 1000 + 2000);
  });
});
