/**
 * The durable spool: an append-only, segmented write-ahead log of encoded envelopes.
 *
 * Every envelope the agent makes is appended here *before* any sink sees it, and a sink
 * only ever sends records that are already written to the segment file. That gives the three
 * properties the agent promises:
 *
 * - Order: the sink reads the spool front to back, so one host's events leave in sequence order.
 * - Durability across a crash: after a restart the sink resends every record after the last
 *   acknowledged one (`state.json` → `ackedSeq`), with its original event id (the stored line is
 *   resent byte for byte), so a consumer dedupes on `id`. The next sequence number continues from
 *   the last record on disk, so a restart never reuses a number that may have reached Kafka.
 * - A bound: at `maxBytes` the policy `onFull` decides (drop-oldest: delete the oldest
 *   segment; drop-newest: refuse new records). Every dropped sequence range is handed to
 *   `onGap` so the agent emits an `agent.gap` event: there is no silent hole in the sequence.
 *   With drop-oldest, successive gaps of one outage overlap: each covers the whole run of
 *   contiguous drops so far (an earlier gap event can itself be in a dropped segment).
 *
 * Layout of `dir`:
 *   seg-<firstSeq, 16 digits>.rws     framed records: length, checksum, seq, time, the envelope
 *                                     (exactly the Kafka message value); see spool-format.ts
 *   seg-<firstSeq, 16 digits>.jsonl   legacy segments of older agents (one envelope per line):
 *                                     still read and delivered, never appended to
 *   state.json                        {"ackedSeq": N} written by rename, at most once a second
 *   lock                              the agent using the spool: pid, start time, boot id (spool-lock.ts)
 *
 * fsync policy (`fsyncIntervalMs`): records are written with write(2) in batches (one batch per
 * event-loop turn, or at 1 MiB), so a killed process (SIGKILL, crash, OOM) loses nothing that was
 * written: the page cache survives the process. fdatasync(2) runs every `fsyncIntervalMs`
 * (default 1000) when something was written, so a power loss or kernel crash loses at most that
 * window; 0 means fdatasync after every batch (costly under load). A torn or corrupt last record
 * after a power loss (its length, checksum or terminator do not match) is cut off at recovery and
 * reported as an `agent.gap` with reason `spool-corrupt`.
 *
 * Parts: record framing (spool-format.ts), the owner lock (spool-lock.ts), the state file
 * (spool-state.ts), the size and free-space policy (spool-bound.ts), safe file opening
 * (safe-file.ts); this class keeps the segments, the memory tail and the disk-full holding, and
 * gives the sink a narrow interface: append, read, ack, waitForRecordsAfter.
 *
 * A full disk never stops the agent (docs/agent.md, "what happens when the disk is full"):
 * - Bound by free space as well as by size: the effective bound is the smaller of `maxBytes` and
 *   (spool bytes + free bytes of the filesystem − `minFreeBytes`), checked with statfs(2) at most
 *   once a second; at that bound `onFull` applies as at `maxBytes` (reason `spool-full`).
 * - When write(2) fails anyway (ENOSPC, EDQUOT, EIO, a short write; another process filled the
 *   disk), the partial record is cut off again (ftruncate to the last whole record: no torn line),
 *   and the spool holds new records in memory only (`holding`), where the sink reads them too, so
 *   they still leave when the transport is up. The memory held is bounded by `memoryMaxBytes`;
 *   beyond, `onFull` drops (oldest held records, or the new ones), announced as `agent.gap` with
 *   reason `disk-full`. Writing is retried with backoff; when it succeeds the held records that
 *   are still unacknowledged are written, and the spool is durable again.
 * - Failures to write state.json or the lock file are logged and retried, never fatal.
 *
 * Files are opened with O_NOFOLLOW and created 0640 (the directory 0750) whatever the umask
 * (safe-file.ts): a symlink planted in the spool directory is refused, never followed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Backoff, RoamwatchError, errorMessage } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';
import { SafeFileError, ensureDirNoFollow, openAppendNoFollow, readFileNoFollow } from './safe-file.js';
import { lockHolder, removeLock, writeLock } from './spool-lock.js';
import { SpoolBound } from './spool-bound.js';
import { readSpoolState, writeSpoolState } from './spool-state.js';
import type { SpoolPort } from './types.js';
import { FRAMED_SEG_RE, LEGACY_SEG_RE, decodeFramed, decodeLegacy, diskBytes, encodeRecords, framedSegName, makeRecord } from './spool-format.js';
import type { SpoolRecord } from './spool-format.js';

export type { SpoolRecord };

export type SpoolFullPolicy = 'drop-oldest' | 'drop-newest';

export interface SpoolOptions {
  /** Directory of the spool; created if missing. */
  dir: string;
  /** Bound on the bytes of all segments (acknowledged records of the active segment included). */
  maxBytes: number;
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes: number;
  /** fdatasync period for written records; 0 = after every write batch. */
  fsyncIntervalMs: number;
  /** What happens when appending would exceed `maxBytes`. */
  onFull: SpoolFullPolicy;
  /** Unsent records also kept in memory up to this many bytes (beyond, the sink reads the files). */
  memoryMaxBytes: number;
  /** Free space the spool leaves on its filesystem (bytes; default 64 MiB). */
  minFreeBytes?: number;
  /** Free bytes of the spool's filesystem (default: statfs(2)); for tests. */
  freeBytes?: (dir: string) => number;
  /** Called (synchronously) with each sequence range lost for good. */
  onGap?: (gap: SpoolGap) => void;
  logger: Logger;
}

