/**
 * The gap/resync state machine of RtnetlinkSource (source.ts: gap → dump → buffered
 * notifications → diff → report), driven frame by frame through a fake rtnl-pipe helper: a
 * tiny script at `helperPath` that relays its stdout and stdin to a unix socket held by the
 * test. No root, no netlink: the test writes the frames the real helper would.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME } from './frames.js';
import { RtnetlinkSource } from './source.js';
import type { ResyncReport, StateChange } from './state.js';

function le(size: 1 | 2 | 4, v: number): number[] {
  const o: number[] = [];
  for (let i = 0; i < size; i++) o.push((v >>> (8 * i)) & 0xff);
  return o;
}
const attr = (type: number, payload: number[]): number[] => {
  const len = 4 + payload.length;
  const pad = (4 - (len % 4)) % 4;
  return [...le(2, len), ...le(2, type), ...payload, ...new Array<number>(pad).fill(0)];
};
const nlmsg = (type: number, flags: number, body: number[]): number[] => [...le(4, 16 + body.length), ...le(2, type), ...le(2, flags), ...le(4, 1), ...le(4, 0), ...body];
const NLM_F_MULTI = 0x2;
/** RTM_NEWROUTE (24) / RTM_DELROUTE (25) for `10.<n>.0.0/16 dev 3 table main proto boot` (linux/rtnetlink.h). */
const route = (n: number, type = 24, flags = 0) =>
  nlmsg(type, flags, [2 /* AF_INET */, 16, 0, 0, 254 /* RT_TABLE_MAIN */, 3 /* RTPROT_BOOT */, 0, 1 /* RTN_UNICAST */, ...le(4, 0), ...attr(15, le(4, 254)), ...attr(1, [10, n, 0, 0]), ...attr(4, le(4, 3))]);
/** NLMSG_DONE (3) closing a dump. */
const done = () => nlmsg(3, NLM_F_MULTI, le(4, 0));

function frame(type: number, payload: number[] = []): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt32LE(payload.length, 0);
  b.writeUInt16LE(type, 4);
  Buffer.from(payload).copy(b, 8);
  return b;
}

/** The test's end of the fake helper: frames out, dump requests in. */
class FakeHelper {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-fake-rtnl-'));
  readonly helperPath = path.join(this.dir, 'rtnl-pipe');
  private readonly server: net.Server;
  private conn: net.Socket | undefined;
  connections = 0;
  dumps: number[] = [];
  private waiters: Array<() => void> = [];

