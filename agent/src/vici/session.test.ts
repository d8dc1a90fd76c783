import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from './codec.js';
import type { ViciMessage } from './codec.js';
import { parseViciUri } from './connection.js';
import { PktCmdResponse, PktEventConfirm } from './constants.js';
import {
  ViciCommandUnknownError,
  ViciConfigError,
  ViciConnectionError,
  ViciEventUnknownError,
  ViciSessionClosedError,
  ViciTimeoutError,
} from './errors.js';
import { FakeCharon } from './fake-charon.js';
import type { FakeCharonOptions } from './fake-charon.js';
import { ViciSession } from './session.js';
import type { ViciConnectionEvent, ViciEvent, ViciSessionOptions } from './session.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(fakeOpts: FakeCharonOptions = {}, opts: ViciSessionOptions = {}): Promise<{ fake: FakeCharon; session: ViciSession; states: ViciConnectionEvent[] }> {
  const fake = await FakeCharon.start(fakeOpts);
  fake.command('version', () => ({ daemon: 'charon', version: '5.9.8' }));
  const session = new ViciSession({ uri: fake.uri, commandTimeoutMs: 2000, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, allowedCommands: 'any', ...opts });
  const states: ViciConnectionEvent[] = [];
  session.connectionEvents$.subscribe((e) => states.push(e));
  cleanups.push(async () => {
    await session.close();
    await fake.stop();
  });
  await session.connect();
  return { fake, session, states };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('ViciSession commands', () => {
  it('when a command is called, then the response message resolves', async () => {
    const { session } = await setup();
    expect(await session.call('version')).toEqual({ daemon: 'charon', version: '5.9.8' });
  });

  it('when charon answers CMD_UNKNOWN, then ViciCommandUnknownError', async () => {
    const { session } = await setup();
    await expect(session.call('no-such')).rejects.toBeInstanceOf(ViciCommandUnknownError);
    expect(await session.call('version')).toMatchObject({ daemon: 'charon' });
  });

  it('when several commands are called at once, then only one is in flight at a time and answers match', async () => {
    const { fake, session } = await setup();
    let inHandler = 0;
    let maxInHandler = 0;
    fake.command('echo', async (req) => {
      inHandler++;
      maxInHandler = Math.max(maxInHandler, inHandler);
      await sleep(Number(req['delay']));
      inHandler--;
      return { n: req['n'] as string };
    });
    const results = await Promise.all([30, 1, 10, 0, 5].map((delay, n) => session.call('echo', { n, delay })));
    expect(results.map((r) => r['n'])).toEqual(['0', '1', '2', '3', '4']);
    expect(maxInHandler).toBe(1);
  });

  it('when a command gets no answer, then ViciTimeoutError, the connection is reset and the next call works', async () => {
    const { fake, session, states } = await setup({}, { commandTimeoutMs: 100 });
    let late: (() => Promise<void>) | undefined;
    fake.command('hang', (_req, client) => {
      late = () => client.respond({ late: 'yes' });
      return undefined;
    });
    await expect(session.call('hang')).rejects.toBeInstanceOf(ViciTimeoutError);
    await late?.(); // a late answer on the old connection must not be taken for anything
    expect(await session.call('version')).toMatchObject({ daemon: 'charon' });
    expect(states.find((s) => s.type === 'disconnected')).toMatchObject({ reason: 'command-timeout' });
    expect(session.counters.timeouts).toBe(1);
  });

  it('when charon closes the connection mid-command, then ViciConnectionError and the session reconnects', async () => {
    const { fake, session, states } = await setup();
    fake.command('crash', (_req, client) => {
      client.destroy();
      return undefined;
    });
    const err = await session.call('crash').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViciConnectionError);
    expect((err as ViciConnectionError).retriable).toBe(true);
    expect(await session.call('version')).toMatchObject({ daemon: 'charon' });
    await until(() => states.some((s) => s.type === 'reconnected'));
    expect(states.map((s) => s.type)).toEqual(['connected', 'disconnected', 'reconnecting', 'reconnected']);
  });

  it('when charon sends a malformed segment, then the connection is dropped as a protocol error and re-established', async () => {
    const { fake, session, states } = await setup();
    fake.command('garbage', (_req, client) => {
      void client.sendRaw(Buffer.from([0, 0, 0, 2, 1, 9]));
      return undefined;
    });
    await expect(session.call('garbage')).rejects.toBeInstanceOf(ViciConnectionError);
    expect(states.find((s) => s.type === 'disconnected')).toMatchObject({ reason: 'protocol-error' });
    expect(await session.call('version')).toMatchObject({ daemon: 'charon' });
  });

  it('when charon accepts every reconnect and sends garbage at once, then the delay grows instead of resetting each time', async () => {
    let garbage = false;
    const { fake, states } = await setup(
      {
        onAccept: (client) => {
          if (garbage) void client.sendRaw(Buffer.from([0, 0, 0, 2, 1, 9]));
        },
      },
      { reconnect: { initialDelayMs: 10, maxDelayMs: 2000, resetAfterHealthyMs: 60_000 } },
    );
    garbage = true;
    fake.dropClients();
    await until(() => states.filter((s) => s.type === 'reconnecting').length >= 5, 10_000);
    const tries = states.filter((s): s is Extract<ViciConnectionEvent, { type: 'reconnecting' }> => s.type === 'reconnecting').slice(0, 5);
    // Before: every disconnect reset the counter, so each reconnect waited attempt 1's delay.
    expect(tries.map((t) => t.attempt)).toEqual([1, 2, 3, 4, 5]);
    // With jitter each delay is within [d/2, d] of 10·2^(n-1): the fifth is above the first.
    expect(tries[4]!.delayMs).toBeGreaterThanOrEqual(80);
    expect(tries[0]!.delayMs).toBeLessThanOrEqual(10);
  });

  it('when a response arrives with nothing in flight, then it is a protocol error', async () => {
    const { fake, session, states } = await setup();
    await session.call('version');
    await [...fake.clients][0]!.sendRaw(encodePacket({ type: PktCmdResponse, message: {} }));
    await until(() => states.some((s) => s.type === 'disconnected'));
    expect(states.find((s) => s.type === 'disconnected')).toMatchObject({ reason: 'protocol-error' });
  });
});

