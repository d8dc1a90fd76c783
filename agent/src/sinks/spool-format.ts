/**
 * Record framing of spool segments: how records are laid out on disk and read back.
 *
 * Framed segments (`seg-<first seq, 16 digits>.rws`, written since the framing was introduced):
 * each record is a 24-byte header, little-endian, then the payload and a newline:
 *
 *   offset  size  field
 *   0       4     payload length in bytes (u32)
 *   4       4     CRC-32 (zlib's polynomial) of bytes 8..23 of this header and of the payload
 *   8       8     seq (u64; a safe integer)
 *   16      8     event time, µs since the epoch (u64; a safe integer)
 *   24      n     payload: the encoded envelope, exactly the Kafka message value (UTF-8 JSON)
 *   24+n    1     0x0a (so `grep`/`strings` still find records; checked when reading)
 *
 * The reader knows each record's sequence number and time without parsing JSON, counts bytes
 * in one unit (the payload's byte length), and detects a torn or corrupt record by its length,
 * checksum or terminator instead of guessing from JSON syntax.
 *
 * Legacy segments (`seg-<first seq>.jsonl`, one envelope per line, written by agents before
 * framing) are still read: their seq and time are taken from the JSON text as before. An
 * upgraded agent delivers them first and never appends to them: new records always go to a
 * framed segment. So an upgrade loses nothing and needs no migration step; the last legacy
 * segment disappears once it is acknowledged.
 */
import zlib from 'node:zlib';

export const FRAMED_SEG_RE = /^seg-(\d{16})\.rws$/;
export const LEGACY_SEG_RE = /^seg-(\d{16})\.jsonl$/;
export const RECORD_HEADER_BYTES = 24;
/** Bytes of a record on disk beyond its payload: header and terminator. */
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + 1;
/** Larger payloads mean a corrupt length (an envelope is far smaller). */
const MAX_PAYLOAD_BYTES = 64 << 20;

export interface SpoolRecord {
  seq: number;
  /** The encoded envelope (without framing or newline). */
  line: string;
  /** Event time of the envelope (µs), for the lag. */
  timeUs: number;
  /** Byte length of `line` in UTF-8: the one size unit of the spool (memory and bounds). */
  bytes: number;
}

export function framedSegName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.rws`;
}

export function makeRecord(seq: number, line: string, timeUs: number): SpoolRecord {
  return { seq, line, timeUs, bytes: Buffer.byteLength(line) };
}

/** Bytes a record takes in a framed segment. */
export function diskBytes(r: SpoolRecord): number {
  return r.bytes + RECORD_OVERHEAD_BYTES;
}

function writeU64(buf: Buffer, v: number, off: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

/**
 * The CRC-32 of a record at `off` with an `n`-byte payload: header bytes 8..23 and the payload
 * are contiguous, so one zlib.crc32 call over them (the same value as the two-step CRC of the
 * header part, then the payload; no Buffer views per record: this runs for every event).
 */
function checksumAt(buf: Buffer, off: number, n: number): number {
  return zlib.crc32(buf.subarray(off + 8, off + RECORD_HEADER_BYTES + n));
}

/** Frames records into one buffer (one write(2)). */
export function encodeRecords(records: readonly SpoolRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += diskBytes(r);
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32LE(r.bytes, off);
    writeU64(out, r.seq, off + 8);
    writeU64(out, r.timeUs, off + 16);
    const written = out.write(r.line, off + RECORD_HEADER_BYTES, 'utf8');
    if (written !== r.bytes) throw new Error(`spool record ${r.seq}: payload size changed while framing`);
    out.writeUInt32LE(checksumAt(out, off, r.bytes), off + 4);
    out[off + RECORD_HEADER_BYTES + r.bytes] = 0x0a;
    off += diskBytes(r);
  }
  return out;
}

export interface Decoded {
  records: SpoolRecord[];
  /** Offset just after the last whole, valid record. */
  goodEnd: number;
  /** Why reading stopped before the end (a torn or corrupt record), if it did. */
  problem?: string;
}

/** Reads a framed segment; stops at the first record that is short, too long or fails its checksum. */
export function decodeFramed(buf: Buffer): Decoded {
  const records: SpoolRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + RECORD_OVERHEAD_BYTES > buf.length) return { records, goodEnd: off, problem: `torn header at byte ${off}` };
    const n = buf.readUInt32LE(off);
    if (n > MAX_PAYLOAD_BYTES) return { records, goodEnd: off, problem: `impossible length ${n} at byte ${off}` };
    const end = off + RECORD_HEADER_BYTES + n;
    if (end + 1 > buf.length) return { records, goodEnd: off, problem: `torn record at byte ${off}` };
    if (buf[end] !== 0x0a || buf.readUInt32LE(off + 4) !== checksumAt(buf, off, n)) return { records, goodEnd: off, problem: `checksum mismatch at byte ${off}` };
    records.push({ seq: readU64(buf, off + 8), timeUs: readU64(buf, off + 16), line: buf.toString('utf8', off + RECORD_HEADER_BYTES, end), bytes: n });
    off = end + 1;
  }
  return { records, goodEnd: off };
}

const SEQ_RE = /"seq":(\d+)/;
const TIME_RE = /"timeUs":(\d+)/;

/** The seq of a legacy JSON line (regex: the line is the envelope as encoded), if it has one. */
export function legacySeq(line: string): number | undefined {
  const m = SEQ_RE.exec(line);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Reads a legacy JSON-lines segment. A last line without its newline, or lines at the end that
 * are not JSON with a seq, are a torn tail: reading stops before them.
 */
export function decodeLegacy(buf: Buffer): Decoded {
  const records: SpoolRecord[] = [];
  let end = buf.length;
  if (end > 0 && buf[end - 1] !== 0x0a) end = buf.lastIndexOf(0x0a) + 1;
  // The last whole line that parses: everything after it is a torn or garbled tail.
  let goodEnd = end;
  while (goodEnd > 0) {
    const prevNl = buf.lastIndexOf(0x0a, goodEnd - 2);
    const line = buf.subarray(prevNl + 1, goodEnd - 1).toString('utf8');
    let ok = legacySeq(line) !== undefined;
    if (ok) {
      try {
        JSON.parse(line);
      } catch {
        ok = false;
      }
    }
    if (ok) break;
    goodEnd = prevNl + 1;
  }
  let pos = 0;
  while (pos < goodEnd) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0 || nl >= goodEnd) break;
    const bytes = buf.subarray(pos, nl);
    pos = nl + 1;
    const line = bytes.toString('utf8');
    const seq = legacySeq(line);
    if (seq === undefined) continue;
    const t = TIME_RE.exec(line);
    records.push({ seq, line, timeUs: t ? Number(t[1]) : 0, bytes: bytes.length });
  }
  return goodEnd < buf.length ? { records, goodEnd, problem: 'torn or garbled last line' } : { records, goodEnd };
}
