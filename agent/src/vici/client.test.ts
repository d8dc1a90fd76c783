import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ViciClient } from './client.js';
import { ViciCommandFailedError, ViciPayloadError } from './errors.js';
import { FakeCharon } from './fake-charon.js';
import { decodePacket } from './codec.js';
import * as golden from './fixtures/charon-5.9.8.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ fake: FakeCharon; client: ViciClient }> {
  const fake = await FakeCharon.start();
  const client = new ViciClient({ uri: fake.uri, allowedCommands: 'any' });
  cleanups.push(async () => {
    await client.close();
    await fake.stop();
  });
  await client.connect();
  return { fake, client };
}

const recorded = (f: golden.GoldenFixture) => decodePacket(golden.fixtureBytes(f)).message ?? {};

describe('ViciClient', () => {
  it('when listing SAs, then each streamed list-sa becomes a typed IKE_SA', async () => {
    const { fake, client } = await setup();
    let request: unknown;
    fake.command('list-sas', async (req, c) => {
      request = { ...req };
      await c.emit('list-sa', recorded(golden.listSaEvent));
      return {};
    });
    const sas = await client.listSas({ ike: 'rw' });
    expect(request).toEqual({ ike: 'rw' });
    expect(sas.map((s) => [s.name, s.uniqueId, s.childSas.length])).toEqual([['rw', 1, 1]]);
  });

  it('when listing connections, then local_addrs is as configured', async () => {
    const { fake, client } = await setup();
    fake.command('list-conns', async (_req, c) => {
      await c.emit('list-conn', recorded(golden.listConnEvent));
      return {};
    });
    expect((await client.listConns()).map((c) => c.localAddrs)).toEqual([['rw.gw-ike.rwlab']]);
  });

  it('when initiate answers success=no, then ViciCommandFailedError with errmsg', async () => {
    const { fake, client } = await setup();
    let request: unknown;
    fake.command('initiate', (req) => {
      request = { ...req };
      return { success: 'no', errmsg: 'CHILD_SA config not found' };
    });
    const err = await client.initiate({ child: 'nope', timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViciCommandFailedError);
    expect((err as ViciCommandFailedError).errmsg).toBe('CHILD_SA config not found');
    expect(request).toEqual({ child: 'nope', timeout: '500' });
  });

  it('when terminate and rekey succeed, then matches are numbers', async () => {
    const { fake, client } = await setup();
    fake.command('terminate', () => ({ success: 'yes', matches: '1', terminated: '1' }));
    fake.command('rekey', (req) => ({ success: 'yes', matches: req['reauth'] === 'yes' ? '2' : '1' }));
    expect(await client.terminate({ ike: 'rw' })).toMatchObject({ matches: 1, terminated: 1 });
    expect(await client.rekey({ ike: 'rw', reauth: true })).toMatchObject({ matches: 2 });
  });

  it('when version and stats are asked, then they are typed', async () => {
    const { fake, client } = await setup();
    fake.command('version', () => recorded(golden.versionResponse));
    fake.command('stats', () => recorded(golden.statsResponse));
    expect((await client.version()).version).toBe('5.9.8');
    expect((await client.stats()).workersTotal).toBe(16);
  });

  it('when an event payload is malformed, then it arrives as invalid and the stream goes on', async () => {
    const { fake, client } = await setup();
    const got = firstValueFrom(client.events(['ike-updown', 'log']).pipe(take(3), toArray()));
    await fake.waitForRegistration('log');
    await fake.emit('ike-updown', { up: 'yes' });
    await fake.emit('log', { group: 'IKE', level: '1', thread: '3', msg: 'hello' });
    await fake.emit('ike-updown', recorded(golden.ikeUpdownUp));
    const [bad, log, up] = await got;
    expect(bad?.type).toBe('invalid');
    expect(bad?.type === 'invalid' && bad.error).toBeInstanceOf(ViciPayloadError);
    expect(log).toMatchObject({ type: 'log', payload: { msg: 'hello', level: 1, ikeSaName: undefined } });
    expect(up?.type === 'ike-updown' && up.payload.up).toBe(true);
  });
});