describe('ViciSession streamed commands', () => {
  it('when list-sas streams list-sa events, then they are collected and the stream event is unregistered', async () => {
    const { fake, session } = await setup();
    fake.command('list-sas', async (_req, client) => {
      for (let i = 0; i < 3; i++) await client.emit('list-sa', { [`sa${i}`]: { uniqueid: String(i) } });
      return {};
    });
    const { streamed } = await session.callStreaming('list-sas', 'list-sa');
    expect(streamed).toEqual([{ sa0: { uniqueid: '0' } }, { sa1: { uniqueid: '1' } }, { sa2: { uniqueid: '2' } }]);
    await until(() => fake.registrationCount('list-sa') === 0);
    expect(fake.requests.map((r) => `${r.packet.type}:${r.packet.name}`)).toEqual(['3:list-sa', '0:list-sas', '4:list-sa']);
  });

  it('when the streamed command fails, then the stream event is still unregistered', async () => {
    const { fake, session } = await setup();
    await expect(session.callStreaming('list-nothing', 'list-sa')).rejects.toBeInstanceOf(ViciCommandUnknownError);
    await until(() => fake.registrationCount('list-sa') === 0);
    expect(fake.requests.at(-1)?.packet).toMatchObject({ type: 4, name: 'list-sa' });
  });

  it('when segments arrive one byte at a time, then commands, streams and events still work', async () => {
    const { fake, session } = await setup({ chunking: 'byte' });
    fake.command('list-sas', async (_req, client) => {
      await client.emit('list-sa', { a: { k: 'v', l: ['1', '2'] } });
      return {};
    });
    const got = firstValueFrom(session.events('log').pipe(take(2), toArray()));
    await fake.waitForRegistration('log');
    expect(await session.call('version')).toMatchObject({ version: '5.9.8' });
    expect((await session.callStreaming('list-sas', 'list-sa')).streamed).toEqual([{ a: { k: 'v', l: ['1', '2'] } }]);
    await fake.emit('log', { msg: 'one' });
    await fake.emit('log', { msg: 'two' });
    expect((await got).map((e) => e.message['msg'])).toEqual(['one', 'two']);
  });
});

