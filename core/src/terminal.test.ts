import { describe, expect, it } from 'vitest';
import { formatTime, useColor } from './terminal.js';

describe('formatTime', () => {
  it('when given a UTC timestamp with microseconds, then it prints milliseconds and the Z zone', () => {
    expect(formatTime('2026-11-27T15:50:38.123456Z')).toBe('2026-11-27 15:50:38.123Z');
  });
  it('when given a timestamp in another zone, then it prints the same instant in UTC', () => {
    expect(formatTime('2026-11-27T16:50:38.5+01:00')).toBe('2026-11-27 15:50:38.500Z');
  });
  it('when given a Date or epoch milliseconds, then it prints UTC with the zone', () => {
    expect(formatTime(Date.UTC(2026, 10, 27, 15, 50, 38, 7))).toBe('2026-11-27 15:50:38.007Z');
    expect(formatTime(new Date('2026-11-27T15:50:38Z'))).toBe('2026-11-27 15:50:38.000Z');
  });
});

describe('useColor', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it.each([
    ['a terminal, no variables', tty, {}, true],
    ['a pipe, no variables', pipe, {}, false],
    ['a terminal with NO_COLOR=1', tty, { NO_COLOR: '1' }, false],
    ['a terminal with NO_COLOR empty (ignored, per no-color.org)', tty, { NO_COLOR: '' }, true],
    ['a terminal with TERM=dumb', tty, { TERM: 'dumb' }, false],
    ['a pipe with FORCE_COLOR=1', pipe, { FORCE_COLOR: '1' }, true],
    ['a pipe with FORCE_COLOR empty', pipe, { FORCE_COLOR: '' }, true],
    ['a terminal with FORCE_COLOR=0', tty, { FORCE_COLOR: '0' }, false],
    ['a terminal with FORCE_COLOR=false', tty, { FORCE_COLOR: 'false' }, false],
    ['both NO_COLOR and FORCE_COLOR=1 (FORCE_COLOR wins, as in Node)', pipe, { NO_COLOR: '1', FORCE_COLOR: '1' }, true],
  ])('when writing to %s, then colour is %s', (_what, stream, env, expected) => {
    expect(useColor(stream, env as NodeJS.ProcessEnv)).toBe(expected);
  });
});
