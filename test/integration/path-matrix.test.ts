// The path analyzer against real charon, on every build of the lab's version matrix
// (labCharons(): Debian's 5.9.8 and 6.0.6 built from source): for each scenario, `roamwatch doctor`
// predicts what charon will do on the next unrelated route change, the change is made,
// and charon's real behaviour (IKE_SA unique id, log lines) is recorded. Every row must
// agree. Then the first suggested fix of each SA at risk is applied and the same change
// must no longer reauthenticate. The table is written to $ROAMWATCH_PATH_MATRIX_OUT
// (default <tmpdir>/roamwatch-path-matrix.md) for docs/path-analysis.md.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLab, labCharons, type Lab, type LabOptions } from '../lab/index.js';
import { applyIpCommand, observeRoam, unrelatedAddressChange, unrelatedRouteChange, type RoamObservation } from '../lab/path-scenarios.js';
import { main } from '../../cli/src/main.js';
import { changeFiresRoam, defaultCharonSettings, ipRunner, readNetState, routeFromIpJson } from '@roamwatch/agent';
import type { DoctorResult, DoctorSa } from '../../cli/src/commands/doctor.js';

interface Row {
  charon: string;
  scenario: string;
  conn: string;
  setup: string;
  trigger: string;
  verdict: string;
  reasonCode: string;
  consequence: string;
  predictedReauth: boolean;
  actualReauth: boolean;
  /** How charon reauthenticated (from its log), '' when it did not. */
  order: string;
  charonSaid: string;
}
const rows: Row[] = [];
const labs: Lab[] = [];
/** The charon build of the describe block that runs now (set in its beforeAll). */
let currentCharon = labCharons()[0]!;

