/**
 * The spool's files on a real filesystem: the owner lock (a reused pid is no owner), symlinks
 * planted where spool files go (refused, never followed), and modes under an open umask.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import { FileTransport } from './lines.js';
import { Spool } from './spool.js';
import type { SpoolOptions } from './spool.js';
import { lockHolder, processStartTicks } from './spool-lock.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-spoolf-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function line(seq: number): string {
  return JSON.stringify({ v: 1, id: `id-${seq}`, host: 'gw', seq, timeUs: 1_700_000_000_000_000 + seq });
}

function open(dir: string, o: Partial<SpoolOptions> = {}): Spool {
  return Spool.open({ dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, fsyncIntervalMs: 0, onFull: 'drop-oldest', memoryMaxBytes: 1 << 20, logger: silentLogger(), ...o });
}

function bootId(): string {
  return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

async function liveChild(): Promise<ChildProcess> {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(c);
  await new Promise((r) => c.once('spawn', r));
  return c;
}

describe('spool lock', () => {
  it('when the lock names a live pid with another start time (pid reused after a reboot), then the spool opens', () => {
    const dir = tmpdir();
    // pid 1 is always alive; the start time in the lock is not its own.
    const ticks = processStartTicks(1)!;
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: 1, startTicks: ticks + 12345, bootId: bootId() }) + '\n');
    const s = open(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    s.close();
  });

  it('when the lock was written on an earlier boot, then the spool opens even if the pid and start time match', () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: 1, startTicks: processStartTicks(1), bootId: 'an-earlier-boot' }) + '\n');
    open(dir).close();
  });

  it('when an old-style lock (pid only) names a process started after the lock was written, then the spool opens', () => {
    const dir = tmpdir();
    const lock = path.join(dir, 'lock');
    // Our own parent is alive, but it started after this lock's (back-dated) write time.
    fs.writeFileSync(lock, `${process.ppid}\n`);
    const past = new Date('2001-01-01T00:00:00Z');
    fs.utimesSync(lock, past, past);
    open(dir).close();
  });

  it('when another live agent holds the lock, then opening fails naming its pid', async () => {
    const dir = tmpdir();
    const c = await liveChild();
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: c.pid, startTicks: processStartTicks(c.pid!), bootId: bootId() }) + '\n');
    expect(lockHolder(path.join(dir, 'lock'))).toEqual({ pid: c.pid, how: 'pid-and-start-time' });
    expect(() => open(dir)).toThrow(new RegExp(`in use by process ${c.pid}`));
  });

  it('when the owner exits, then its lock is stale at once', async () => {
    const dir = tmpdir();
    const c = await liveChild();
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: c.pid, startTicks: processStartTicks(c.pid!), bootId: bootId() }) + '\n');
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    open(dir).close();
  });
});

describe('spool files and symlinks', () => {
  it('when a segment file is a planted symlink, then opening refuses it and the target is untouched', () => {
    const dir = tmpdir();
    const target = path.join(tmpdir(), 'precious');
    fs.writeFileSync(target, 'keep me\n');
    fs.symlinkSync(target, path.join(dir, 'seg-0000000000000001.jsonl'));
    expect(() => open(dir)).toThrow(/seg-0000000000000001\.jsonl is not a regular file/);
    expect(fs.readFileSync(target, 'utf8')).toBe('keep me\n');
  });

  it('when the spool dir itself is a symlink, then opening refuses it', () => {
    const real = tmpdir();
    const link = path.join(tmpdir(), 'spool');
    fs.symlinkSync(real, link);
    expect(() => open(link)).toThrow(/symbolic link/);
  });

  it('when state.json, its temp file and the lock are planted symlinks, then they are replaced, never written through', () => {
    const dir = tmpdir();
    const target = path.join(tmpdir(), 'precious');
    fs.writeFileSync(target, 'keep me\n');
    for (const n of ['state.json', 'state.json.tmp', 'lock', 'lock.tmp']) fs.symlinkSync(target, path.join(dir, n));
    const s = open(dir);
    s.append(1, line(1), 1);
    s.writePending();
    s.ack(1);
    s.close();
    expect(fs.readFileSync(target, 'utf8')).toBe('keep me\n');
    expect(fs.lstatSync(path.join(dir, 'state.json')).isFile()).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))).toMatchObject({ ackedSeq: 1 });
  });

  it('when the umask is 000, then the spool dir is 0750 and its files 0640', () => {
    const parent = tmpdir();
    const dir = path.join(parent, 'spool');
    const old = process.umask(0o000);
    try {
      const s = open(dir);
      s.append(1, line(1), 1);
      s.writePending();
      s.ack(1);
      s.close();
      const s2 = open(dir);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o750);
      for (const n of fs.readdirSync(dir)) expect([n, fs.statSync(path.join(dir, n)).mode & 0o777]).toEqual([n, 0o640]);
      s2.close();
    } finally {
      process.umask(old);
    }
  });

  it('when the file sink path is a symlink, then connecting refuses it; under umask 000 a new file is 0640', async () => {
    const d = tmpdir();
    const target = path.join(d, 'precious');
    fs.writeFileSync(target, 'keep me\n');
    fs.symlinkSync(target, path.join(d, 'events.jsonl'));
    const t = new FileTransport(path.join(d, 'events.jsonl'));
    await expect(t.connect()).rejects.toThrow(/symbolic link/);
    const old = process.umask(0o000);
    try {
      const t2 = new FileTransport(path.join(d, 'new.jsonl'));
      await t2.connect();
      await t2.send([{ seq: 1, line: line(1), timeUs: 1, bytes: Buffer.byteLength(line(1)) }]);
      await t2.close();
      expect(fs.statSync(path.join(d, 'new.jsonl')).mode & 0o777).toBe(0o640);
    } finally {
      process.umask(old);
    }
    expect(fs.readFileSync(target, 'utf8')).toBe('keep me\n');
  });
});
