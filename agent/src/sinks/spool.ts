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
 *   seg-<firstSeq, 16 digits>.jsonl   one envelope per line (exactly the Kafka message value)
 *   state.json                        {"ackedSeq": N} written by rename, at most once a second
 *   lock                              holds the pid of the agent using the spool
 *
 * fsync policy (`fsyncIntervalMs`): records are written with write(2) in batches (one batch per
 * event-loop turn, or at 1 MiB), so a killed process (SIGKILL, crash, OOM) loses nothing that was
 * written: the page cache survives the process. fdatasync(2) runs every `fsyncIntervalMs`
 * (default 1000) when something was written, so a power loss or kernel crash loses at most that
 * window; 0 means fdatasync after every batch (costly under load). A torn last line after a power
 * loss is cut off at recovery and reported as an `agent.gap` with reason `spool-corrupt`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RoamwatchError } from '@roamwatch/core';
import type { Logger } from '@roamwatch/core';

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
  /** Called (synchronously) with each sequence range lost for good. */
  onGap?: (gap: SpoolGap) => void;
  logger: Logger;
}

export interface SpoolGap {
  fromSeq: number;
  toSeq: number;
  reason: 'spool-full' | 'spool-corrupt';
  count: number;
}

export interface SpoolRecord {
  seq: number;
  /** The encoded envelope, without the newline. */
  line: string;
  /** Event time of the envelope (µs), for the lag. */
  timeUs: number;
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
}

interface Segment {
  firstSeq: number;
  file: string;
  bytes: number;
  /** Highest seq in the segment (0 when empty). */
  lastSeq: number;
}

const SEG_RE = /^seg-(\d{16})\.jsonl$/;
const SEQ_RE = /"seq":(\d+)/;
const TIME_RE = /"timeUs":(\d+)/;
const WRITE_BATCH_BYTES = 1 << 20;

export class SpoolError extends RoamwatchError {
  constructor(message: string, opts: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { code: 'SPOOL', retriable: false, ...opts });
    this.name = 'SpoolError';
  }
}

