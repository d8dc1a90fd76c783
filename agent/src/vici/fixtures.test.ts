/**
 * Golden fixtures recorded from real charon 5.9.8: our decoder reads every one, our encoder
 * reproduces charon's bytes exactly, the typed views pick the right fields, and the recorded
 * reauth stream goes through a session as the typed sequence BRIEF.md describes.
 */
import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ViciClient } from './client.js';
import { decodePacket, encodePacket } from './codec.js';
import { PktCmdRequest, PktCmdResponse, PktCmdUnknown, PktEvent, PktEventConfirm, PktEventRegister, PktEventUnknown } from './constants.js';
import { FakeCharon } from './fake-charon.js';
import * as golden from './fixtures/charon-5.9.8.js';
import type { GoldenFixture } from './fixtures/charon-5.9.8.js';
import { parseChildRekey, parseChildUpdown, parseIkeRekey, parseIkeUpdate, parseIkeUpdown, parseListConn, parseListSa, parseLogEvent, parseStats, parseVersion } from './types.js';
import type { ViciMessage } from './codec.js';

const fixtures = Object.entries(golden).filter((e): e is [string, GoldenFixture] => typeof e[1] === 'object' && e[1] !== null && 'fields' in e[1]);
const bytes = (f: GoldenFixture) => golden.fixtureBytes(f);
const msg = (f: GoldenFixture): ViciMessage => decodePacket(bytes(f)).message ?? {};