export interface SpoolGap {
  fromSeq: number;
  toSeq: number;
  reason: 'spool-full' | 'spool-corrupt' | 'disk-full';
  count: number;
}

export interface SpoolStats {
  /** Bytes of all segment files. */
  bytes: number;
  /** Records written and not yet acknowledged. */
  pendingEvents: number;
  limitBytes: number;
  /** Records refused or deleted at the bound since start. */
  droppedEvents: number;
  segments: number;
  lastSeq: number;
  ackedSeq: number;
  writtenSeq: number;
  /** Highest seq the sink may read: writtenSeq, or beyond while records are held in memory. */
  readableSeq: number;
  /** Writing failed (disk full): new records are held in memory only. */
  holding: boolean;
  /** Bytes of records held in memory only. */
  heldBytes: number;
  /** The bound in force now: maxBytes, or lower when the filesystem is nearly full. */
  effectiveLimitBytes: number;
}

interface Segment {
  firstSeq: number;
  file: string;
  bytes: number;
  /** Highest seq in the segment (0 when empty). */
  lastSeq: number;
  /** Framed (`.rws`); false for a legacy `.jsonl` segment of an older agent (read-only). */
  framed: boolean;
}

const WRITE_BATCH_BYTES = 1 << 20;
/** errno codes that mean "no room" or "the device fails": hold in memory and retry. */
const WRITE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG', 'EROFS']);


export class SpoolError extends RoamwatchError {
  constructor(message: string, opts: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { code: 'SPOOL', retriable: false, ...opts });
    this.name = 'SpoolError';
  }
}

/** The first record with seq >= `seq` in `arr` (sorted by seq) from index `from`. */
function firstAtOrAfter(arr: SpoolRecord[], from: number, seq: number): SpoolRecord | undefined {
  let lo = from;
  let hi = arr.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = arr[mid]!.seq;
    if (s === seq) return arr[mid];
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return lo < arr.length ? arr[lo] : undefined;
}

export class Spool implements SpoolPort {
  private readonly opts: SpoolOptions;
  private readonly log: Logger;
  private segments: Segment[] = [];
  private fd = -1;
  private ackedSeqValue = 0;
  private stateAckedWritten = 0;
  private stateWrittenAtMs = 0;
  private lastSeqValue = 0;
  private writtenSeqValue = 0;
  /**
   * Records not yet written: appended this event-loop turn, or, while `holding`, every record
   * since the disk refused a write (then they are the only copy, and readable by the sink).
   */
  private pending: SpoolRecord[] = [];
  private pendingHead = 0;
  private pendingBytes = 0;
  private writeScheduled = false;
  /** In-memory copies of written, unacknowledged records with seq > diskOnlyUntil. */
  private mem: SpoolRecord[] = [];
  private memHead = 0;
  private memBytes = 0;
  /** Records up to this seq are only on disk. */
  private diskOnlyUntil = 0;
  private diskCache: { firstSeq: number; records: SpoolRecord[] } | undefined;
  private dirty = false;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private refused: { fromSeq: number; toSeq: number; reason: SpoolGap['reason'] } | undefined;
  private dropRun: { fromSeq: number; toSeq: number; reason: SpoolGap['reason'] } | undefined;
  private closed = false;
  private waiters: Array<() => void> = [];
  /** A write failed (disk full, I/O error): records are held in memory until writing works again. */
  private holding = false;
  private readonly retry = new Backoff({ minMs: 100, maxMs: 5000, resetAfterHealthyMs: 10_000 });
  private retryTimer: NodeJS.Timeout | undefined;
  private lockWritten = false;
  private stateFailing = false;
  private readonly bound: SpoolBound;

