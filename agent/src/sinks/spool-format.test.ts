import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { silentLogger } from '@roamwatch/core';
import { Spool } from './spool.js';
import type { SpoolGap } from './spool.js';
import { RECORD_HEADER_BYTES, decodeFramed, decodeLegacy, encodeRecords, makeRecord } from './spool-format.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const line = (seq: number) => JSON.stringify({ v: 1, id: `id-${seq}`, host: 'gw', seq, timeUs: 1_700_000_000_000_000 + seq });

describe('spool record framing', () => {
  it('when one record is framed, then the bytes are the documented header, payload and newline', () => {
    const buf = encodeRecords([makeRecord(0x1_0000_0002, 'é', 0x0102_0304_0506)]);
    expect([...buf.subarray(0, 4)]).toEqual([2, 0, 0, 0]); // payload length: 'é' is 2 bytes
    expect([...buf.subarray(8, 16)]).toEqual([2, 0, 0, 0, 1, 0, 0, 0]); // seq, u64 LE
    expect([...buf.subarray(16, 24)]).toEqual([6, 5, 4, 3, 2, 1, 0, 0]); // timeUs, u64 LE
    expect(buf.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + 2).toString('utf8')).toBe('é');
    expect(buf.at(-1)).toBe(0x0a);
    expect(buf.length).toBe(RECORD_HEADER_BYTES + 2 + 1);
    // the checksum as documented (and as segments written before the one-call CRC hold it):
    // CRC-32 of header bytes 8..23, continued over the payload
    const documented = zlib.crc32(buf.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + 2), zlib.crc32(buf.subarray(8, RECORD_HEADER_BYTES)));
    expect(buf.readUInt32LE(4)).toBe(documented);
    expect(buf.readUInt32LE(4)).toBe(0x329e73ad); // computed by the two-call version this replaced
  });

  it('round-trips any records (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.string(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), { maxLength: 20 }), (rows) => {
        const recs = rows.map(([seq, l, t]) => makeRecord(seq, l, t));
        const d = decodeFramed(encodeRecords(recs));
        expect(d.problem).toBeUndefined();
        expect(d.records).toEqual(recs);
      }),
    );
  });

  it('when a byte of a record flips or the tail is torn, then reading stops before that record and says why', () => {
    const buf = encodeRecords([1, 2, 3].map((q) => makeRecord(q, line(q), q)));
    const second = encodeRecords([makeRecord(1, line(1), 1)]).length;
    const flipped = Buffer.from(buf);
    flipped[second + RECORD_HEADER_BYTES + 5]! ^= 0x20;
    expect(decodeFramed(flipped)).toMatchObject({ goodEnd: second, problem: expect.stringMatching(/checksum/) });
    expect(decodeFramed(flipped).records.map((r) => r.seq)).toEqual([1]);
    const torn = buf.subarray(0, buf.length - 3);
    expect(decodeFramed(torn).records.map((r) => r.seq)).toEqual([1, 2]);
    expect(decodeFramed(torn).problem).toMatch(/torn/);
  });

  it('reads legacy JSON lines, cutting a torn last line', () => {
    const buf = Buffer.from(`${line(1)}\n${line(2)}\n${line(3).slice(0, 10)}`);
    const d = decodeLegacy(buf);
    expect(d.records.map((r) => [r.seq, r.timeUs])).toEqual([
      [1, 1_700_000_000_000_001],
      [2, 1_700_000_000_000_002],
    ]);
    expect(d.goodEnd).toBe(line(1).length + line(2).length + 2);
  });
});

describe('spool upgrade from JSON-lines segments', () => {
  it('when an older agent left .jsonl segments, then every unsent record is read, numbering continues, and new records go to a framed segment', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-spool-up-'));
    dirs.push(dir);
    // What an agent before the framing left: two segments, 1..5 acknowledged up to 2.
    fs.writeFileSync(path.join(dir, 'seg-0000000000000001.jsonl'), [1, 2, 3].map((q) => line(q) + '\n').join(''));
    fs.writeFileSync(path.join(dir, 'seg-0000000000000004.jsonl'), [4, 5].map((q) => line(q) + '\n').join(''));
    fs.writeFileSync(path.join(dir, 'state.json'), '{"ackedSeq":2}\n');
    const gaps: SpoolGap[] = [];
    const opts = { dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, fsyncIntervalMs: 0, onFull: 'drop-oldest' as const, memoryMaxBytes: 1 << 20, onGap: (g: SpoolGap) => gaps.push(g), logger: silentLogger() };
    const s = Spool.open(opts);
    expect(s.lastSeq).toBe(5);
    expect(s.read(0, 100, Infinity).map((r) => [r.seq, r.line])).toEqual([3, 4, 5].map((q) => [q, line(q)]));
    s.append(6, line(6), 6);
    s.writePending();
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()).toEqual(['seg-0000000000000001.jsonl', 'seg-0000000000000004.jsonl', 'seg-0000000000000006.rws']);
    s.ack(5);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('seg-'))).toEqual(['seg-0000000000000006.rws']);
    s.close();
    const again = Spool.open(opts);
    expect(again.read(0, 100, Infinity).map((r) => r.seq)).toEqual([6]);
    again.close();
    expect(gaps).toEqual([]);
  });
});
