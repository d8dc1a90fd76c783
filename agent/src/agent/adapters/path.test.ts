import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, createManualClock, createRealtimeClock, silentLogger, validatePayload } from '@roamwatch/core';
import type { EventKind, PathVerdict, Route, RoamwatchEvent } from '@roamwatch/core';
import type { NetState } from '../../path/lookup.js';
import { gateway, route, sa, conn } from '../../path/fixtures.js';
import { newEntryId, RemediationJournal } from '../../path/remediate/journal.js';
import { PathAdapter } from './path.js';
const link = (ifIndex: number, ifName: string) => ({ ifIndex, ifName, flags: ['UP', 'LOWER_UP'], operstate: 'UP' });
const connected: Route = { family: 4, table: 254, dst: '10.231.1.0/24', type: 'unicast', protocol: 'kernel', scope: 'link', oif: 'rw-gw0', oifIndex: 2, prefsrc: '10.231.1.1' };
const fix: Route = { family: 4, table: 254, dst: '10.231.1.2/32', type: 'unicast', protocol: 'boot', scope: 'link', oif: 'rw-gw0', oifIndex: 2, prefsrc: '10.231.0.1' };

function net(routes: Route[]): NetState {
  return {
    links: [link(1, 'lo'), link(2, 'rw-gw0')],
    addresses: [
      { family: 4, ifIndex: 1, address: '10.231.0.1', prefixLen: 32, scope: 'global', flags: [] },
      { family: 4, ifIndex: 2, address: '10.231.1.1', prefixLen: 24, scope: 'global', flags: [] },
    ],
    routes,
  };
}

const ev = (kind: string, source: string, payload: unknown) => ({ kind, source, payload }) as unknown as RoamwatchEvent;
const snapshot = ev('vici.sa-snapshot', 'vici', {
  reason: 'connect',
  ikeSas: [{ name: 'rw', uniqueId: '4', version: 2, state: 'ESTABLISHED', localHost: '10.231.0.1', localPort: 500, remoteHost: '10.231.1.2', remotePort: 500, initiator: true, childSas: [] }],
  connections: [{ name: 'rw', localAddrs: ['gw.example.net'], remoteAddrs: ['10.231.1.2'] }],
  charonVersion: 'charon 5.9.8',
});

async function transition(remediationDir: string): Promise<PathVerdict[]> {
  let state = net([connected]);
  const out: PathVerdict[] = [];
  const a = new PathAdapter({ strongswanConf: '/nonexistent/strongswan.conf', netState: () => state, debounceMs: 0, remediationDir });
  a.start({ emit: ((kind: string, p: PathVerdict) => kind === 'path.verdict' && out.push(p)) as never, logger: silentLogger(), clock: createRealtimeClock() });
  a.observe(snapshot);
  while (out.length < 1) await new Promise((r) => setTimeout(r, 5));
  state = net([connected, fix]);
  a.observe(ev('route.added', 'rtnetlink', { route: fix }));
  while (out.length < 2) await new Promise((r) => setTimeout(r, 5));
  await a.stop();
  return out;
}

