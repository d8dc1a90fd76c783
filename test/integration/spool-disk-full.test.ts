/**
 * The spool on a filesystem that really fills up (a small tmpfs this test mounts): the agent
 * keeps running, holds events in memory while it cannot write, delivers them meanwhile,
 * announces every loss as a gap, and writes again when space returns.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import { Spool } from '@roamwatch/agent';
import type { SpoolGap, SpoolOptions } from '@roamwatch/agent';
import { CLI, until } from './agent-harness.js';
import { mountTmpfs } from './tmpfs.js';
import type { Tmpfs } from './tmpfs.js';

const mounts: Tmpfs[] = [];
const spools: Spool[] = [];
afterEach(() => {
  for (const s of spools.splice(0)) s.close();
  for (const m of mounts.splice(0)) m.remove();
});

function tmpfs(bytes: number): Tmpfs {
  const m = mountTmpfs(bytes);
  mounts.push(m);
  return m;
}

function line(seq: number, pad = 60): string {
  return JSON.stringify({ v: 1, id: `id-${seq}`, host: 'gw', seq, timeUs: 1_700_000_000_000_000 + seq, pad: 'x'.repeat(pad) });
}

function open(dir: string, o: Partial<SpoolOptions> = {}, gaps: SpoolGap[] = []): Spool {
  const s = Spool.open({
    dir,
    maxBytes: 1 << 30,
    segmentBytes: 64 * 1024,
    fsyncIntervalMs: 0,
    onFull: 'drop-oldest',
    memoryMaxBytes: 1 << 20,
    minFreeBytes: 0,
    onGap: (g) => gaps.push(g),
    logger: silentLogger(),
    ...o,
  });
  spools.push(s);
  return s;
}

function close(s: Spool): void {
  s.close();
  spools.splice(spools.indexOf(s), 1);
}

/** Every seq in 1..last is either readable or inside a reported gap, never both, never neither. */
function expectAccounted(records: number[], gaps: SpoolGap[], last: number): void {
  const lost = new Set<number>();
  for (const g of gaps) for (let q = g.fromSeq; q <= g.toSeq; q++) lost.add(q);
  const have = new Set(records);
  for (let q = 1; q <= last; q++) expect([q, have.has(q) !== lost.has(q)]).toEqual([q, true]);
}

const seqs = (s: Spool) => s.read(0, 1e9, Infinity).map((r) => r.seq);

