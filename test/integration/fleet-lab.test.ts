// The lab fleet (test/lab/fleet.ts, docs/lab.md "Fleet"): one upstream router and five
// gateways, each with real charon 5.9.8 and a real BIRD 2 holding an eBGP session with
// the upstream router. One prefix announced (then withdrawn) on the upstream router reaches
// every gateway's kernel through BGP; the seed-style gateways reauthenticate, the fixed and
// literal ones keep their path. Reauths are counted from charon's own log and from the
// IKE_SA unique ids (read through swanctl, independently of roamwatch).
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupStaleLabs,
  createFleet,
  FLEET_NET,
  renderGatewayBirdConf,
  renderUpstreamBirdConf,
  run,
  type Fleet,
  type FleetGateway,
  type IkeSa,
  type LogMark,
} from '../lab/index.js';

const SIZE = 5;
const PREFIX = FLEET_NET.defaultPrefixes[0];

/** What charon logs (filelog, ike level 2) when it checks the path and keeps it. */
const KEEP_LINE: Record<'fixed' | 'literal', string> = {
  fixed: 'keeping connection path',
  literal: 'keeping statically configured path',
};

interface Outcome {
  gateway: FleetGateway;
  before: IkeSa;
  after: IkeSa;
  reauths: number;
}

/**
 * Runs one upstream routing event and returns, per gateway, the IKE_SA before and after and
 * the reauths charon logged. Waits for positive evidence on every gateway (a new IKE_SA on
 * the seed-style ones, the "keeping … path" line on the others), never for a fixed time.
 */
async function routingEvent(fleet: Fleet, action: () => Promise<void>, present: boolean): Promise<{ outcomes: Outcome[]; routeMs: number }> {
  const marks = new Map<FleetGateway, LogMark>();
  const before = new Map<FleetGateway, IkeSa>();
  for (const g of fleet.gateways) {
    before.set(g, await g.lab.waitForSa());
    marks.set(g, g.logMark());
  }
  const t0 = performance.now();
  await action();
  await fleet.waitForRoute(PREFIX, { present, timeoutMs: 20_000 });
  const routeMs = performance.now() - t0;

  await Promise.all(
    fleet.gateways.map(async (g) => {
      const since = marks.get(g);
      if (g.kind === 'seed') {
        await g.lab.waitForSa({ uniqueIdAbove: before.get(g)?.uniqueid, timeoutMs: 20_000 });
        await g.lab.gw.waitForLog('reauthenticating IKE_SA due to address change', { since });
      } else {
        await g.lab.gw.waitForLog(KEEP_LINE[g.kind], { since, timeoutMs: 20_000 });
      }
    }),
  );
  const outcomes: Outcome[] = [];
  for (const g of fleet.gateways) {
    outcomes.push({ gateway: g, before: before.get(g) as IkeSa, after: await g.lab.waitForSa(), reauths: g.reauthCount(marks.get(g)) });
  }
  return { outcomes, routeMs };
}

function expectOutcomes(outcomes: Outcome[]): void {
  for (const o of outcomes) {
    const who = `gateway ${o.gateway.index} (${o.gateway.kind})`;
    if (o.gateway.kind === 'seed') {
      expect(o.reauths, `${who}: reauths in charon's log`).toBe(1);
      expect(o.after.uniqueid, `${who}: IKE_SA unique id`).toBe(o.before.uniqueid + 1);
      expect([o.after.localHost, o.after.remoteHost], `${who}: same path after the reauth`).toEqual([o.before.localHost, o.before.remoteHost]);
    } else {
      expect(o.reauths, `${who}: reauths in charon's log`).toBe(0);
      expect(o.after.uniqueid, `${who}: IKE_SA unique id`).toBe(o.before.uniqueid);
    }
  }
}