describe('ViciSession events', () => {
  it('when events arrive between a request and its response, then both are delivered correctly', async () => {
    const { fake, session } = await setup();
    const events: ViciEvent[] = [];
    const sub = session.events(['log', 'ike-updown']).subscribe((e) => events.push(e));
    await fake.waitForRegistration('ike-updown');
    fake.command('initiate', async (_req, client) => {
      await client.emit('log', { msg: 'initiating' });
      await client.emit('ike-updown', { up: 'yes' });
      return { success: 'yes' };
    });
    expect(await session.call('initiate', { child: 'net' })).toEqual({ success: 'yes' });
    await until(() => events.length === 2);
    expect(events.map((e) => e.name)).toEqual(['log', 'ike-updown']);
    sub.unsubscribe();
  });

  it('when charon does not know an event, then the subscriber gets ViciEventUnknownError', async () => {
    const { session } = await setup();
    const err = await firstValueFrom(session.events('no-such-event')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViciEventUnknownError);
  });

  it('when subscribers and a streamed command share an event, then charon sees one registration and everyone gets one copy', async () => {
    const { fake, session } = await setup();
    const a: ViciEvent[] = [];
    const b: ViciEvent[] = [];
    const subA = session.events('list-sa').subscribe((e) => a.push(e));
    const subB = session.events('list-sa').subscribe((e) => b.push(e));
    await fake.waitForRegistration('list-sa');
    fake.command('list-sas', async (_req, client) => {
      await client.emit('list-sa', { x: { y: 'z' } });
      return {};
    });
    const { streamed } = await session.callStreaming('list-sas', 'list-sa');
    expect(streamed).toHaveLength(1);
    expect(fake.registrationCount('list-sa')).toBe(1);
    await until(() => a.length === 1 && b.length === 1);
    subA.unsubscribe();
    await sleep(20);
    expect(fake.registrationCount('list-sa')).toBe(1);
    subB.unsubscribe();
    await until(() => fake.registrationCount('list-sa') === 0);
  });

  it('when a subscriber is slow, then the read loop keeps going, the queue is bounded and drops are counted', async () => {
    const { fake, session, states } = await setup({}, { eventBufferSize: 10, deliveryBatch: 5 });
    const seen: string[] = [];
    const sub = session.events('log').subscribe((e) => {
      seen.push(e.message['n'] as string);
      const until = Date.now() + 3;
      while (Date.now() < until) {
        /* a slow, synchronous subscriber */
      }
    });
    await fake.waitForRegistration('log');
    const client = [...fake.clients][0]!;
    const burst = Buffer.concat(Array.from({ length: 200 }, (_, n) => encodePacket({ type: 7, name: 'log', message: { n } })));
    await client.sendRaw(burst);
    const t0 = Date.now();
    expect(await session.call('version')).toMatchObject({ daemon: 'charon' });
    const callMs = Date.now() - t0;
    await until(() => session.counters.eventsDelivered + session.counters.eventsDropped === 200);
    expect(session.counters.eventsDropped).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(200);
    // drop-oldest: the last event always arrives.
    expect(seen.at(-1)).toBe('199');
    expect(states.some((s) => s.type === 'events-dropped')).toBe(true);
    expect(callMs).toBeLessThan(2000);
    sub.unsubscribe();
  });

  it('when drop-newest is chosen, then the first events are kept', async () => {
    const { fake, session } = await setup();
    const seen: string[] = [];
    const sub = session.events('log', { bufferSize: 5, overflow: 'drop-newest' }).subscribe((e) => seen.push(e.message['n'] as string));
    await fake.waitForRegistration('log');
    await [...fake.clients][0]!.sendRaw(Buffer.concat(Array.from({ length: 50 }, (_, n) => encodePacket({ type: 7, name: 'log', message: { n } }))));
    await until(() => session.counters.eventsDelivered + session.counters.eventsDropped === 50);
    expect(seen.slice(0, 5)).toEqual(['0', '1', '2', '3', '4']);
    sub.unsubscribe();
  });

  it('when charon restarts while subscribed, then the session reconnects, re-registers and delivers the next events', async () => {
    const { fake, session, states } = await setup();
    const events: ViciEvent[] = [];
    const sub = session.events(['ike-updown', 'log']).subscribe((e) => events.push(e));
    await fake.waitForRegistration('log');
    await fake.stopListening();
    await until(() => states.some((s) => s.type === 'reconnecting' && s.attempt >= 2));
    await fake.listen();
    await until(() => states.some((s) => s.type === 'reconnected'));
    expect(fake.registrationCount('ike-updown')).toBe(1);
    expect(fake.registrationCount('log')).toBe(1);
    const reconnected = states.find((s) => s.type === 'reconnected') as Extract<ViciConnectionEvent, { type: 'reconnected' }>;
    expect(reconnected.reregistered.sort()).toEqual(['ike-updown', 'log']);
    expect(states.find((s) => s.type === 'disconnected')).toMatchObject({ reason: 'socket-closed' });
    await fake.emit('ike-updown', { up: 'yes' });
    await until(() => events.length === 1);
    expect(session.counters.reconnects).toBe(1);
    sub.unsubscribe();
  });

  it('when commands are queued during a reconnect, then they run after re-registration', async () => {
    const { fake, session, states } = await setup();
    const sub = session.events('log').subscribe();
    await fake.waitForRegistration('log');
    fake.dropClients();
    await until(() => states.some((s) => s.type === 'disconnected'));
    const answer = session.call('version');
    expect(await answer).toMatchObject({ daemon: 'charon' });
    const names = fake.requests.map((r) => r.packet.name);
    expect(names.slice(-2)).toEqual(['log', 'version']);
    sub.unsubscribe();
  });

  it('when a subscription is made before connect(), then no registration times out and events flow once connected', async () => {
    const fake = await FakeCharon.start();
    const session = new ViciSession({ uri: fake.uri, commandTimeoutMs: 50 });
    cleanups.push(async () => {
      await session.close();
      await fake.stop();
    });
    const events: ViciEvent[] = [];
    let failed: unknown;
    session.events('log').subscribe({ next: (e) => events.push(e), error: (e: unknown) => (failed = e) });
    await sleep(150);
    expect(failed).toBeUndefined();
    await session.connect();
    await fake.waitForRegistration('log');
    await fake.emit('log', { msg: 'x' });
    await until(() => events.length === 1);
    expect(fake.registrationCount('log')).toBe(1);
  });

  it('when a subscription is made while reconnecting, then it is registered on reconnect without timing out', async () => {
    const { fake, session, states } = await setup({}, { commandTimeoutMs: 100, reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
    fake.dropClients();
    await until(() => states.some((s) => s.type === 'reconnecting'));
    let failed: unknown;
    const events: ViciEvent[] = [];
    session.events('ike-updown').subscribe({ next: (e) => events.push(e), error: (e: unknown) => (failed = e) });
    await until(() => states.some((s) => s.type === 'reconnected'), 5000);
    expect(failed).toBeUndefined();
    await fake.waitForRegistration('ike-updown');
    await fake.emit('ike-updown', { up: 'yes' });
    await until(() => events.length === 1);
  });

  it('when reconnect is disabled and the connection breaks, then subscribers error and calls fail', async () => {
    const { fake, session } = await setup({}, { reconnect: { enabled: false } });
    const err = firstValueFrom(session.events('log')).catch((e: unknown) => e);
    await fake.waitForRegistration('log');
    fake.dropClients();
    expect(await err).toBeInstanceOf(ViciConnectionError);
    await expect(session.call('version')).rejects.toBeInstanceOf(ViciSessionClosedError);
  });
});

describe('ViciSession lifecycle and options', () => {
  it('when closed, then pending calls reject, subscribers complete and later calls reject', async () => {
    const { fake, session } = await setup();
    fake.command('hang', () => undefined);
    let completed = false;
    session.events('log').subscribe({ complete: () => (completed = true) });
    await fake.waitForRegistration('log');
    const pending = session.call('hang').catch((e: unknown) => e);
    await session.close();
    expect(await pending).toBeInstanceOf(ViciSessionClosedError);
    expect(completed).toBe(true);
    await expect(session.call('version')).rejects.toBeInstanceOf(ViciSessionClosedError);
    await session.close();
  });

  it('when closed while a registration is still in flight, then the subscriber completes (no error)', async () => {
    const { session } = await setup();
    let completed = false;
    let failed: unknown;
    session.events('log').subscribe({ complete: () => (completed = true), error: (e: unknown) => (failed = e) });
    await session.close(); // the EVENT_REGISTER may or may not have been answered yet
    expect(failed).toBeUndefined();
    expect(completed).toBe(true);
  });

  it('when nothing listens on the socket, then connect rejects with a retriable ViciConnectionError', async () => {
    const session = new ViciSession({ uri: 'unix:///nonexistent/charon.vici' });
    const err = await session.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViciConnectionError);
    expect((err as ViciConnectionError).retriable).toBe(true);
  });

  it('when options are wrong, then ViciConfigError names the bad value', () => {
    expect(() => new ViciSession({ uri: 'http://x' })).toThrow(ViciConfigError);
    expect(() => new ViciSession({ uri: 'unix://relative' })).toThrow(/absolute path/);
    expect(() => new ViciSession({ commandTimeoutMs: -1 })).toThrow(/commandTimeoutMs must be a positive number, got -1/);
    expect(() => new ViciSession({ timeout: 5 } as never)).toThrow(/unknown vici option "timeout"/);
    expect(() => new ViciSession({ reconnect: { delay: 1 } as never })).toThrow(/reconnect.delay/);
    expect(() => new ViciSession({ maxFrameBytes: 1 << 20 })).toThrow(/at most 524288/);
  });

  it('when parsing uris, then unix and tcp forms are understood', () => {
    expect(parseViciUri('unix:///var/run/charon.vici')).toEqual({ kind: 'unix', path: '/var/run/charon.vici' });
    expect(parseViciUri('tcp://127.0.0.1:4502')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 4502 });
    expect(parseViciUri('tcp://[::1]:4502')).toEqual({ kind: 'tcp', host: '::1', port: 4502 });
    expect(() => parseViciUri('tcp://host')).toThrow(ViciConfigError);
  });

  it('when the uri is tcp://, then the session talks over TCP', async () => {
    const net = await import('node:net');
    const server = net.createServer((sock) => {
      sock.on('data', () => {
        sock.write(encodePacket({ type: PktCmdResponse, message: { daemon: 'tcp' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const session = new ViciSession({ uri: `tcp://127.0.0.1:${port}` });
    await session.connect();
    const res: ViciMessage = await session.call('version');
    expect(res).toEqual({ daemon: 'tcp' });
    await session.close();
    await new Promise((r) => server.close(r));
    void PktEventConfirm;
  });
});