async function doctor(lab: Lab, extra: string[] = []): Promise<{ code: number; result: DoctorResult }> {
  const out: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  let code: number;
  try {
    code = await main([
      'node', 'roamwatch', 'doctor',
      '--vici', lab.gw.viciUri,
      '--netns', lab.gw.netns,
      '--strongswan-conf', lab.gw.strongswanConfFile,
      '--swanctl-conf', join(lab.gw.swanctlDir, 'swanctl.conf'),
      '--format', 'json',
      ...extra,
    ]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  if (code === 2) throw new Error(`doctor failed: ${out.join('')}`);
  return { code, result: JSON.parse(out.join('')) as DoctorResult };
}

function sa(r: DoctorResult, conn: string): DoctorSa {
  const s = r.sas.find((x) => x.conn === conn);
  if (!s) throw new Error(`doctor reported no SA ${conn}: ${JSON.stringify(r.sas.map((x) => x.conn))}`);
  return s;
}

/** What the verdict predicts for a change of this kind. */
function predictsReauth(s: DoctorSa, kind: 'route' | 'address'): boolean {
  return s.verdict === 'at-risk' && s.consequence === 'reauth' && s.triggers.includes(kind);
}

async function lab(opts: LabOptions): Promise<Lab> {
  const l = await createLab({ charon: currentCharon, ...opts });
  labs.push(l);
  return l;
}

/** Doctor, then the change, then charon's answer; records and checks one row per SA. */
async function check(
  l: Lab,
  scenario: string,
  setup: string,
  conns: string[],
  kind: 'route' | 'address' = 'route',
  doctorArgs: string[] = [],
): Promise<{ doc: DoctorResult; obs: RoamObservation }> {
  const { result: doc } = await doctor(l, doctorArgs);
  const obs = await observeRoam(l, conns, () => (kind === 'route' ? unrelatedRouteChange(l) : unrelatedAddressChange(l)));
  for (const c of conns) {
    const s = sa(doc, c);
    const row: Row = {
      charon: l.charon.version,
      scenario,
      conn: c,
      setup,
      trigger: kind === 'route' ? 'route add 198.18.x.1/32 dev lo' : 'addr add 198.19.x.1/32 dev lo',
      verdict: s.verdict,
      reasonCode: s.reasonCode,
      consequence: s.consequence ?? '',
      predictedReauth: predictsReauth(s, kind),
      actualReauth: obs.reauth[c] ?? false,
      order: obs.order[c] ?? '',
      charonSaid: obs.roamJob ? obs.outcome[c] || '(nothing for this SA)' : '(no roam job)',
    };
    rows.push(row);
    // doctor must know which charon it talks to (it asks VICI for the version)
    expect(doc.charonVersion).toBe(l.charon.version);
    expect({ scenario, conn: c, reauth: row.actualReauth, doctor: s.reason }).toEqual({ scenario, conn: c, reauth: row.predictedReauth, doctor: s.reason });
    if (row.actualReauth) {
      // the version rule doctor named (make_before_break's default: no before 6.0, yes since) is what charon did
      const predictedOrder = s.rule.id === 'make-before-break-default' ? 'make-before-break' : s.rule.id === 'break-before-make-default' ? 'break-before-make' : undefined;
      expect({ scenario, conn: c, order: row.order, rule: s.rule.id }).toEqual({ scenario, conn: c, order: predictedOrder, rule: s.rule.id });
    }
  }
  return { doc, obs };
}

/** Applies the first fix of `conn` (an ip command), then checks that the change no longer reauthenticates. */
async function fixAndRecheck(l: Lab, doc: DoctorResult, scenario: string, conn: string): Promise<void> {
  const fix = sa(doc, conn).fixes[0];
  expect(fix?.kind).toBe('route');
  // applying the fix is itself a route change: let charon's roam job pass
  await observeRoam(l, [conn], () => applyIpCommand(l, fix?.command ?? ''));
  const { doc: after } = await check(l, `${scenario} + fix 1`, fix?.command ?? '', [conn]);
  expect(sa(after, conn).verdict).toBe('valid');
}

afterEach(async () => {
  while (labs.length > 0) await labs.pop()?.teardown();
});

afterAll(() => {
  const out = process.env['ROAMWATCH_PATH_MATRIX_OUT'] ?? join(tmpdir(), 'roamwatch-path-matrix.md');
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '| charon | scenario | SA | setup | doctor verdict (reason) | consequence | predicted reauth | actual reauth | reauth order | charon logged | agree |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.charon} | ${esc(r.scenario)} | ${r.conn} | ${esc(r.setup)} | ${r.verdict} (${r.reasonCode}) | ${r.consequence} | ${r.predictedReauth ? 'yes' : 'no'} | ${r.actualReauth ? 'yes' : 'no'} | ${r.order} | ${esc(r.charonSaid)} | ${r.predictedReauth === r.actualReauth ? '✓' : '✗'} |`,
    ),
  ];
  writeFileSync(out, `${lines.join('\n')}\n`);
});