describe('golden fixtures from charon 5.9.8', () => {
  it('has the fixtures the tests rely on', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
  });

  for (const [name, f] of fixtures) {
    it(`when ${name} is decoded and re-encoded, then the bytes are charon's exactly`, () => {
      const p = decodePacket(bytes(f));
      const again = encodePacket({ type: p.type, ...(p.name !== undefined ? { name: p.name } : {}), ...(p.message ? { message: p.message } : {}) });
      expect(again.subarray(4).toString('hex')).toBe(bytes(f).toString('hex'));
    });
  }

  it('when reading the packet types, then they are what was recorded', () => {
    expect(decodePacket(bytes(golden.versionRequest))).toEqual({ type: PktCmdRequest, name: 'version', message: {} });
    expect(decodePacket(bytes(golden.registerListSa))).toEqual({ type: PktEventRegister, name: 'list-sa' });
    expect(decodePacket(bytes(golden.eventConfirm))).toEqual({ type: PktEventConfirm });
    expect(decodePacket(bytes(golden.cmdUnknown))).toEqual({ type: PktCmdUnknown });
    expect(decodePacket(bytes(golden.eventUnknown))).toEqual({ type: PktEventUnknown });
    expect(decodePacket(bytes(golden.listSasResponse))).toEqual({ type: PktCmdResponse, message: {} });
  });

  it('when typed, version and stats give the daemon facts', () => {
    expect(parseVersion(msg(golden.versionResponse))).toMatchObject({ daemon: 'charon', version: '5.9.8', sysname: 'Linux', machine: 'x86_64' });
    const stats = parseStats(msg(golden.statsResponse));
    expect(stats.ikeSasTotal).toBe(1);
    expect(stats.plugins).toContain('vici');
    expect(stats.plugins).toContain('kernel-libipsec');
  });

  it('when typed, a list-sa event gives the IKE_SA and its CHILD_SA', () => {
    const sa = parseListSa(msg(golden.listSaEvent));
    expect(sa).toMatchObject({ name: 'rw', uniqueId: 1, version: 2, state: 'ESTABLISHED', localHost: '10.231.0.1', remoteHost: '10.231.1.2', initiator: true, localId: 'rw.gw.rwlab' });
    expect(sa.localPort).toBe(4500);
    expect(sa.childSas).toHaveLength(1);
    expect(sa.childSas[0]).toMatchObject({ key: 'net-1', name: 'net', state: 'INSTALLED', mode: 'TUNNEL', protocol: 'ESP', localTs: ['10.231.100.0/28'], remoteTs: ['10.231.200.0/28'] });
  });

  it('when typed, list-conn shows local_addrs as configured (the hostname, not the address)', () => {
    const conn = parseListConn(msg(golden.listConnEvent));
    expect(conn.name).toBe('rw');
    expect(conn.localAddrs).toEqual(['rw.gw-ike.rwlab']);
    expect(conn.remoteAddrs).toEqual(['10.231.1.2']);
    expect(conn.children.map((c) => c.name)).toEqual(['net']);
    expect(conn.local[0]).toMatchObject({ key: 'local-1', class: 'pre-shared key', id: 'rw.gw.rwlab' });
    // 5.9.8 does not say whether MOBIKE is enabled for the connection.
    expect(Object.keys(conn.raw).some((k) => k.includes('mobike'))).toBe(false);
  });

  it('when typed, the reauth log line is level 1 with the IKE_SA name and unique id', () => {
    expect(parseLogEvent(msg(golden.logReauth))).toEqual({ group: 'IKE', level: 1, thread: expect.any(Number), ikeSaName: 'rw', ikeSaUniqueId: 1, msg: 'reauthenticating IKE_SA due to address change' });
  });

  it('when typed, ike-updown down has no up key, DELETING and IKE_REAUTH; up has the next unique id', () => {
    const down = parseIkeUpdown(msg(golden.ikeUpdownDownReauth));
    const up = parseIkeUpdown(msg(golden.ikeUpdownUp));
    expect(msg(golden.ikeUpdownDownReauth)['up']).toBeUndefined();
    expect(down.up).toBe(false);
    expect(down.ikeSa.state).toBe('DELETING');
    expect(down.ikeSa.tasksActive).toContain('IKE_REAUTH');
    expect(up.up).toBe(true);
    expect(up.ikeSa.state).toBe('ESTABLISHED');
    expect(up.ikeSa.uniqueId).toBe(down.ikeSa.uniqueId + 1);
    expect(up.ikeSa.localHost).toBe(down.ikeSa.localHost);
    expect(up.ikeSa.remoteHost).toBe(down.ikeSa.remoteHost);
  });

  it('when typed, child-updown names the affected CHILD_SA', () => {
    const down = parseChildUpdown(msg(golden.childUpdownDown));
    const up = parseChildUpdown(msg(golden.childUpdownUp));
    expect(down.up).toBe(false);
    expect(up.up).toBe(true);
    expect(up.child).toMatchObject({ name: 'net', state: 'INSTALLED' });
  });

  it('when typed, ike-rekey and child-rekey give old and new', () => {
    const ike = parseIkeRekey(msg(golden.ikeRekey));
    expect(ike.name).toBe('rw');
    expect(ike.old.state).toBe('REKEYING');
    expect(ike.new.state).toBe('ESTABLISHED');
    expect(ike.new.uniqueId).toBe(ike.old.uniqueId + 1);
    const child = parseChildRekey(msg(golden.childRekey));
    expect(child.childName).toBe('net');
    expect(child.old.state).toBe('REKEYED');
    expect(child.new.state).toBe('INSTALLED');
    expect(child.new.spiIn).not.toBe(child.old.spiIn);
    expect(child.ikeSa.childSas).toEqual([]);
  });

  it('when typed, ike-update gives the new endpoints and the IKE_SA', () => {
    const u = parseIkeUpdate(msg(golden.ikeUpdate));
    expect(u.localHost).toBe('10.231.0.1');
    expect(typeof u.remotePort).toBe('number');
    expect(u.ikeSa.name).toBe('rw');
  });

  it('when the recorded reauth stream is read, then it is the break-before-make sequence of BRIEF.md', () => {
    const seq = golden.reauthStream.map((h) => decodePacket(Buffer.from(h, 'hex')));
    expect(seq.every((p) => p.type === PktEvent)).toBe(true);
    const names = seq.map((p) => p.name);
    const iDown = seq.findIndex((p) => p.name === 'ike-updown' && p.message?.['up'] === undefined);
    const iChildDown = seq.findIndex((p) => p.name === 'child-updown' && p.message?.['up'] === undefined);
    const iInit = seq.findIndex((p) => p.name === 'log' && String(p.message?.['msg']).startsWith('initiating IKE_SA rw['));
    const iUp = seq.findIndex((p) => p.name === 'ike-updown' && p.message?.['up'] === 'yes');
    const iChildUp = seq.findIndex((p) => p.name === 'child-updown' && p.message?.['up'] === 'yes');
    expect(names[0]).toBe('log');
    expect(0 < iDown && iDown < iChildDown && iChildDown < iInit && iInit < iUp && iUp < iChildUp).toBe(true);
    expect(names).not.toContain('ike-rekey');
  });

  it('when a fake charon replays the recorded reauth stream, then the typed event stream shows it in order', async () => {
    const fake = await FakeCharon.start({ chunking: 'whole' });
    const client = new ViciClient({ uri: fake.uri });
    try {
      await client.connect();
      const want = golden.reauthStream.filter((h) => !Buffer.from(h, 'hex').includes(Buffer.from('log'))).length;
      const got = firstValueFrom(client.events(['ike-updown', 'child-updown', 'ike-update']).pipe(take(want), toArray()));
      await fake.waitForRegistration('ike-update');
      const sock = [...fake.clients][0]!;
      for (const h of golden.reauthStream) {
        const data = Buffer.from(h, 'hex');
        const frame = Buffer.alloc(4 + data.length);
        frame.writeUInt32BE(data.length);
        data.copy(frame, 4);
        const p = decodePacket(data);
        if (p.name !== 'log') await sock.sendRaw(frame);
      }
      const events = await got;
      expect(events.map((e) => e.type)).toEqual(['ike-update', 'ike-update', 'ike-updown', 'child-updown', 'ike-updown', 'child-updown']);
      const up = events[4];
      expect(up?.type === 'ike-updown' && up.payload.up && up.payload.ikeSa.uniqueId).toBe(2);
    } finally {
      await client.close();
      await fake.stop();
    }
  });
});
