import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, validateEvent, createRealtimeClock } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { FakeCharon } from '../../vici/fake-charon.js';
import { decodePacket, encodePacket } from '../../vici/codec.js';
import { PktEvent } from '../../vici/constants.js';
import type { ViciMessage } from '../../vici/codec.js';
import * as golden from '../../vici/fixtures/charon-5.9.8.js';
import { createAgentSources } from '../sources.js';
import { ViciAdapter } from './vici.js';

/** The message of a recorded charon 5.9.8 segment. */
function recorded(f: golden.GoldenFixture): { name: string; message: ViciMessage } {
  const p = decodePacket(golden.fixtureBytes(f));
  return { name: (p as { name?: string }).name ?? '', message: (p as { message?: ViciMessage }).message ?? {} };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

let fake: FakeCharon | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

function serveLists(f: FakeCharon): void {
  const sa = recorded(golden.listSaEvent).message;
  const conn = recorded(golden.listConnEvent).message;
  f.command('list-sas', async (_req, client) => {
    await client.emit('list-sa', sa);
    return {};
  });
  f.command('list-conns', async (_req, client) => {
    await client.emit('list-conn', conn);
    return {};
  });
  f.command('version', () => ({ daemon: 'charon', version: '5.9.8', sysname: 'Linux' }));
}

describe('ViciAdapter', () => {
  it('when charon is there, then connected, a connect snapshot and recorded events become valid envelopes', async () => {
    fake = await FakeCharon.start();
    serveLists(fake);
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 100, commandTimeoutMs: 2000 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, clock: createRealtimeClock(), logger: silentLogger() });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await until(() => seen.some((e) => e.kind === 'vici.sa-snapshot'));
    await fake.waitForRegistration('ike-updown');
    for (const f of [golden.logReauth, golden.ikeUpdownDownReauth, golden.childUpdownDown, golden.ikeUpdownUp, golden.childUpdownUp, golden.ikeRekey, golden.childRekey, golden.ikeUpdate]) {
      const { name, message } = recorded(f);
      await fake.emit(name, message);
    }
    await until(() => seen.filter((e) => e.source === 'vici').length >= 10);
    for (const e of seen) expect(validateEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(seen.map((e) => e.kind)).toEqual([
      'vici.connection',
      'vici.sa-snapshot',
      'vici.log',
      'vici.ike-updown',
      'vici.child-updown',
      'vici.ike-updown',
      'vici.child-updown',
      'vici.ike-rekey',
      'vici.child-rekey',
      'vici.ike-update',
    ]);
    const snap = seen[1]!;
    expect(snap.kind === 'vici.sa-snapshot' && snap.payload).toMatchObject({ reason: 'connect', charonVersion: 'charon 5.9.8' });
    expect(snap.kind === 'vici.sa-snapshot' && snap.payload.ikeSas[0]?.name).toBe('rw');
    expect(adapter.report()).toMatchObject({ state: 'connected', uri: fake.uri });
    await s.stop();
  });

  it('when charon raises an event while answering the snapshot, then the event is in the stream (registered before the snapshot, on connect and reconnect)', async () => {
    // Nothing charon raises after the snapshot was taken may fall between the snapshot and the
    // registration: a reauth right after the agent (or `watch`) connected would be lost.
    fake = await FakeCharon.start();
    const sa = recorded(golden.listSaEvent).message;
    const conn = recorded(golden.listConnEvent).message;
    const down = recorded(golden.ikeUpdownDownReauth);
    let snapshots = 0;
    fake.command('list-sas', async (_req, client) => {
      await client.emit('list-sa', sa);
      snapshots += 1;
      await fake!.emit(down.name, down.message);
      return {};
    });
    fake.command('list-conns', async (_req, client) => {
      await client.emit('list-conn', conn);
      return {};
    });
    fake.command('version', () => ({ daemon: 'charon', version: '5.9.8', sysname: 'Linux' }));
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 50, commandTimeoutMs: 2000 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, logger: silentLogger() });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await until(() => seen.some((e) => e.kind === 'vici.sa-snapshot'));
    await until(() => seen.some((e) => e.kind === 'vici.ike-updown'), 2000);
    fake.dropClients();
    await until(() => seen.filter((e) => e.kind === 'vici.sa-snapshot').length === 2);
    await until(() => seen.filter((e) => e.kind === 'vici.ike-updown').length === 2, 2000);
    expect(snapshots).toBe(2);
    await s.stop();
  });

  it('when charon is absent at start and appears later, then the adapter says connecting, then connects and snapshots', async () => {
    fake = await FakeCharon.start();
    serveLists(fake);
    await fake.stopListening();
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 50, commandTimeoutMs: 200 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, logger: silentLogger() });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await until(() => seen.length >= 1);
    await new Promise((r) => setTimeout(r, 500)); // longer than the command timeout: nothing may time out while charon is away
    expect(adapter.report().state).toBe('connecting');
    expect(adapter.report().lastError).toMatch(/ENOENT|ECONNREFUSED/);
    await fake.listen();
    await until(() => seen.some((e) => e.kind === 'vici.sa-snapshot'));
    expect(seen.map((e) => e.kind === 'vici.connection' ? `${e.kind}:${e.payload.state}` : e.kind)).toEqual([
      'vici.connection:disconnected',
      'vici.connection:connected',
      'vici.sa-snapshot',
    ]);
    await s.stop();
  });

  it('when charon goes away and comes back, then disconnected, connected and a reconnect snapshot follow', async () => {
    fake = await FakeCharon.start();
    serveLists(fake);
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 50, commandTimeoutMs: 1000 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, logger: silentLogger() });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await until(() => seen.some((e) => e.kind === 'vici.sa-snapshot'));
    fake.dropClients();
    await until(() => seen.filter((e) => e.kind === 'vici.sa-snapshot').length === 2);
    const snaps = seen.filter((e) => e.kind === 'vici.sa-snapshot').map((e) => (e.kind === 'vici.sa-snapshot' ? e.payload.reason : ''));
    expect(snaps).toEqual(['connect', 'reconnect']);
    expect(seen.filter((e) => e.kind === 'vici.connection').map((e) => (e.kind === 'vici.connection' ? e.payload.state : ''))).toEqual(['connected', 'disconnected', 'connected']);
    expect(adapter.report().reconnects).toBe(1);
    await s.stop();
  });

  it('when a flood overflows the VICI queue, then every loss is counted in agent.status and announced as agent.gap', async () => {
    fake = await FakeCharon.start();
    serveLists(fake);
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 100, commandTimeoutMs: 2000, eventBufferSize: 16, gapIntervalMs: 50 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, clock: createRealtimeClock(), logger: silentLogger() });
    const seen: RoamwatchEvent[] = [];
    s.events$.subscribe((e) => seen.push(e));
    await until(() => seen.some((e) => e.kind === 'vici.sa-snapshot'));
    await fake.waitForRegistration('log');
    // 2000 log events in one write: the session reads them in one go, its 16-slot queue overflows.
    const sent = 2000;
    const one = encodePacket({ type: PktEvent, name: 'log', message: { group: 'IKE', level: '1', thread: '7', msg: 'flood' } });
    const flood = Buffer.concat(Array.from({ length: sent }, () => one));
    for (const c of fake.clients) await c.sendRaw(flood);
    const logs = () => seen.filter((e) => e.kind === 'vici.log').length;
    const gapped = () => seen.reduce((n, e) => n + (e.kind === 'agent.gap' ? e.payload.count : 0), 0);
    await until(() => logs() + gapped() >= sent);
    expect(logs() + gapped()).toBe(sent);
    expect(gapped()).toBeGreaterThan(0);
    const gap = seen.find((e) => e.kind === 'agent.gap')!;
    expect(gap.payload).toMatchObject({ reason: 'vici-queue-full', source: 'vici' });
    expect(validateEvent(JSON.parse(JSON.stringify(gap)))).toEqual(gap);
    expect(s.status().eventsDropped).toBe(gapped());
    await s.stop();
  });
});
