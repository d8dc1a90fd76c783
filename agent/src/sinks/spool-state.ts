/**
 * The spool's state file, `state.json`:
 *
 *   {"ackedSeq": N}                 everything up to N is delivered
 *   {"ackedSeq": N, "lastSeq": M}   written while events are held in memory on a full disk: M is
 *                                   the last number handed out (a restart never reuses M or
 *                                   below, and announces unsent held ones as lost)
 *
 * Written to `state.json.tmp` and renamed over `state.json` (safe-file.ts: never through a
 * planted symlink, mode 0640). An unreadable file means "nothing acknowledged": every spooled
 * record is sent again (duplicates keep their event id), nothing is lost.
 */
import path from 'node:path';
import type { Logger } from '@roamwatch/core';
import { errorMessage } from '@roamwatch/core';
import { readFileNoFollow, writeFileNoFollow } from './safe-file.js';

export interface SpoolState {
  ackedSeq: number;
  /** Only while holding: the last sequence number handed out. */
  lastSeq?: number;
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

export function readSpoolState(dir: string, log: Logger): SpoolState {
  try {
    const st = JSON.parse(readFileNoFollow(path.join(dir, 'state.json')).toString('utf8')) as Record<string, unknown>;
    const lastSeq = count(st.lastSeq);
    return { ackedSeq: count(st.ackedSeq) ?? 0, ...(lastSeq ? { lastSeq } : {}) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('spool state.json unreadable; resending every spooled record', { error: errorMessage(err) });
    return { ackedSeq: 0 };
  }
}

/** Throws the write error (ENOSPC…): the caller decides whether to retry. */
export function writeSpoolState(dir: string, state: SpoolState): void {
  writeFileNoFollow(path.join(dir, 'state.json'), JSON.stringify(state) + '\n', 0o640);
}