describe('path adapter: at-risk → valid transitions say what fixed the path and who', () => {
  it('when a src route appears and the journal has no change for the SA, then the valid verdict carries the route, applied by hand', async () => {
    const out = await transition(join(mkdtempSync(join(tmpdir(), 'rw-adapter-')), 'none'));
    expect(out.map((v) => [v.previous, v.verdict])).toEqual([[undefined, 'at-risk'], ['at-risk', 'valid']]);
    expect(out[0]?.remediation).toBeUndefined();
    expect(out[1]?.remediation).toEqual({ fix: '10.231.1.2 dev rw-gw0 scope link src 10.231.0.1', appliedBy: 'by-hand' });
    expect(validatePayload('path.verdict', out[1])).toEqual(out[1]);
  });

  it('when doctor --apply journaled the change for these addresses, then it is reported as applied by roamwatch with the journal id', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rw-adapter-')), 'j');
    const now = new Date().toISOString();
    const e = new RemediationJournal({ dir }).write({
      v: 1, id: newEntryId(), createdAt: now, updatedAt: now, state: 'applied',
      sa: { conn: 'rw', uniqueId: '4', localHost: '10.231.0.1', remoteHost: '10.231.1.2' },
      fix: { rank: 1, command: 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1' },
      change: { op: 'add', route: { family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0', prefsrc: '10.231.0.1' } },
      previous: [], verdictBefore: 'at-risk', history: [],
    });
    const out = await transition(dir);
    expect(out[1]?.remediation).toEqual({ fix: '10.231.1.2 dev rw-gw0 scope link src 10.231.0.1', appliedBy: 'roamwatch', journalId: e.id });
  });
});
describe('path adapter in a route storm', () => {
  it('when a storm is being coalesced (route.summary, not final), then no analysis runs until its final summary', async () => {
    let state = net([connected]);
    let analyses = 0;
    const out: PathVerdict[] = [];
    const a = new PathAdapter({ strongswanConf: '/nonexistent/strongswan.conf', netState: () => (analyses++, state), debounceMs: 0, remediationDir: '/nonexistent/j' });
    a.start({ emit: ((kind: string, p: PathVerdict) => kind === 'path.verdict' && out.push(p)) as never, logger: silentLogger(), clock: createRealtimeClock() });
    a.observe(snapshot);
    while (out.length < 1) await new Promise((r) => setTimeout(r, 5));
    const before = analyses;
    const summary = { stormStartUs: 1, part: 1, firstUs: 1, lastUs: 1, changes: 5000, tables: [], examples: [] };
    a.observe(ev('route.added', 'rtnetlink', { route: fix }));
    a.observe(ev('route.summary', 'rtnetlink', { ...summary, final: false }));
    state = net([connected, fix]);
    await new Promise((r) => setTimeout(r, 100));
    expect(analyses).toBe(before);
    a.observe(ev('route.summary', 'rtnetlink', { ...summary, part: 2, final: true }));
    while (out.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(out[1]?.verdict).toBe('valid');
    await a.stop();
  });
});

const emptySnapshot = { kind: 'vici.sa-snapshot', source: 'vici', payload: { ikeSas: [], connections: [] } } as unknown as RoamwatchEvent;



describe('PathAdapter and swanctl.conf', () => {
  it('when swanctl.conf does not exist, then it warns once that mobike is unknown, and again only after the file came and went', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-path-adapter-'));
    const strongswanConf = join(dir, 'strongswan.conf');
    writeFileSync(strongswanConf, 'charon {\n}\n');
    const swanctlConf = join(dir, 'swanctl.conf');
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (c: Buffer) => lines.push(...c.toString().trim().split('\n')));
    const logger = createLogger({ format: 'json', level: 'warn', stream });
    const warnings = async () => {
      await new Promise((r) => setImmediate(r));
      return lines.map((l) => JSON.parse(l) as { message: string; file?: string }).filter((o) => o.file === swanctlConf);
    };
    const adapter = new PathAdapter({ strongswanConf, swanctlConf, netState: () => ({ links: [], addresses: [], routes: [] }) });
    try {
      adapter.start({ emit: () => undefined, logger, clock: createManualClock(1_800_000_000_000_000) });
      adapter.observe(emptySnapshot);
      adapter.observe(emptySnapshot);
      expect((await warnings()).map((w) => w.message)).toEqual([
        `${swanctlConf} does not exist: each connection's mobike setting is unknown, so MOBIKE stays unknown unless the ports tell (set --swanctl-conf or path.swanctlConf)`,
      ]);
      writeFileSync(swanctlConf, 'connections {\n  site {\n    mobike = no\n  }\n}\n');
      adapter.observe(emptySnapshot);
      rmSync(swanctlConf);
      adapter.observe(emptySnapshot);
      expect(await warnings()).toHaveLength(2);
    } finally {
      await adapter.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

afterEach(() => {
  vi.useRealTimers();
});

function versionSnapshot(charonVersion: string): RoamwatchEvent {
  return {
    v: 1, id: '00000000-0000-7000-8000-000000000001', host: 'gw', seq: 1, timeUs: 1, source: 'vici', kind: 'vici.sa-snapshot',
    payload: { reason: 'connect', ikeSas: [sa()], connections: [conn()], charonVersion },
  } as RoamwatchEvent;
}

/** Runs the adapter over one SA snapshot and returns the path.verdict it emits. */
function verdictFor(charonVersion: string, conf = 'charon {\n}\n'): PathVerdict {
  vi.useFakeTimers();
  const dir = mkdtempSync(join(tmpdir(), 'rw-path-adapter-'));
  writeFileSync(join(dir, 'strongswan.conf'), conf);
  const emitted: { kind: EventKind; payload: unknown }[] = [];
  const a = new PathAdapter({
    strongswanConf: join(dir, 'strongswan.conf'),
    netState: () => gateway([route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 })]),
    debounceMs: 10,
  });
  a.start({ emit: ((kind: EventKind, payload: unknown) => emitted.push({ kind, payload })) as never, logger: silentLogger(), clock: undefined as never });
  a.observe(versionSnapshot(charonVersion));
  vi.advanceTimersByTime(50);
  void a.stop();
  const v = emitted.find((e) => e.kind === 'path.verdict');
  if (!v) throw new Error(`no path.verdict emitted: ${JSON.stringify(emitted)}`);
  return v.payload as PathVerdict;
}

describe('path adapter: the charon version reported over VICI', () => {
  it('when charon 6.0.6 reports itself and strongswan.conf has no make_before_break, then the verdict says make-before-break (6.0 default)', () => {
    // found in the lab: the agent read strongswan.conf before it knew the version, so on 6.0.6
    // it described the reauth as break-before-make while charon made before it broke
    const v = verdictFor('charon 6.0.6');
    expect(v).toMatchObject({ verdict: 'at-risk', consequence: 'reauth' });
    expect(v.reason).toContain('(make-before-break)');
  });

  it('when charon 5.9.8 reports itself, then it is break-before-make', () => {
    expect(verdictFor('charon 5.9.8').reason).toContain('break-before-make: traffic stops');
  });

  it('when strongswan.conf sets make_before_break, then that wins over the version default', () => {
    expect(verdictFor('charon 6.0.6', 'charon {\n  make_before_break = no\n}\n').reason).toContain('break-before-make: traffic stops');
  });
});