  constructor() {
    const sock = path.join(this.dir, 'relay.sock');
    fs.writeFileSync(
      this.helperPath,
      `#!${process.execPath}\n` +
        `const s = require('node:net').connect(${JSON.stringify(sock)});\n` +
        `s.pipe(process.stdout); process.stdin.pipe(s);\n` +
        `s.on('close', () => process.exit(0)); process.stdin.on('end', () => process.exit(0));\n`,
      { mode: 0o755 },
    );
    this.server = net.createServer((c) => {
      this.conn = c;
      this.connections += 1;
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const m = /^dump (\d+)$/.exec(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (m) this.dumps.push(Number(m[1]));
          this.notify();
        }
      });
      c.on('error', () => undefined);
      this.notify();
      c.write(frame(FRAME.READY, le(4, 1 << 20)));
    });
    this.server.listen(sock);
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(what: string, cond: () => boolean): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > 10_000) throw new Error(`fake helper: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 20);
      });
    }
  }

  /** Waits for the n-th dump request and returns its id. */
  async dumpRequest(n: number): Promise<number> {
    await this.until(`dump request #${n}`, () => this.dumps.length >= n);
    return this.dumps[n - 1]!;
  }

  send(...frames: Buffer[]): void {
    this.conn!.write(Buffer.concat(frames));
  }

  /** A whole dump answer: DUMP_START, the routes, NLMSG_DONE, DUMP_DONE. */
  answerDump(id: number, routes: number[], during: Buffer[] = []): void {
    const body = routes.flatMap((n) => route(n, 24, NLM_F_MULTI));
    this.send(frame(FRAME.DUMP_START, le(4, id)), ...during, frame(FRAME.DUMP, [...le(4, id), ...body, ...done()]), frame(FRAME.DUMP_DONE, le(4, id)));
  }

  /** Closes the relay: the fake helper process exits, as a crashed helper would. */
  crash(): void {
    this.conn?.destroy();
    this.conn = undefined;
  }

  close(): void {
    this.conn?.destroy();
    this.server.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(initialRoutes: number[]) {
  const fake = new FakeHelper();
  const source = new RtnetlinkSource({ helperPath: fake.helperPath, restartDelayMs: 10, resyncBackoffMaxMs: 400 });
  const changes: StateChange[] = [];
  const resyncs: ResyncReport[] = [];
  const warnings: Error[] = [];
  source.on('change', (c) => changes.push(c)).on('resync', (r) => resyncs.push(r)).on('warning', (e) => warnings.push(e));
  cleanups.push(() => fake.close());
  cleanups.push(() => source.stop());
  const start = source.start();
  fake.answerDump(await fake.dumpRequest(1), initialRoutes);
  await start;
  return { fake, source, changes, resyncs, warnings };
}

const dsts = (s: RtnetlinkSource) => [...s.mirror.routeStates()].map((r) => r.dst).sort();

describe('RtnetlinkSource gap/resync state machine (fake helper)', () => {
  it('when the initial dump arrives, then start() resolves with the mirror filled and no change emitted', async () => {
    const { source, changes, resyncs } = await started([1, 2]);
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    expect(changes).toEqual([]);
    expect(resyncs).toEqual([]);
  });

  it('when a notification arrives, then it is applied and emitted with cause event', async () => {
    const { fake, source, changes } = await started([1]);
    fake.send(frame(FRAME.EVENT, route(7)));
    await fake.until('the change', () => changes.length === 1);
    expect(changes[0]).toMatchObject({ op: 'added', cause: 'event' });
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.7.0.0/16']);
  });

  it('when an OVERFLOW frame comes, then the source re-dumps and emits exactly the lost changes with cause resync, and one report', async () => {
    const { fake, source, changes, resyncs } = await started([1, 2]);
    fake.send(frame(FRAME.OVERFLOW));
    await fake.until('the gap noticed', () => source.resyncPending);
    // The kernel meanwhile: 10.2 gone, 10.3 new (the notifications were lost).
    fake.answerDump(await fake.dumpRequest(2), [1, 3]);
    await fake.until('the resync report', () => resyncs.length === 1);
    expect(resyncs[0]).toMatchObject({ reason: 'overflow', overflows: 1, changesRecovered: 2 });
    expect(changes.map((c) => [c.op, c.cause]).sort()).toEqual([['added', 'resync'], ['removed', 'resync']]);
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.3.0.0/16']);
    expect(source.resyncPending).toBe(false);
    expect(source.stats).toMatchObject({ overflows: 1, resyncs: 1, changesRecovered: 2 });
  });

  it('when notifications arrive during a dump (after DUMP_START), then they are applied on top of it', async () => {
    const { fake, source, resyncs } = await started([1]);
    void source.resync();
    const id = await fake.dumpRequest(2);
    // The dump saw 10.1 and 10.4; 10.4 was deleted and 10.5 added while it ran.
    fake.answerDump(id, [1, 4], [frame(FRAME.EVENT, route(4, 25)), frame(FRAME.EVENT, route(5))]);
    await fake.until('the report', () => resyncs.length === 1);
    expect(resyncs[0]!.reason).toBe('requested');
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.5.0.0/16']);
  });

  it('when a gap comes after DUMP_START, then that dump is not trusted and another one follows (with backoff)', async () => {
    const { fake, source, resyncs } = await started([1]);
    fake.send(frame(FRAME.OVERFLOW));
    const id2 = await fake.dumpRequest(2);
    fake.answerDump(id2, [1, 2], [frame(FRAME.OVERFLOW)]);
    await fake.until('the first report', () => resyncs.length === 1);
    expect(source.resyncPending).toBe(true);
    fake.answerDump(await fake.dumpRequest(3), [1, 2, 3]);
    await fake.until('the second report', () => resyncs.length === 2);
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16']);
    expect(source.resyncPending).toBe(false);
  });

  it('when a TRUNCATED frame or an invalid message comes, then it is a gap like an overflow', async () => {
    const { fake, resyncs } = await started([1]);
    fake.send(frame(FRAME.TRUNCATED, le(4, 70_000)));
    fake.answerDump(await fake.dumpRequest(2), [1]);
    await fake.until('report 1', () => resyncs.length === 1);
    fake.send(frame(FRAME.EVENT, [1, 2, 3, 4, 5])); // 5 bytes: not a netlink message
    fake.answerDump(await fake.dumpRequest(3), [1]);
    await fake.until('report 2', () => resyncs.length === 2);
    expect(resyncs.map((r) => r.reason)).toEqual(['truncated', 'invalid']);
  });

  it('when the helper dies, then it is restarted and the mirror resynced (reason helper-restart)', async () => {
    const { fake, source, resyncs, warnings } = await started([1]);
    fake.crash();
    await fake.until('a new helper', () => fake.connections === 2);
    fake.answerDump(await fake.dumpRequest(2), [1, 9]);
    await fake.until('the report', () => resyncs.length === 1);
    expect(resyncs[0]!.reason).toBe('helper-restart');
    expect(source.stats.helperRestarts).toBe(1);
    expect(warnings.some((w) => /rtnl-pipe exited/.test(w.message))).toBe(true);
    expect(dsts(source)).toEqual(['10.1.0.0/16', '10.9.0.0/16']);
  });
});