describe('spool on a full disk', () => {
  it('when the disk is full at start, then the spool opens, holds events in memory, serves them, and writes them once space returns', async () => {
    const fsys = tmpfs(1 << 20);
    fs.mkdirSync(path.join(fsys.dir, 'spool'));
    fsys.fill();
    const gaps: SpoolGap[] = [];
    const s = open(path.join(fsys.dir, 'spool'), {}, gaps);
    expect(s.stats().holding).toBe(true);
    for (let q = 1; q <= 200; q++) expect(s.append(q, line(q), q)).toBe(true);
    // Deliverable from memory while nothing can be written.
    expect(seqs(s)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    s.ack(50);
    fsys.unfill();
    await until('the spool writes again', 15_000, () => !s.stats().holding);
    close(s);
    const again = open(path.join(fsys.dir, 'spool'), {}, gaps);
    expect(again.lastSeq).toBe(200);
    expect(seqs(again)).toEqual(Array.from({ length: 150 }, (_, i) => i + 51));
    expect(gaps).toEqual([]);
  });

  it('when the disk fills while writing, then no torn record is left, nothing is lost, and a restart reports no corruption', async () => {
    const fsys = tmpfs(1 << 20);
    const dir = path.join(fsys.dir, 'spool');
    const gaps: SpoolGap[] = [];
    const s = open(dir, {}, gaps);
    let q = 0;
    for (; q < 100; q++) s.append(q + 1, line(q + 1), q + 1);
    s.writePending();
    fsys.fill();
    // Big records so that one batch cannot fit whatever scrap of a block is left.
    for (; q < 400; q++) expect(s.append(q + 1, line(q + 1, 2000), q + 1)).toBe(true);
    s.writePending();
    expect(s.stats().holding).toBe(true);
    expect(seqs(s).length).toBe(400);
    fsys.unfill();
    await until('the spool writes again', 15_000, () => !s.stats().holding);
    close(s);
    const again = open(dir, {}, gaps);
    expect(seqs(again)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expect(gaps).toEqual([]);
  });

  it('when memory for held events runs out, then the oldest held go first and every lost number is in a disk-full gap', async () => {
    const fsys = tmpfs(1 << 20);
    fs.mkdirSync(path.join(fsys.dir, 'spool'));
    fsys.fill();
    const gaps: SpoolGap[] = [];
    const s = open(path.join(fsys.dir, 'spool'), { memoryMaxBytes: 16 * 1024 }, gaps);
    for (let q = 1; q <= 1000; q++) expect(s.append(q, line(q), q)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.reason === 'disk-full')).toBe(true);
    expectAccounted(seqs(s), gaps, 1000);
    expect(s.stats().heldBytes).toBeLessThanOrEqual(16 * 1024);
    expect(s.stats().droppedEvents).toBe(1000 - seqs(s).length);
  });

  it('when the filesystem nears full, then the spool stays within its free-space bound and drops oldest with spool-full gaps (never ENOSPC)', async () => {
    const fsys = tmpfs(2 << 20);
    const gaps: SpoolGap[] = [];
    const minFree = 512 * 1024;
    const s = open(path.join(fsys.dir, 'spool'), { minFreeBytes: minFree, memoryMaxBytes: 64 * 1024 }, gaps);
    const last = 12_000; // ≈ 5 MiB of records on a 2 MiB filesystem
    let lowestFree = Infinity;
    for (let q = 1; q <= last; q++) {
      expect(s.append(q, line(q, 400), q)).toBe(true);
      if (q % 500 === 0) {
        s.writePending();
        expect(s.stats().holding).toBe(false);
        lowestFree = Math.min(lowestFree, fsys.freeBytes());
      }
    }
    s.writePending();
    await new Promise((r) => setImmediate(r));
    expect(s.stats().holding).toBe(false);
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.reason === 'spool-full')).toBe(true);
    // The bound is checked with statfs at most once a second: allow one segment of slack.
    expect(lowestFree).toBeGreaterThan(minFree - 2 * 64 * 1024);
    expectAccounted(seqs(s), gaps.slice(-1), last);
  });
});

describe('roamwatch agent on a full disk', () => {
  it('when the spool is on a full filesystem, then the agent keeps running and delivering, writes again when space returns, and stops with 0', async () => {
    const fsys = tmpfs(1 << 20);
    const spoolDir = path.join(fsys.dir, 'spool');
    fs.mkdirSync(spoolDir);
    fsys.fill();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-diskfull-'));
    const sinkFile = path.join(out, 'events.jsonl');
    const env = {
      ...process.env,
      ROAMWATCH_VICI_ENABLED: 'false',
      ROAMWATCH_RTNETLINK_ENABLED: 'false',
      ROAMWATCH_PATH_ENABLED: 'false',
      ROAMWATCH_SPOOL_MIN_FREE_BYTES: '0',
    };
    const agent = spawn(process.execPath, [CLI, 'agent', '--sink', `file:${sinkFile}`, '--spool-dir', spoolDir, '--status-interval-ms', '50', '--host-id', 'full-gw'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    try {
      const count = () => (fs.existsSync(sinkFile) ? fs.readFileSync(sinkFile, 'utf8').split('\n').filter(Boolean).length : 0);
      // Heartbeats reach the sink although the spool cannot write a byte.
      await until('20 events delivered from memory', 20_000, () => count() >= 20);
      expect(agent.exitCode).toBeNull();
      expect(stderr).toMatch(/cannot write to disk; holding new events in memory/);
      fsys.unfill();
      await until('the spool writes again', 20_000, () => /writing to disk again/.test(stderr));
      const before = count();
      await until('more events', 20_000, () => count() > before + 5);
      agent.kill('SIGTERM');
      expect(await exited).toBe(0);
      const events = fs
        .readFileSync(sinkFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { seq: number; kind: string; payload: { spool?: { holding?: boolean } } });
      // Contiguous numbers from 1, no gap event: nothing was lost.
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
      expect(events.filter((e) => e.kind === 'agent.gap')).toEqual([]);
      // The heartbeat said so while it lasted.
      expect(events.some((e) => e.kind === 'agent.status' && e.payload.spool?.holding === true)).toBe(true);
    } finally {
      if (agent.exitCode === null) agent.kill('SIGKILL');
      await exited;
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