describe.each(labCharons())('path analyzer vs real charon %s', (spec) => {
  beforeAll(() => {
    currentCharon = spec;
  });

  it('hostname vs literal local_addrs, two SAs with different local addresses, src route, src route in another table', async () => {
    const l = await lab({
      connections: [
        { name: 'rw', localAddrs: 'hostname' },
        { name: 'lit', localAddrs: 'literal' },
        { name: 'rw2', localAddrs: 'hostname' },
        { name: 'rw3', localAddrs: 'hostname' },
      ],
    });
    const setup = 'IKE address on lo, peer on-link via rw-gw0';
    const { doc } = await check(l, 'no src (hostname / literal local_addrs)', setup, ['rw', 'lit', 'rw2', 'rw3']);
    // the first fix for rw names 10.231.0.1; rw2 (10.231.0.3, same peer) stays at risk
    await fixAndRecheck(l, doc, 'route with src', 'rw');
    const { doc: two } = await check(l, 'two SAs, one src route', 'route to the peer with src 10.231.0.1', ['rw', 'rw2']);
    expect(sa(two, 'rw2').verdict).toBe('at-risk');
    // rw2's first fix must leave rw's route alone (it adds one with the next metric)
    expect(sa(two, 'rw2').fixes[0]?.command).toMatch(/ metric 1$/);
    await fixAndRecheck(l, two, 'two SAs, one src route', 'rw2');
    await check(l, 'two SAs, two src routes', 'both fixes applied', ['rw', 'rw2']);
    // rw3: a src route only in table 100, which no rule uses
    await observeRoam(l, ['rw3'], () => l.gw.ip(['route', 'add', '10.231.1.2/32', 'dev', l.gw.ifname, 'src', '10.231.0.4', 'table', '100']));
    await check(l, 'src route only in another table', 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.4 table 100', ['rw3']);
  });

  it('IKEv1: charon ignores roam events for IKEv1 SAs (since 5.6.3), beside an IKEv2 SA that reauthenticates', async () => {
    const l = await lab({
      connections: [
        { name: 'rw', localAddrs: 'hostname' },
        { name: 'v1', localAddrs: 'hostname', ikeVersion: 1 },
      ],
    });
    const { doc, obs } = await check(l, 'IKEv1 beside IKEv2 (both hostname local_addrs, no src)', 'v1: version = 1 on both sides, IKE address 10.231.0.2 on lo', ['rw', 'v1']);
    expect(sa(doc, 'v1')).toMatchObject({ verdict: 'immune', reasonCode: 'ikev1', consequence: 'none', rule: { id: 'ikev1-ignored', versions: '>= 5.6.3' } });
    // roam() returns before any log line for IKEv1: nothing logged, same SA
    expect(obs.outcome['v1']).toBe('');
    expect(obs.uniqueIds['v1']?.after).toBe(obs.uniqueIds['v1']?.before);
    // the IKEv2 SA beside it: at risk, and the version's make_before_break default decided how
    expect(sa(doc, 'rw')).toMatchObject({ verdict: 'at-risk', consequence: 'reauth' });
    expect(sa(doc, 'rw').rule.id).toBe(l.charon.version.startsWith('5.') ? 'break-before-make-default' : 'make-before-break-default');
  });

  it('only a default route', async () => {
    const l = await lab({});
    await observeRoam(l, ['rw'], async () => {
      await l.gw.ip(['route', 'add', 'default', 'dev', l.gw.ifname]);
      await l.gw.ip(['route', 'del', '10.231.1.0/24', 'dev', l.gw.ifname]);
    });
    const { doc } = await check(l, 'only a default route', 'connected route deleted, default dev rw-gw0', ['rw']);
    await fixAndRecheck(l, doc, 'only a default route', 'rw');
  });

  it('gateway recursion, and no path at all', async () => {
    const l = await lab({});
    // the peer gets a second address as next hop; the gateway's uplink loses its address
    await l.peer.ip(['addr', 'add', '10.231.1.3/24', 'dev', l.peer.ifname]);
    await l.peer.ip(['route', 'replace', '10.231.0.0/24', 'dev', l.peer.ifname]);
    // removing the last IPv4 address of rw-gw0 flushes every IPv4 route through it, so the
    // routes come after (charon marks the SA stale in between: no path at all)
    await observeRoam(l, ['rw'], () => l.gw.ip(['addr', 'del', '10.231.1.1/24', 'dev', l.gw.ifname]));
    await observeRoam(l, ['rw'], async () => {
      await l.gw.ip(['route', 'add', '10.231.1.3/32', 'dev', l.gw.ifname, 'src', '10.231.0.1']);
      await l.gw.ip(['route', 'add', '10.231.1.2/32', 'via', '10.231.1.3', 'dev', l.gw.ifname, 'onlink']);
    });
    await check(l, 'gateway recursion', 'peer via 10.231.1.3 onlink (rw-gw0 without address); 10.231.1.3/32 src 10.231.0.1', ['rw']);
    // charon drops route events for an interface without address (and without src): no roam job
    const state = await readNetState(ipRunner({ netns: l.gw.netns }));
    const quietRoute = routeFromIpJson({ dst: '198.18.250.1', dev: l.gw.ifname, scope: 'link' }, 4, (n) => state.links.find((x) => x.ifName === n)?.ifIndex);
    expect(changeFiresRoam({ kind: 'route', op: 'added', route: quietRoute }, state, defaultCharonSettings())).toBe(false);
    const quiet = await observeRoam(l, ['rw'], () => l.gw.ip(['route', 'add', '198.18.250.1/32', 'dev', l.gw.ifname]));
    expect(quiet.roamJob).toBe(false);
    await observeRoam(l, ['rw'], () => l.gw.ip(['route', 'replace', '10.231.1.3/32', 'dev', l.gw.ifname]));
    await check(l, 'no path at all (stale)', 'as above, but 10.231.1.3/32 without src', ['rw']);
  });

  it('interface down vs carrier down', async () => {
    const l = await lab({});
    await observeRoam(l, ['rw'], async () => {
      await l.gw.ip(['link', 'add', 'rw-x0', 'type', 'veth', 'peer', 'name', 'rw-x1']);
      await l.gw.ip(['link', 'set', 'rw-x0', 'up']);
      await l.gw.ip(['link', 'set', 'rw-x1', 'up']);
      await l.gw.ip(['route', 'add', '10.231.1.2/32', 'dev', 'rw-x0', 'src', '10.231.0.1', 'table', '100']);
    });
    await check(l, 'src route via another interface (table 100)', 'ip route add 10.231.1.2/32 dev rw-x0 src 10.231.0.1 table 100', ['rw']);
    await observeRoam(l, ['rw'], () => l.gw.ip(['link', 'set', 'rw-x1', 'down']));
    await check(l, 'carrier down (NO-CARRIER, still UP)', 'as above, then ip link set rw-x1 down', ['rw']);
    await observeRoam(l, ['rw'], () => l.gw.ip(['link', 'set', 'rw-x0', 'down']));
    await check(l, 'interface down', 'as above, then ip link set rw-x0 down', ['rw']);
  });

  it('MOBIKE: the same lost path means an address update, not a reauth', async () => {
    const l = await lab({ mobike: true });
    // VICI does not report MOBIKE and kernel-libipsec's faked NAT hides the port evidence:
    // charon's own log shows it was negotiated, which the test passes on to doctor
    await l.gw.waitForLog(/N\(MOBIKE_SUP\)/);
    const { doc } = await check(l, 'MOBIKE negotiated, no src', 'mobike = yes on both sides (doctor --assume-mobike yes)', ['rw'], 'route', ['--assume-mobike', 'yes']);
    expect(sa(doc, 'rw').consequence).toBe('mobike-update');
    // charon moved the SA to the address doctor said it would
    const moved = await l.waitForSa({ name: 'rw' });
    expect(moved.localHost).toBe(sa(doc, 'rw').lookup?.src);
  });

  it('roam_events = no', async () => {
    const l = await lab({ strongswanConf: { 'plugins.kernel-netlink.roam_events': false } });
    await check(l, 'roam_events = no', 'charon.plugins.kernel-netlink.roam_events = no', ['rw']);
  });

  it('process_route = no: route changes pass, address changes still reauthenticate', async () => {
    const l = await lab({ strongswanConf: { process_route: false } });
    await check(l, 'process_route = no', 'charon.process_route = no', ['rw']);
    await check(l, 'process_route = no, address change', 'charon.process_route = no', ['rw'], 'address');
  });

  it('install_routes = no (IPv4): charon asks the kernel, which keeps the source', async () => {
    const l = await lab({ strongswanConf: { install_routes: false } });
    await check(l, 'install_routes = no', 'charon.install_routes = no', ['rw']);
  });

  it('ignore_routing_tables', async () => {
    const l = await lab({ strongswanConf: { ignore_routing_tables: '100' } });
    await observeRoam(l, ['rw'], () => l.gw.ip(['route', 'add', '10.231.1.2/32', 'dev', l.gw.ifname, 'src', '10.231.0.1', 'table', '100']));
    const { doc } = await check(l, 'src route in an ignored table', 'ignore_routing_tables = 100; src route in table 100', ['rw']);
    await fixAndRecheck(l, doc, 'src route in an ignored table', 'rw');
  });

  it('IPv6', async () => {
    const l = await lab({ ipv6: true, family: 'ipv6' });
    const { doc } = await check(l, 'IPv6, no src', 'fd00:231::1 on lo, peer on-link', ['rw']);
    await fixAndRecheck(l, doc, 'IPv6, no src', 'rw');
  });

  it('IPv6 with install_routes = no: the kernel picks its own source', async () => {
    const l = await lab({ ipv6: true, family: 'ipv6', strongswanConf: { install_routes: false } });
    await check(l, 'IPv6, install_routes = no', 'charon.install_routes = no', ['rw']);
  });
});