describe('lab fleet: one upstream router, five gateways with charon and BIRD', () => {
  let fleet: Fleet | undefined;
  const started = performance.now();
  let setupMs = 0;
  const eventMs: string[] = [];

  beforeAll(async () => {
    fleet = await createFleet({ size: SIZE, kinds: ['seed', 'fixed', 'literal', 'seed', 'seed'] });
    setupMs = performance.now() - started;
  }, 180_000);

  afterAll(async () => {
    const t = performance.now();
    await fleet?.teardown();
    const teardownMs = performance.now() - t;
    console.info(
      `[fleet-lab] N=${SIZE}: setup ${setupMs.toFixed(0)} ms, ${eventMs.join(', ')}, teardown ${teardownMs.toFixed(0)} ms, ` +
        `whole file ${(performance.now() - started).toFixed(0)} ms`,
    );
  });

  it('when built, then every BGP session is Established, nothing is announced, every SA is up and none reauthenticated', async () => {
    const f = fleet as Fleet;
    expect(f.gateways.map((g) => g.kind)).toEqual(['seed', 'fixed', 'literal', 'seed', 'seed']);
    const upstream = (await f.upstreamBirdc(['show', 'protocols'])).stdout;
    for (const g of f.gateways) {
      expect(upstream).toMatch(new RegExp(`to_g${g.index}\\s+BGP\\s+---\\s+up\\s+\\S+\\s+Established`));
      expect(await g.birdRoutes()).toEqual([]);
      const sa = await g.lab.waitForSa();
      expect(sa.uniqueid).toBe(1);
      expect(g.reauthCount()).toBe(0);
      expect(g.lab.connection().localAddrs).toBe(g.kind === 'literal' ? g.lab.connection().localAddress : g.lab.connection().hostname);
    }
    // gateways share nothing but the upstream router: every namespace is the fleet's own
    expect(new Set(f.gateways.map((g) => g.lab.gw.netns)).size).toBe(SIZE);
  });

  it('when the upstream router announces a prefix, then every gateway installs it from BGP and only the seed-style ones reauthenticate', async () => {
    const f = fleet as Fleet;
    const { outcomes, routeMs } = await routingEvent(f, () => f.announce(PREFIX), true);
    eventMs.push(`announce → route on all ${routeMs.toFixed(0)} ms`);
    for (const g of f.gateways) {
      const route = (await g.birdRoutes()).find((r) => r.dst === PREFIX);
      expect(route, `gateway ${g.index}`).toMatchObject({ dst: PREFIX, protocol: 'bird', gateway: g.upstreamAddress, dev: FLEET_NET.gatewayUplink });
    }
    expectOutcomes(outcomes);
    expect(outcomes.filter((o) => o.reauths > 0).map((o) => o.gateway.index)).toEqual(f.byKind('seed').map((g) => g.index));
  });

  it('when the upstream router withdraws it, then the route leaves every gateway and again only the seed-style ones reauthenticate', async () => {
    const f = fleet as Fleet;
    const { outcomes, routeMs } = await routingEvent(f, () => f.withdraw(PREFIX), false);
    eventMs.push(`withdraw → route gone on all ${routeMs.toFixed(0)} ms`);
    expectOutcomes(outcomes);
    expect(outcomes.filter((o) => o.reauths > 0).map((o) => o.gateway.index)).toEqual(f.byKind('seed').map((g) => g.index));
  });

  it('when asked for a prefix it was not built with, then announce says which prefixes it can announce', async () => {
    await expect((fleet as Fleet).announce('192.0.2.0/24')).rejects.toThrow(/cannot announce 192\.0\.2\.0\/24: declare it in FleetOptions\.prefixes/);
  });
});

describe('lab fleet: configuration and cleanup', () => {
  it('when the BIRD configs are rendered, then BIRD itself parses them (bird -p)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwfleet-conf-'));
    const up = join(dir, 'up.conf');
    const gw = join(dir, 'gw.conf');
    writeFileSync(up, renderUpstreamBirdConf({ logFile: join(dir, 'up.log'), gateways: 3, prefixes: FLEET_NET.defaultPrefixes }));
    writeFileSync(gw, renderGatewayBirdConf({ logFile: join(dir, 'gw.log'), index: 2 }));
    await run(['bird', '-p', '-c', up]);
    await run(['bird', '-p', '-c', gw]);
  });

  it('when options are wrong, then createFleet says which one before building anything', async () => {
    await expect(createFleet({ size: 2, kinds: ['seed'] })).rejects.toThrow(/kinds has 1 entries for a fleet of 2/);
    await expect(createFleet({ size: 0 })).rejects.toThrow(/fleet size must be 1\.\.250/);
    await expect(createFleet({ size: 1, prefixes: ['10.231.7.0/24'] })).rejects.toThrow(/overlaps the lab's own addresses/);
    await expect(createFleet({ size: 1, prefixes: ['198.51.100.0/33'] })).rejects.toThrow(/not an IPv4 prefix/);
  });

  it('when building fails half-way (swanctl.conf of a gateway does not load), then createFleet removes every namespace and directory it made', async () => {
    const name = `flfail${process.pid}`;
    // The uplinks, BIRDs and charons exist by then; loading the gateway's swanctl.conf fails.
    await expect(createFleet({ name, size: 2, lab: { connections: [{ gwSwanctl: { proposals: 'no-such-cipher' } }] } })).rejects.toThrow(
      /createFleet\(rwlab-flfail\d+\) failed: createLab\(rwlab-flfail\d+-g\d\) failed: .*--load-all/s,
    );
    const left = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`rwlab-${name}`));
    expect(left).toEqual([]);
    for (const d of [`rwlab-${name}`, `rwlab-${name}-g0`, `rwlab-${name}-g1`]) expect(existsSync(join(tmpdir(), d))).toBe(false);
  });

  it('when a fleet owner died, then cleanupStaleLabs removes its upstream router namespace too', async () => {
    const id = `rwlab-flstale${process.pid}`;
    const dir = join(tmpdir(), id);
    mkdirSync(dir, { recursive: true });
    // a pid that cannot exist (above pid_max): the owner is dead
    writeFileSync(join(dir, 'lab.json'), JSON.stringify({ id, ownerPid: 2 ** 30, ownerStart: '1', netns: [`${id}-up`], dir }));
    await run(['ip', 'netns', 'add', `${id}-up`]);
    expect(await cleanupStaleLabs({ ids: [id] })).toEqual([id]);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(`${id}-up`);
    expect(existsSync(dir)).toBe(false);
  });
});