function segName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.jsonl`;
}

function parseSeq(line: string): number | undefined {
  const m = SEQ_RE.exec(line);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
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

export class Spool {
  private readonly opts: SpoolOptions;
  private readonly log: Logger;
  private segments: Segment[] = [];
  private fd = -1;
  private ackedSeqValue = 0;
  private stateAckedWritten = 0;
  private stateWrittenAtMs = 0;
  private lastSeqValue = 0;
  private writtenSeqValue = 0;
  /** Records not yet written: appended this event-loop turn. */
  private pending: SpoolRecord[] = [];
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
  private refused: { fromSeq: number; toSeq: number } | undefined;
  private dropRun: { fromSeq: number; toSeq: number } | undefined;
  private closed = false;
  private waiters: Array<() => void> = [];

  private constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  /** Opens (and recovers) the spool in `dir`. Synchronous: it runs once at start-up. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    s.recover();
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
      fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new SpoolError(`spool dir ${dir}: ${(err as Error).message}`, { cause: err });
    }
    this.takeLock();
    try {
      const st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { ackedSeq?: unknown };
      if (typeof st.ackedSeq === 'number' && Number.isSafeInteger(st.ackedSeq) && st.ackedSeq >= 0) this.ackedSeqValue = st.ackedSeq;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('spool state.json unreadable; resending every spooled record', { error: (err as Error).message });
    }
    this.stateAckedWritten = this.ackedSeqValue;
    const names = fs.readdirSync(dir).filter((n) => SEG_RE.test(n)).sort();
    for (const name of names) {
      const firstSeq = Number(SEG_RE.exec(name)![1]);
      const file = path.join(dir, name);
      this.segments.push({ firstSeq, file, bytes: fs.statSync(file).size, lastSeq: firstSeq - 1 });
    }
    // Every segment but the newest is complete: its last seq is the next one's first - 1.
    for (let i = 0; i + 1 < this.segments.length; i++) this.segments[i]!.lastSeq = this.segments[i + 1]!.firstSeq - 1;
    const newest = this.segments[this.segments.length - 1];
    if (newest) this.recoverTail(newest);
    this.lastSeqValue = Math.max(this.ackedSeqValue, newest ? newest.lastSeq : 0);
    this.writtenSeqValue = this.lastSeqValue;
    if (this.ackedSeqValue > this.lastSeqValue) this.ackedSeqValue = this.lastSeqValue;
    // Unsent records from an earlier run are read from the files.
    this.diskOnlyUntil = this.lastSeqValue;
    this.deleteAcknowledgedSegments();
    if (!newest || newest.bytes >= this.opts.segmentBytes) this.roll(this.lastSeqValue + 1);
    else this.openActive(newest);
    if (this.opts.fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.sync(), this.opts.fsyncIntervalMs);
      this.fsyncTimer.unref();
    }
    const pendingEvents = this.lastSeqValue - this.ackedSeqValue;
    if (pendingEvents > 0) this.log.info('spool recovered unsent events', { pendingEvents, ackedSeq: this.ackedSeqValue, lastSeq: this.lastSeqValue, segments: this.segments.length });
  }

  private takeLock(): void {
    const lock = path.join(this.opts.dir, 'lock');
    try {
      const other = Number(fs.readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(other) && other > 0 && other !== process.pid) {
        let alive = false;
        try {
          process.kill(other, 0);
          alive = true;
        } catch {
          alive = false;
        }
        if (alive) throw new SpoolError(`spool dir ${this.opts.dir} is in use by process ${other} (another agent?); give each agent its own spool dir`);
      }
    } catch (err) {
      if (err instanceof SpoolError) throw err;
    }
    fs.writeFileSync(lock, `${process.pid}\n`);
  }

  /** Finds the last complete record of the newest segment; cuts a torn tail. */
  private recoverTail(seg: Segment): void {
    if (seg.bytes === 0) return;
    const buf = fs.readFileSync(seg.file);
    let end = buf.length;
    if (buf[end - 1] !== 0x0a) {
      const nl = buf.lastIndexOf(0x0a);
      end = nl + 1;
    }
    let lastGood = 0;
    let goodEnd = end;
    // Walk back over lines that do not parse (a torn or garbled tail).
    while (goodEnd > 0) {
      const prevNl = buf.lastIndexOf(0x0a, goodEnd - 2);
      const line = buf.subarray(prevNl + 1, goodEnd - 1).toString('utf8');
      const seq = parseSeq(line);
      let ok = seq !== undefined;
      if (ok) {
        try {
          JSON.parse(line);
        } catch {
          ok = false;
        }
      }
      if (ok) {
        lastGood = seq!;
        break;
      }
      goodEnd = prevNl + 1;
    }
    if (goodEnd < buf.length) {
      const cutBytes = buf.length - goodEnd;
      fs.truncateSync(seg.file, goodEnd);
      seg.bytes = goodEnd;
      // The torn record's number may have left for Kafka before the crash: never reuse it.
      const lost = (lastGood || seg.firstSeq - 1) + 1;
      this.log.warn('spool: cut a torn tail (power loss or disk full?)', { file: seg.file, cutBytes, lostSeq: lost });
      seg.lastSeq = lost;
      this.dropped += 1;
      queueMicrotask(() => this.opts.onGap?.({ fromSeq: lost, toSeq: lost, reason: 'spool-corrupt', count: 1 }));
      return;
    }
    seg.lastSeq = lastGood || seg.firstSeq - 1;
  }

  private openActive(seg: Segment): void {
    this.fd = fs.openSync(seg.file, 'a', 0o640);
  }

  private roll(firstSeq: number): void {
    if (this.fd >= 0) {
      fs.fdatasyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    const active = this.segments[this.segments.length - 1];
    if (active && active.bytes === 0) {
      // Reuse an empty segment only if it starts where the next record goes.
      if (active.firstSeq === firstSeq) {
        this.openActive(active);
        return;
      }
      fs.rmSync(active.file, { force: true });
      this.segments.pop();
    }
    const seg: Segment = { firstSeq, file: path.join(this.opts.dir, segName(firstSeq)), bytes: 0, lastSeq: firstSeq - 1 };
    this.segments.push(seg);
    this.openActive(seg);
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

  private totalBytes(): number {
    let b = 0;
    for (const s of this.segments) b += s.bytes;
    return b + this.pendingBytes;
  }

  /**
   * Appends one encoded envelope. `seq` must be lastSeq + 1. Never blocks on I/O beyond a
   * buffered write(2); returns false when the record was refused (drop-newest at the bound).
   */
  append(seq: number, line: string, timeUs: number): boolean {
    if (this.closed) throw new SpoolError('spool is closed');
    if (seq !== this.lastSeqValue + 1) throw new SpoolError(`spool append out of order: seq ${seq} after ${this.lastSeqValue}`);
    this.lastSeqValue = seq;
    const bytes = Buffer.byteLength(line) + 1;
    if (this.totalBytes() + bytes > this.opts.maxBytes) {
      if (this.opts.onFull === 'drop-newest' || !this.dropOldestFor(bytes)) {
        this.refuse(seq);
        return false;
      }
    }
    this.closeRefusedRange();
    this.pending.push({ seq, line, timeUs });
    this.pendingBytes += bytes;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) this.writePending();
    else if (!this.writeScheduled) {
      this.writeScheduled = true;
      setImmediate(() => this.writePending());
    }
    return true;
  }

  private refuse(seq: number): void {
    this.dropped += 1;
    if (this.refused && this.refused.toSeq === seq - 1) this.refused.toSeq = seq;
    else {
      this.closeRefusedRange();
      this.refused = { fromSeq: seq, toSeq: seq };
      this.log.warn('spool full: refusing new events (onFull = drop-newest)', { limitBytes: this.opts.maxBytes, fromSeq: seq });
    }
    // The next segment must not claim the refused numbers.
  }

  private closeRefusedRange(): void {
    const r = this.refused;
    if (!r) return;
    this.refused = undefined;
    const gap: SpoolGap = { fromSeq: r.fromSeq, toSeq: r.toSeq, reason: 'spool-full', count: r.toSeq - r.fromSeq + 1 };
    this.log.warn('spool: events dropped at the bound', { ...gap });
    queueMicrotask(() => this.opts.onGap?.(gap));
  }

  /** drop-oldest: deletes whole segments (never the active one) until `bytes` fit. */
  private dropOldestFor(bytes: number): boolean {
    this.writePending();
    while (this.totalBytes() + bytes > this.opts.maxBytes) {
      if (this.segments.length < 2) {
        // Everything is in the active segment: close it so that it can go next time.
        const active = this.segments[0];
        if (!active || active.bytes === 0) return false;
        this.roll(this.writtenSeqValue + 1);
        continue;
      }
      const oldest = this.segments.shift()!;
      fs.rmSync(oldest.file, { force: true });
      this.diskCache = undefined;
      const from = Math.max(oldest.firstSeq, this.ackedSeqValue + 1);
      const to = oldest.lastSeq;
      if (to >= from) {
        this.dropped += to - from + 1;
        // Forget what is gone: acknowledged as far as the sink is concerned.
        this.ackedSeqValue = to;
        this.dropMemThrough(to);
        // An earlier agent.gap event may sit in a segment dropped now: each gap event covers the
        // whole run of contiguous drops so far, so the latest one alone names every lost number.
        if (this.dropRun && from === this.dropRun.toSeq + 1) this.dropRun.toSeq = to;
        else this.dropRun = { fromSeq: from, toSeq: to };
        const run = this.dropRun;
        const gap: SpoolGap = { fromSeq: run.fromSeq, toSeq: run.toSeq, reason: 'spool-full', count: run.toSeq - run.fromSeq + 1 };
        this.log.warn('spool full: deleted the oldest unsent segment (onFull = drop-oldest)', { ...gap, limitBytes: this.opts.maxBytes });
        queueMicrotask(() => this.opts.onGap?.(gap));
      }
      this.writeState(true);
    }
    return true;
  }

  private dropMemThrough(seq: number): void {
    while (this.memHead < this.mem.length && this.mem[this.memHead]!.seq <= seq) {
      this.memBytes -= this.mem[this.memHead]!.line.length + 1;
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

  /** Writes the records appended so far to the active segment (one write(2)). */
  writePending(): void {
    this.writeScheduled = false;
    if (this.pending.length === 0 || this.fd < 0) return;
    const recs = this.pending;
    this.pending = [];
    let text = '';
    for (const r of recs) text += r.line + '\n';
    const buf = Buffer.from(text, 'utf8');
    this.pendingBytes = 0;
    fs.writeSync(this.fd, buf);
    const seg = this.segments[this.segments.length - 1]!;
    seg.bytes += buf.length;
    const last = recs[recs.length - 1]!;
    seg.lastSeq = last.seq;
    this.writtenSeqValue = last.seq;
    this.dirty = true;
    if (this.opts.fsyncIntervalMs === 0) this.sync();
    for (const r of recs) {
      if (r.seq <= this.diskOnlyUntil) continue;
      this.mem.push(r);
      this.memBytes += r.line.length + 1;
    }
    while (this.memBytes > this.opts.memoryMaxBytes && this.memHead < this.mem.length) {
      const r = this.mem[this.memHead]!;
      this.memBytes -= r.line.length + 1;
      this.memHead += 1;
      this.diskOnlyUntil = r.seq;
    }
    this.compactMem();
    // The next segment is named after the next record this segment does not hold (a record being
    // appended right now may already have its number in lastSeq, but is not written yet).
    if (seg.bytes >= this.opts.segmentBytes) this.roll(this.writtenSeqValue + 1);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** fdatasync of the active segment if anything was written since the last one. */
  sync(): void {
    if (!this.dirty || this.fd < 0) return;
    this.dirty = false;
    try {
      fs.fdatasyncSync(this.fd);
    } catch (err) {
      this.log.error('spool fdatasync failed', { error: (err as Error).message });
    }
  }

  /** Resolves when records after `seq` are written (or immediately if there are). */
  waitForRecordsAfter(seq: number): Promise<void> {
    if (this.writtenSeqValue > seq || this.closed) return Promise.resolve();
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
   * before it is in the spool file.
   */
  read(afterSeq: number, maxRecords: number, maxBytes: number): SpoolRecord[] {
    const out: SpoolRecord[] = [];
    let bytes = 0;
    let next = Math.max(afterSeq, this.ackedSeqValue) + 1;
    while (next <= this.writtenSeqValue && out.length < maxRecords && bytes < maxBytes) {
      let r: SpoolRecord | undefined;
      if (next <= this.diskOnlyUntil) r = this.readDisk(next);
      else r = this.readMem(next);
      // Both readers return the first record at or after `next`, so holes (refused at the bound,
      // reported as a gap) are skipped; nothing means nothing more is stored.
      if (!r) break;
      out.push(r);
      bytes += r.line.length + 1;
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
      const records: SpoolRecord[] = [];
      const text = fs.readFileSync(seg.file, 'utf8');
      let pos = 0;
      while (pos < text.length) {
        const nl = text.indexOf('\n', pos);
        if (nl < 0) break;
        const line = text.slice(pos, nl);
        pos = nl + 1;
        const s = parseSeq(line);
        if (s === undefined) continue;
        const t = TIME_RE.exec(line);
        records.push({ seq: s, line, timeUs: t ? Number(t[1]) : 0 });
      }
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
    this.ackedSeqValue = Math.min(seq, this.writtenSeqValue);
    this.dropMemThrough(this.ackedSeqValue);
    this.deleteAcknowledgedSegments();
    this.writeState(false);
  }

  private deleteAcknowledgedSegments(): void {
    let deleted = false;
    while (this.segments.length > 1 && this.segments[0]!.lastSeq <= this.ackedSeqValue) {
      if (!deleted) this.writeState(true);
      const s = this.segments.shift()!;
      fs.rmSync(s.file, { force: true });
      if (this.diskCache?.firstSeq === s.firstSeq) this.diskCache = undefined;
      deleted = true;
    }
  }

  private writeState(force: boolean): void {
    if (this.ackedSeqValue === this.stateAckedWritten) return;
    const now = Date.now();
    if (!force && now - this.stateWrittenAtMs < 1000) return;
    this.stateWrittenAtMs = now;
    const tmp = path.join(this.opts.dir, 'state.json.tmp');
    fs.writeFileSync(tmp, JSON.stringify({ ackedSeq: this.ackedSeqValue }) + '\n');
    fs.renameSync(tmp, path.join(this.opts.dir, 'state.json'));
    this.stateAckedWritten = this.ackedSeqValue;
  }

  /** Event time (µs) of the oldest unacknowledged record, or undefined when all are delivered. */
  oldestPendingTimeUs(): number | undefined {
    if (this.ackedSeqValue >= this.writtenSeqValue) return this.pending[0]?.timeUs;
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
    };
  }

  /** Writes what is pending, fsyncs, records the acknowledged position and releases the lock. */
  close(): void {
    if (this.closed) return;
    this.writePending();
    this.closeRefusedRange();
    this.closed = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    this.dirty = true;
    this.sync();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.writeState(true);
    fs.rmSync(path.join(this.opts.dir, 'lock'), { force: true });
    this.wake();
  }
}
