/**
 * roamwatch only reads charon's state: every VICI command it sends must be in
 * ViciReadOnlyCommands. These tests fail when any other command is issued — by the agent's
 * VICI source, by a session with default options, or by roamwatch code that widens the list.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, createRealtimeClock } from '@roamwatch/core';
import { PktCmdRequest, ViciReadOnlyCommands } from './constants.js';
import { ViciCommandNotAllowedError } from './errors.js';
import { FakeCharon } from './fake-charon.js';
import { ViciClient } from './client.js';
import { ViciSession } from './session.js';
import { createAgentSources } from '../agent/sources.js';
import { ViciAdapter } from '../agent/adapters/vici.js';

let fake: FakeCharon | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

const commandsSent = (f: FakeCharon) => f.requests.filter((r) => r.packet.type === PktCmdRequest).map((r) => (r.packet as { name?: string }).name ?? '');

describe('VICI command allowlist', () => {
  it('when roamwatch sends commands, then they are exactly the read-only ones: version, stats, list-sas, list-conns', () => {
    expect([...ViciReadOnlyCommands].sort()).toEqual(['list-conns', 'list-sas', 'stats', 'version']);
  });

  it.each(['initiate', 'terminate', 'rekey', 'load-conn', 'unload-conn', 'redirect', 'install', 'uninstall', 'reload-settings', 'load-shared', 'clear-creds'])(
    'when a default session is asked to send %s, then it is refused and nothing reaches charon',
    async (command) => {
      fake = await FakeCharon.start();
      fake.command(command, () => ({ success: 'yes' }));
      fake.command('version', () => ({ daemon: 'charon', version: '5.9.8' }));
      const session = new ViciSession({ uri: fake.uri, reconnect: { enabled: false } });
      await session.connect();
      const err = await session.call(command, { ike: 'rw' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ViciCommandNotAllowedError);
      expect((err as Error).message).toContain(`vici command "${command}" is not allowed`);
      expect(await session.call('version')).toBeDefined();
      expect(commandsSent(fake)).toEqual(['version']);
      await session.close();
    },
  );

  it('when the typed client is asked to terminate with default options, then it is refused', async () => {
    fake = await FakeCharon.start();
    const client = new ViciClient({ uri: fake.uri, reconnect: { enabled: false } });
    await client.connect();
    await expect(client.terminate({ ike: 'rw' })).rejects.toBeInstanceOf(ViciCommandNotAllowedError);
    expect(commandsSent(fake)).toEqual([]);
    await client.close();
  });

  it("when the agent's VICI source runs (connect, snapshot, events, resnapshot), then every command it sent is read-only", async () => {
    fake = await FakeCharon.start();
    fake.command('list-sas', () => ({}));
    fake.command('list-conns', () => ({}));
    fake.command('version', () => ({ daemon: 'charon', version: '5.9.8', sysname: 'Linux' }));
    fake.command('stats', () => ({}));
    const adapter = new ViciAdapter({ uri: fake.uri, reconnectMinMs: 20, reconnectMaxMs: 100, commandTimeoutMs: 2000 });
    const s = createAgentSources({ hostId: 'gw', sources: [adapter], statusIntervalMs: 0, lifecycleEvents: false, clock: createRealtimeClock(), logger: silentLogger() });
    const kinds: string[] = [];
    s.events$.subscribe((e) => kinds.push(e.kind));
    await fake.waitForRegistration('ike-updown');
    // A reconnect makes the source snapshot again.
    fake.dropClients();
    await fake.waitForRegistration('ike-updown');
    await s.stop();
    const sent = commandsSent(fake);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((c) => !ViciReadOnlyCommands.includes(c))).toEqual([]);
  });

  it('when roamwatch source code creates a VICI session, then it never widens the allowlist', () => {
    // Only tests and the test lab may pass allowedCommands; production code (agent, cli,
    // processor, core sources) must not.
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'node_modules' && e.name !== 'dist') walk(p);
        } else if (/\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) && !p.endsWith(path.join('vici', 'session.ts')) && /allowedCommands\s*:/.test(fs.readFileSync(p, 'utf8'))) {
          offenders.push(path.relative(root, p));
        }
      }
    };
    for (const pkg of ['agent/src', 'cli/src', 'processor/src', 'core/src']) walk(path.join(root, pkg));
    expect(offenders).toEqual([]);
  });
});