  private constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.bound = new SpoolBound({ dir: opts.dir, maxBytes: opts.maxBytes, minFreeBytes: opts.minFreeBytes, freeBytes: opts.freeBytes });
  }

  /** Opens (and recovers) the spool in `dir`. Synchronous: it runs once at start-up. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    try {
      s.recover();
    } catch (err) {
      s.stopTimers();
      if (s.fd >= 0) fs.closeSync(s.fd);
      if (err instanceof SafeFileError) throw new SpoolError(`spool dir ${opts.dir}: ${err.message}`, { cause: err });
      throw err;
    }
    return s;
  }

  /** The highest sequence number on disk or handed in (the next event gets lastSeq + 1). */
  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get ackedSeq(): number {
    return this.ackedSeqValue;
  }

  private recover(): void {
    const { dir } = this.opts;
    try {
      ensureDirNoFollow(dir, 0o750);
    } catch (err) {
      throw new SpoolError(`spool dir ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    this.takeLock();
    const state = readSpoolState(dir, this.log);
    this.ackedSeqValue = state.ackedSeq;
    const stateLastSeq = state.lastSeq ?? 0;
    this.stateAckedWritten = this.ackedSeqValue;
    const found: Segment[] = [];
    for (const name of fs.readdirSync(dir)) {
      const m = FRAMED_SEG_RE.exec(name) ?? LEGACY_SEG_RE.exec(name);
      if (!m) continue;
      const firstSeq = Number(m[1]);
      const file = path.join(dir, name);
      const st = fs.lstatSync(file);
      if (!st.isFile()) throw new SpoolError(`spool dir ${dir}: ${name} is not a regular file (a symbolic link?); refusing to use it`);
      found.push({ firstSeq, file, bytes: st.size, lastSeq: firstSeq - 1, framed: name.endsWith('.rws') });
    }
    this.segments = found.sort((a, b) => a.firstSeq - b.firstSeq);
    // Every segment but the newest is complete: its last seq is the next one's first - 1.
    for (let i = 0; i + 1 < this.segments.length; i++) this.segments[i]!.lastSeq = this.segments[i + 1]!.firstSeq - 1;
    const newest = this.segments[this.segments.length - 1];
    if (newest) this.recoverTail(newest);
    const onDisk = Math.max(this.ackedSeqValue, newest ? newest.lastSeq : 0);
    // Records held in memory when the last run stopped on a full disk: their numbers may have
    // reached Kafka (never reuse them) and the unsent ones are lost (say so).
    this.lastSeqValue = Math.max(onDisk, stateLastSeq);
    if (stateLastSeq > onDisk) {
      const gap: SpoolGap = { fromSeq: onDisk + 1, toSeq: stateLastSeq, reason: 'disk-full', count: stateLastSeq - onDisk };
      this.dropped += gap.count;
      this.log.warn('spool: events held in memory at the last stop (disk full) were lost', { ...gap });
      queueMicrotask(() => this.opts.onGap?.(gap));
    }
    this.writtenSeqValue = this.lastSeqValue;
    if (this.ackedSeqValue > this.lastSeqValue) this.ackedSeqValue = this.lastSeqValue;
    // Unsent records from an earlier run are read from the files.
    this.diskOnlyUntil = this.lastSeqValue;
    this.deleteAcknowledgedSegments();
    try {
      // A legacy segment is never appended to: new records start a framed one.
      if (!newest || newest.bytes >= this.opts.segmentBytes || !newest.framed) this.roll(this.lastSeqValue + 1);
      else this.openActive(newest);
    } catch (err) {
      if (!isWriteFailure(err)) throw err;
      // A full disk at start: run anyway, holding events in memory until a segment can be made.
      this.enterHolding(err);
    }
    if (this.opts.fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.sync(), this.opts.fsyncIntervalMs);
      this.fsyncTimer.unref();
    }
    const pendingEvents = this.lastSeqValue - this.ackedSeqValue;
    if (pendingEvents > 0) this.log.info('spool recovered unsent events', { pendingEvents, ackedSeq: this.ackedSeqValue, lastSeq: this.lastSeqValue, segments: this.segments.length });
  }

  private takeLock(): void {
    const holder = lockHolder(path.join(this.opts.dir, 'lock'));
    if (holder) throw new SpoolError(`spool dir ${this.opts.dir} is in use by process ${holder.pid} (another agent?); give each agent its own spool dir`);
    this.tryWriteLock();
  }

  private tryWriteLock(): void {
    try {
      writeLock(this.opts.dir);
      this.lockWritten = true;
    } catch (err) {
      if (!isWriteFailure(err)) throw err;
      // No room for the lock file: the check above passed; write it once there is room.
      if (!this.holding) this.log.warn('spool: could not write the lock file (disk full?); retrying', { error: errorMessage(err) });
      this.enterHolding(err);
    }
  }

  /** Finds the last complete record of the newest segment; cuts a torn or corrupt tail. */
  private recoverTail(seg: Segment): void {
    if (seg.bytes === 0) return;
    const buf = readFileNoFollow(seg.file);
    const { records, goodEnd, problem } = seg.framed ? decodeFramed(buf) : decodeLegacy(buf);
    const lastGood = records.length > 0 ? records[records.length - 1]!.seq : 0;
    if (goodEnd < buf.length) {
      const cutBytes = buf.length - goodEnd;
      fs.truncateSync(seg.file, goodEnd);
      seg.bytes = goodEnd;
      // The torn record's number may have left for Kafka before the crash: never reuse it.
      const lost = (lastGood || seg.firstSeq - 1) + 1;
      this.log.warn('spool: cut a torn tail (power loss?)', { file: seg.file, cutBytes, lostSeq: lost, problem });
      seg.lastSeq = lost;
      this.dropped += 1;
      queueMicrotask(() => this.opts.onGap?.({ fromSeq: lost, toSeq: lost, reason: 'spool-corrupt', count: 1 }));
      return;
    }
    seg.lastSeq = lastGood || seg.firstSeq - 1;
  }

  private openActive(seg: Segment): void {
    this.fd = openAppendNoFollow(seg.file, 0o640);
  }

  /** Closes the active segment and starts one at `firstSeq`. Throws on a write failure (fd = -1). */
  private roll(firstSeq: number): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      try {
        fs.fdatasyncSync(fd);
      } catch (err) {
        this.log.error('spool fdatasync failed', { error: errorMessage(err) });
      }
      fs.closeSync(fd);
    }
    const active = this.segments[this.segments.length - 1];
    if (active && active.bytes === 0) {
      // Reuse an empty segment only if it starts where the next record goes (and is framed).
      if (active.firstSeq === firstSeq && active.framed) {
        this.openActive(active);
        return;
      }
      fs.rmSync(active.file, { force: true });
      this.segments.pop();
    }
    const file = path.join(this.opts.dir, framedSegName(firstSeq));
    this.fd = openAppendNoFollow(file, 0o640);
    this.segments.push({ firstSeq, file, bytes: 0, lastSeq: firstSeq - 1, framed: true });
    this.syncDir();
  }

  private syncDir(): void {
    try {
      const dfd = fs.openSync(this.opts.dir, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch {
      /* best effort: some filesystems refuse fsync on a directory */
    }
  }

  private diskBytes(): number {
    let b = 0;
    for (const s of this.segments) b += s.bytes;
    return b;
  }

  private totalBytes(): number {
    return this.diskBytes() + this.pendingBytes;
  }

  /** The bound in force: maxBytes, or what fits while leaving minFreeBytes free (spool-bound.ts). */
  private limitBytes(): number {
    return this.bound.limit(this.diskBytes());
  }

  /** Highest seq the sink may read: written ones, and held ones while the disk refuses writes. */
  private readableSeq(): number {
    if (this.holding && this.pendingHead < this.pending.length) return Math.max(this.writtenSeqValue, this.pending[this.pending.length - 1]!.seq);
    return this.writtenSeqValue;
  }

  /**
   * Appends one encoded envelope. `seq` must be lastSeq + 1. Never blocks on I/O beyond a
   * buffered write(2); returns false when the record was refused (drop-newest at the bound, or
   * no memory left to hold it while the disk is full).
   */
  append(seq: number, line: string, timeUs: number): boolean {
    if (this.closed) throw new SpoolError('spool is closed');
    if (seq !== this.lastSeqValue + 1) throw new SpoolError(`spool append out of order: seq ${seq} after ${this.lastSeqValue}`);
    this.lastSeqValue = seq;
    const rec = makeRecord(seq, line, timeUs);
    const bytes = diskBytes(rec);
    if (!this.holding) {
      const limit = this.limitBytes();
      if (this.totalBytes() + bytes > limit) {
        const made = this.opts.onFull === 'drop-oldest' && this.dropOldestFor(bytes);
        if (!made) {
          if (this.opts.onFull === 'drop-newest' || limit >= this.opts.maxBytes) {
            this.refuse(seq, 'spool-full');
            return false;
          }
          // The filesystem is nearly full and nothing old is left to delete: hold in memory.
          this.enterHolding(new Error(`free space below spool.minFreeBytes on ${this.opts.dir}`));
        }
      }
    }
    if (this.holding && this.pendingBytes + bytes > this.opts.memoryMaxBytes) {
      if (this.opts.onFull === 'drop-newest' || !this.dropHeldFor(bytes)) {
        this.refuse(seq, 'disk-full');
        return false;
      }
    }
    this.closeRefusedRange();
    this.pending.push(rec);
    this.pendingBytes += bytes;
    if (this.holding) {
      // Held records are readable at once: the sink delivers them from memory.
      this.wake();
      return true;
    }
    if (this.pendingBytes >= WRITE_BATCH_BYTES) this.writePending();
    else if (!this.writeScheduled) {
      this.writeScheduled = true;
      setImmediate(() => this.writePending());
    }
    return true;
  }

  private refuse(seq: number, reason: SpoolGap['reason']): void {
    this.dropped += 1;
    if (this.refused && this.refused.toSeq === seq - 1 && this.refused.reason === reason) this.refused.toSeq = seq;
    else {
      this.closeRefusedRange();
      this.refused = { fromSeq: seq, toSeq: seq, reason };
      if (reason === 'spool-full') this.log.warn('spool full: refusing new events (onFull = drop-newest)', { limitBytes: this.limitBytes(), fromSeq: seq });
      else this.log.warn('disk full and no memory left to hold events: refusing new events', { memoryMaxBytes: this.opts.memoryMaxBytes, fromSeq: seq });
    }
    // The next segment must not claim the refused numbers.
  }

  private closeRefusedRange(): void {
    const r = this.refused;
    if (!r) return;
    this.refused = undefined;
    const gap: SpoolGap = { fromSeq: r.fromSeq, toSeq: r.toSeq, reason: r.reason, count: r.toSeq - r.fromSeq + 1 };
    this.log.warn('spool: events dropped at the bound', { ...gap });
    queueMicrotask(() => this.opts.onGap?.(gap));
  }

  /**
   * Records lost records [from, to] and announces the whole contiguous run of drops so far: an
   * earlier gap event can itself be among the dropped records, so the latest one alone names
   * every lost number.
   */
  private recordDrop(from: number, to: number, reason: SpoolGap['reason']): SpoolGap {
    this.dropped += to - from + 1;
    if (this.dropRun && this.dropRun.reason === reason && from === this.dropRun.toSeq + 1) this.dropRun.toSeq = to;
    else this.dropRun = { fromSeq: from, toSeq: to, reason };
    const run = this.dropRun;
    const gap: SpoolGap = { fromSeq: run.fromSeq, toSeq: run.toSeq, reason, count: run.toSeq - run.fromSeq + 1 };
    queueMicrotask(() => this.opts.onGap?.(gap));
    return gap;
  }

  /** drop-oldest: deletes whole segments (never the active one) until `bytes` fit. */
  private dropOldestFor(bytes: number): boolean {
    this.writePending();
    if (this.holding) return true;
    while (this.totalBytes() + bytes > this.limitBytes()) {
      if (this.segments.length < 2) {
        // Everything is in the active segment: close it so that it can go next time.
        const active = this.segments[0];
        if (!active || active.bytes === 0) return false;
        try {
          this.roll(this.writtenSeqValue + 1);
        } catch (err) {
          if (!isWriteFailure(err)) throw err;
          this.enterHolding(err);
          return true;
        }
        continue;
      }
      const oldest = this.segments.shift()!;
      fs.rmSync(oldest.file, { force: true });
      this.bound.used(-oldest.bytes);
      this.diskCache = undefined;
      const from = Math.max(oldest.firstSeq, this.ackedSeqValue + 1);
      const to = oldest.lastSeq;
      if (to >= from) {
        // Forget what is gone: acknowledged as far as the sink is concerned.
        this.ackedSeqValue = to;
        this.dropMemThrough(to);
        const gap = this.recordDrop(from, to, 'spool-full');
        this.log.warn('spool full: deleted the oldest unsent segment (onFull = drop-oldest)', { ...gap, limitBytes: this.limitBytes() });
      }
      this.writeState(true);
    }
    return true;
  }

  /** While holding: drops the oldest held records until `bytes` fit in memoryMaxBytes. */
  private dropHeldFor(bytes: number): boolean {
    if (bytes > this.opts.memoryMaxBytes) return false;
    let from = 0;
    let to = 0;
    while (this.pendingBytes + bytes > this.opts.memoryMaxBytes && this.pendingHead < this.pending.length) {
      const r = this.pending[this.pendingHead]!;
      this.pendingHead += 1;
      this.pendingBytes -= diskBytes(r);
      if (r.seq <= this.ackedSeqValue) continue;
      if (from === 0) from = r.seq;
      to = r.seq;
    }
    this.compactPending();
    if (from > 0) {
      const gap = this.recordDrop(from, to, 'disk-full');
      this.log.warn('disk full: dropped the oldest events held in memory', { ...gap, memoryMaxBytes: this.opts.memoryMaxBytes });
    }
    return this.pendingBytes + bytes <= this.opts.memoryMaxBytes;
  }

  private compactPending(): void {
    if (this.pendingHead >= this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private dropMemThrough(seq: number): void {
    while (this.memHead < this.mem.length && this.mem[this.memHead]!.seq <= seq) {
      this.memBytes -= this.mem[this.memHead]!.bytes;
      this.memHead += 1;
    }
    this.compactMem();
  }

  private compactMem(): void {
    if (this.memHead > 4096 && this.memHead * 2 > this.mem.length) {
      this.mem = this.mem.slice(this.memHead);
      this.memHead = 0;
    }
  }

  /** Writes the records appended so far to the active segment (one write(2) per MiB). */
  writePending(): void {
    this.writeScheduled = false;
    if (this.holding) return; // the retry timer writes them once the disk takes writes again
    this.flushPending();
  }

  /** Enters (or stays in) holding and schedules the next write attempt. */
  private enterHolding(err: unknown): void {
    if (!this.holding) {
      this.holding = true;
      this.log.error('spool: cannot write to disk; holding new events in memory (bounded by spool.memoryMaxBytes) and retrying', {
        dir: this.opts.dir,
        error: errorMessage(err),
        memoryMaxBytes: this.opts.memoryMaxBytes,
      });
    }
    if (this.retryTimer || this.closed) return;
    const delay = this.retry.fail();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.resume();
    }, delay);
    this.retryTimer.unref();
  }

  /** Retries writing: the lock, a segment, the held records. Leaves holding when all are written. */
  private resume(): void {
    if (this.closed) return;
    this.bound.refresh();
    if (!this.lockWritten) {
      try {
        writeLock(this.opts.dir);
        this.lockWritten = true;
      } catch (err) {
        if (!isWriteFailure(err)) throw err;
        this.enterHolding(err);
        return;
      }
    }
    if (this.diskBytes() + this.pendingBytes > this.limitBytes()) {
      this.enterHolding(new Error(`free space still below spool.minFreeBytes on ${this.opts.dir}`));
      return;
    }
    if (!this.flushPending()) return;
    const wasHolding = this.holding;
    this.holding = false;
    this.retry.succeeded();
    this.writeState(true);
    if (wasHolding) this.log.info('spool: writing to disk again; events held in memory are spooled', { dir: this.opts.dir, writtenSeq: this.writtenSeqValue });
  }

  /**
   * Writes pending records that are not acknowledged yet (held ones may have been delivered from
   * memory meanwhile). On a write failure it cuts the partial record off again, enters holding
   * and returns false; the records stay pending.
   */
  private flushPending(): boolean {
    let wrote = false;
    while (this.pendingHead < this.pending.length) {
      if (this.fd < 0) {
        try {
          this.roll(this.writtenSeqValue + 1);
        } catch (err) {
          if (!isWriteFailure(err)) throw err;
          this.enterHolding(err);
          return false;
        }
      }
      const seg = this.segments[this.segments.length - 1]!;
      let end = this.pendingHead;
      let batchBytes = 0;
      const recs: SpoolRecord[] = [];
      while (end < this.pending.length && batchBytes < WRITE_BATCH_BYTES) {
        const r = this.pending[end]!;
        end += 1;
        if (r.seq <= this.ackedSeqValue) continue;
        batchBytes += diskBytes(r);
        recs.push(r);
      }
      if (recs.length > 0) {
        const buf = encodeRecords(recs);
        try {
          this.writeAll(buf);
        } catch (err) {
          if (!isWriteFailure(err)) throw err;
          this.cutBack(seg);
          this.enterHolding(err);
          return false;
        }
        seg.bytes += buf.length;
        this.bound.used(buf.length);
        this.dirty = true;
        wrote = true;
        for (const r of recs) {
          if (r.seq <= this.diskOnlyUntil) continue;
          this.mem.push(r);
          this.memBytes += r.bytes;
        }
      }
      const lastSeq = this.pending[end - 1]!.seq;
      seg.lastSeq = Math.max(seg.lastSeq, lastSeq);
      this.writtenSeqValue = Math.max(this.writtenSeqValue, lastSeq);
      for (let i = this.pendingHead; i < end; i++) this.pendingBytes -= diskBytes(this.pending[i]!);
      this.pendingHead = end;
      this.compactPending();
      while (this.memBytes > this.opts.memoryMaxBytes && this.memHead < this.mem.length) {
        const r = this.mem[this.memHead]!;
        this.memBytes -= r.bytes;
        this.memHead += 1;
        this.diskOnlyUntil = r.seq;
      }
      this.compactMem();
      // The next segment is named after the next record this segment does not hold (a record being
      // appended right now may already have its number in lastSeq, but is not written yet).
      if (seg.bytes >= this.opts.segmentBytes) {
        try {
          this.roll(this.writtenSeqValue + 1);
        } catch (err) {
          if (!isWriteFailure(err)) throw err;
          this.fd = -1;
        }
      }
    }
    if (wrote && this.opts.fsyncIntervalMs === 0) this.sync();
    this.wake();
    return true;
  }

  /** One record batch, whole: a short write is continued, an error thrown. */
  private writeAll(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      const n = fs.writeSync(this.fd, buf, off);
      if (n <= 0) throw Object.assign(new Error('write(2) wrote nothing'), { code: 'ENOSPC' });
      off += n;
    }
  }

  /** After a failed write: cut the segment back to its last whole record (no torn line on disk). */
  private cutBack(seg: Segment): void {
    try {
      fs.ftruncateSync(this.fd, seg.bytes);
    } catch (err) {
      // The next start cuts a torn tail off and reports it (spool-corrupt).
      this.log.error('spool: could not cut a partial write back', { file: seg.file, error: errorMessage(err) });
    }
  }

  /** fdatasync of the active segment if anything was written since the last one. */
  sync(): void {
    if (!this.dirty || this.fd < 0) return;
    this.dirty = false;
    try {
      fs.fdatasyncSync(this.fd);
    } catch (err) {
      this.log.error('spool fdatasync failed', { error: errorMessage(err) });
    }
  }

  /** Resolves when records after `seq` are readable (or immediately if there are). */
  waitForRecordsAfter(seq: number): Promise<void> {
    if (this.readableSeq() > seq || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter (used when closing). */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Up to `maxRecords` / `maxBytes` written, unacknowledged records with seq > `afterSeq`, in
   * order. Records appended but not yet written are not returned: nothing leaves the agent
   * before it is in the spool file, except while the disk refuses writes (then the records
   * held in memory are returned too: they are the only copy).
   */
  read(afterSeq: number, maxRecords: number, maxBytes: number): SpoolRecord[] {
    const out: SpoolRecord[] = [];
    let bytes = 0;
    let next = Math.max(afterSeq, this.ackedSeqValue) + 1;
    const horizon = this.readableSeq();
    while (next <= horizon && out.length < maxRecords && bytes < maxBytes) {
      let r: SpoolRecord | undefined;
      if (next <= this.diskOnlyUntil) r = this.readDisk(next);
      else r = this.readMem(next);
      if (!r && this.holding) r = firstAtOrAfter(this.pending, this.pendingHead, next);
      // The readers return the first record at or after `next`, so holes (refused at the bound,
      // reported as a gap) are skipped; nothing means nothing more is stored.
      if (!r) break;
      out.push(r);
      bytes += r.bytes;
      next = r.seq + 1;
    }
    return out;
  }

  private readMem(seq: number): SpoolRecord | undefined {
    return firstAtOrAfter(this.mem, this.memHead, seq);
  }

  private readDisk(seq: number): SpoolRecord | undefined {
    let seg: Segment | undefined;
    for (const s of this.segments) {
      if (s.firstSeq <= seq) seg = s;
      else break;
    }
    if (!seg) seg = this.segments[0];
    if (!seg) return undefined;
    const cache = this.diskCache;
    const cacheLast = cache?.records[cache.records.length - 1]?.seq ?? 0;
    if (!cache || cache.firstSeq !== seg.firstSeq || (seq > cacheLast && seg.lastSeq > cacheLast)) {
      this.writePending();
      const buf = readFileNoFollow(seg.file);
      const { records } = seg.framed ? decodeFramed(buf) : decodeLegacy(buf);
      this.diskCache = { firstSeq: seg.firstSeq, records };
    }
    const found = firstAtOrAfter(this.diskCache!.records, 0, seq);
    if (found) return found;
    // Past this segment: continue in the next one.
    const idx = this.segments.indexOf(seg);
    const nextSeg = this.segments[idx + 1];
    if (nextSeg && nextSeg.firstSeq > seq) return this.readDisk(nextSeg.firstSeq);
    return undefined;
  }

  /** Marks every record up to `seq` as delivered. */
  ack(seq: number): void {
    if (seq <= this.ackedSeqValue) return;
    this.ackedSeqValue = Math.max(this.ackedSeqValue, Math.min(seq, this.readableSeq()));
    this.dropMemThrough(this.ackedSeqValue);
    if (this.holding) {
      // Delivered held records need no memory any more (and are never written).
      while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.seq <= this.ackedSeqValue) {
        this.pendingBytes -= diskBytes(this.pending[this.pendingHead]!);
        this.pendingHead += 1;
      }
      this.compactPending();
    }
    this.deleteAcknowledgedSegments();
    this.writeState(false);
  }

  private deleteAcknowledgedSegments(): void {
    let deleted = false;
    while (this.segments.length > 1 && this.segments[0]!.lastSeq <= this.ackedSeqValue) {
      if (!deleted) this.writeState(true);
      const s = this.segments.shift()!;
      fs.rmSync(s.file, { force: true });
      this.bound.used(-s.bytes);
      if (this.diskCache?.firstSeq === s.firstSeq) this.diskCache = undefined;
      deleted = true;
    }
  }

  /**
   * Writes state.json (by rename): the acknowledged position, and the last number handed out
   * while records are held in memory (so a restart neither reuses nor silently loses them).
   * A failure (disk full) is logged once and retried with the next acknowledgement.
   */
  private writeState(force: boolean): void {
    const lastSeq = this.holding ? this.lastSeqValue : 0;
    if (this.ackedSeqValue === this.stateAckedWritten && !this.holding && !this.stateFailing) return;
    const now = Date.now();
    if (!force && now - this.stateWrittenAtMs < 1000) return;
    this.stateWrittenAtMs = now;
    try {
      writeSpoolState(this.opts.dir, { ackedSeq: this.ackedSeqValue, ...(lastSeq ? { lastSeq } : {}) });
      this.stateAckedWritten = this.ackedSeqValue;
      this.stateFailing = false;
    } catch (err) {
      if (!isWriteFailure(err)) throw err;
      if (!this.stateFailing) this.log.warn('spool: could not write state.json (disk full?); retrying', { error: errorMessage(err) });
      this.stateFailing = true;
    }
  }

  /** Event time (µs) of the oldest unacknowledged record, or undefined when all are delivered. */
  oldestPendingTimeUs(): number | undefined {
    if (this.ackedSeqValue >= this.readableSeq()) return this.pending[this.pendingHead]?.timeUs;
    const r = this.read(this.ackedSeqValue, 1, Infinity)[0];
    return r?.timeUs;
  }

  stats(): SpoolStats {
    return {
      bytes: this.totalBytes(),
      pendingEvents: Math.max(0, this.lastSeqValue - this.ackedSeqValue),
      limitBytes: this.opts.maxBytes,
      droppedEvents: this.dropped,
      segments: this.segments.length,
      lastSeq: this.lastSeqValue,
      ackedSeq: this.ackedSeqValue,
      writtenSeq: this.writtenSeqValue,
      readableSeq: this.readableSeq(),
      holding: this.holding,
      heldBytes: this.holding ? this.pendingBytes : 0,
      effectiveLimitBytes: this.holding ? this.opts.maxBytes : this.limitBytes(),
    };
  }

  private stopTimers(): void {
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.fsyncTimer = undefined;
    this.retryTimer = undefined;
  }

  /** Writes what is pending, fsyncs, records the acknowledged position and releases the lock. */
  close(): void {
    if (this.closed) return;
    if (this.holding) this.resume();
    else this.writePending();
    this.closeRefusedRange();
    this.stopTimers();
    this.closed = true;
    if (this.holding) {
      const held = this.pending.length - this.pendingHead;
      if (held > 0) this.log.error('spool: stopping on a full disk; events held in memory are lost (the next start reports them as agent.gap)', { events: held, lastSeq: this.lastSeqValue });
    }
    this.dirty = true;
    this.sync();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.writeState(true);
    if (this.lockWritten) removeLock(this.opts.dir);
    this.wake();
  }
}

function isWriteFailure(err: unknown): boolean {
  return WRITE_FAILURES.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}
