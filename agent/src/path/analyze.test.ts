import { describe, expect, it } from 'vitest';
import { analyze, mobikeEvidence, toPathVerdict } from './analyze.js';
import { conn, gateway, LOCAL4, LOCAL6, PEER4, PEER6, route, sa, link, addr } from './fixtures.js';
import { getSourceAddr, kernelLookupKey, type KernelRouteAnswer, type NetState } from './lookup.js';
import { defaultCharonSettings, resolveCharonSettings, type CharonSettings } from './settings.js';
import { parseStrongswanConf } from './strongswan-conf.js';
import { PathVerdict } from '@roamwatch/core';

const S = defaultCharonSettings();
function settings(text: string): CharonSettings {
  return resolveCharonSettings(parseStrongswanConf(text));
}
const viaGw = route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 });
const viaGw6 = route('::/0', { gateway: 'fe80::1', oif: 'eth0', oifIndex: 2 });

/** Applies `ip route add|change ...` of a fix to a state (only what the fixes produce). */
function applyRouteFix(state: NetState, cmd: string): NetState {
  const m = /^ip (?:-6 )?route (add|change) (\S+)(.*)$/.exec(cmd);
  if (!m) throw new Error(`not a route fix: ${cmd}`);
  const words = (m[3] ?? '').trim().split(/\s+/);
  const get = (k: string): string | undefined => {
    const i = words.indexOf(k);
    return i >= 0 ? words[i + 1] : undefined;
  };
  const dst = m[2] as string;
  const oif = get('dev');
  const r = route(dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`, {
    ...(get('via') ? { gateway: get('via') } : {}),
    ...(oif ? { oif, oifIndex: state.links.find((l) => l.ifName === oif)?.ifIndex } : {}),
    ...(get('src') ? { prefsrc: get('src') } : {}),
    ...(get('table') ? { table: get('table') === 'main' ? 254 : Number(get('table')) } : {}),
    ...(get('metric') ? { priority: Number(get('metric')) } : {}),
  });
  const routes = m[1] === 'change' ? state.routes.filter((x) => !(x.dst === r.dst && x.table === r.table)) : [...state.routes];
  return { ...state, routes: [...routes, r] };
}

describe('analyze (IPv4, dump mode, charon 5.9.8)', () => {
  it('when the local address is on lo and no route names it, then the initiator reauthenticates', () => {
    const a = analyze(gateway([viaGw]), sa(), conn(), S, '5.9.8');
    expect(a.verdict).toBe('at-risk');
    expect(a.reasonCode).toBe('no-route-leads-to-source');
    expect(a.consequence).toBe('reauth');
    expect(a.lookup?.src).toBe('10.0.0.1');
    expect(a.route).toBe('default via 10.0.0.254 dev eth0');
    expect(a.triggers).toEqual(['route', 'address', 'link']);
    expect(a.fixes[0]?.command).toBe(`ip route add ${PEER4}/32 via 10.0.0.254 dev eth0 src ${LOCAL4}`);
    expect(a.fixes.map((f) => f.rank)).toEqual(a.fixes.map((_, i) => i + 1));
    expect(PathVerdict.parse(toPathVerdict(a))).toBeTruthy();
  });

  it('when a route to the peer has src = the local address, then the path is valid', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]);
    const a = analyze(st, sa(), conn(), S, '5.9.8');
    expect(a.verdict).toBe('valid');
    expect(a.reasonCode).toBe('route-with-prefsrc');
    expect(a.route).toBe(`${PEER4} via 10.0.0.254 dev eth0 src ${LOCAL4}`);
    expect(a.fixes).toEqual([]);
  });

  it('when the route with src is not the best one (higher metric, shorter prefix), then it still keeps the path', () => {
    const st = gateway([viaGw, route('198.51.100.0/24', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 }), route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, priority: 900, prefsrc: LOCAL4 })]);
    expect(analyze(st, sa(), conn(), S).verdict).toBe('valid');
  });

  it('when the src route is only in a table no rule uses, then charon (which dumps all tables) keeps the path', () => {
    const st = gateway([viaGw, route('0.0.0.0/0', { table: 100, gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]);
    expect(analyze(st, sa(), conn(), S).verdict).toBe('valid');
  });

  it('when the src route is in an ignored table or in charon\'s own table, then it does not count', () => {
    const other = route('0.0.0.0/0', { table: 100, gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 });
    expect(analyze(gateway([viaGw, other]), sa(), conn(), settings('charon { ignore_routing_tables = 100 200 }')).verdict).toBe('at-risk');
    const own = { ...other, table: 220 };
    const a = analyze(gateway([viaGw, own]), sa(), conn(), S);
    expect(a.verdict).toBe('at-risk');
    expect(a.lookup?.steps.join('\n')).toContain("charon's own routing_table");
    expect(analyze(gateway([viaGw, own]), sa(), conn(), settings('charon { routing_table = 0 }')).verdict).toBe('valid');
  });

  it('when there is only a default route, then charon falls back to the uplink address; with src on it the path is valid', () => {
    expect(analyze(gateway([viaGw]), sa(), conn(), S).consequence).toBe('reauth');
    expect(analyze(gateway([{ ...viaGw, prefsrc: LOCAL4 }]), sa(), conn(), S).verdict).toBe('valid');
  });

  it('when the local address is on the outgoing interface, then the path is valid (address-on-route-interface)', () => {
    const a = analyze(gateway([viaGw]), sa({ localHost: '10.0.0.1' }), conn(), S);
    expect(a.verdict).toBe('valid');
    expect(a.reasonCode).toBe('address-on-route-interface');
  });

  it('when the route has another src but the local address is on its interface, then the path is valid', () => {
    const st = gateway([{ ...viaGw, prefsrc: '10.0.0.9' }], { addresses: [addr(2, '10.0.0.9', 24)] });
    const a = analyze(st, sa({ localHost: '10.0.0.1' }), conn(), S);
    expect(a.verdict).toBe('valid');
  });

  it('when the outgoing interface has no address, then the gateway is looked up recursively (depth ≤ 2)', () => {
    const peerVia = route(`${PEER4}/32`, { gateway: '172.16.0.1', oif: 'eth1', oifIndex: 3, flags: ['onlink'] });
    const gwRoute = route('172.16.0.1/32', { oif: 'eth1', oifIndex: 3, prefsrc: LOCAL4 });
    const a = analyze(gateway([viaGw, peerVia, gwRoute]), sa(), conn(), S);
    expect(a.verdict).toBe('valid');
    expect(a.reasonCode).toBe('gateway-recursion');
    // without the src on the gateway's route, the recursion finds nothing on eth1: fallback to eth0's address
    const b = analyze(gateway([viaGw, peerVia, { ...gwRoute, prefsrc: undefined }]), sa(), conn(), S);
    expect(b.verdict).toBe('at-risk');
  });

  it('when gateways chain deeper than MAX_ROUTE_RECURSION, then the lookup gives up', () => {
    const chain = [
      route(`${PEER4}/32`, { gateway: '172.16.0.1', oif: 'eth1', oifIndex: 3 }),
      route('172.16.0.1/32', { gateway: '172.16.0.2', oif: 'eth1', oifIndex: 3 }),
      route('172.16.0.2/32', { gateway: '172.16.0.3', oif: 'eth1', oifIndex: 3 }),
      route('172.16.0.3/32', { oif: 'eth1', oifIndex: 3, prefsrc: LOCAL4 }),
    ];
    const r = getSourceAddr(gateway(chain), PEER4, LOCAL4, { settings: S, mode: 'dump' });
    expect(r.src).toBeUndefined();
    expect(r.steps.some((s) => s.text.includes('recursion limit'))).toBe(true);
    const shorter = getSourceAddr(gateway(chain.slice(1).map((c, i) => (i === 0 ? { ...c, dst: `${PEER4}/32` } : c))), PEER4, LOCAL4, { settings: S, mode: 'dump' });
    expect(shorter.src).toBe(LOCAL4);
  });

  it('when the interface of the src route is down (IFF_UP cleared), then the route does not count; carrier loss (linkdown) does not matter', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '172.16.0.1', oif: 'eth9', oifIndex: 9, prefsrc: LOCAL4 })], { links: [link(9, 'eth9', false)] });
    expect(analyze(st, sa(), conn(), S).verdict).toBe('at-risk');
    const noCarrier = gateway([viaGw, route(`${PEER4}/32`, { gateway: '172.16.0.1', oif: 'eth9', oifIndex: 9, prefsrc: LOCAL4, flags: ['linkdown'] })], {
      links: [link(9, 'eth9', true, { flags: ['UP', 'NO-CARRIER'], operstate: 'DOWN' })],
    });
    expect(analyze(noCarrier, sa(), conn(), S).verdict).toBe('valid');
  });

  it('when interfaces_ignore / interfaces_use exclude the interface, then its routes do not count', () => {
    const st = gateway([route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]);
    expect(analyze(st, sa(), conn(), S).verdict).toBe('valid');
    expect(analyze(st, sa(), conn(), settings('charon { interfaces_ignore = eth0 }')).verdict).toBe('at-risk');
    expect(analyze(st, sa(), conn(), settings('charon { interfaces_use = eth1, lo }')).verdict).toBe('at-risk');
    // interfaces_use wins over interfaces_ignore
    expect(analyze(st, sa(), conn(), settings('charon {\n interfaces_use = eth0\n interfaces_ignore = eth0\n}')).verdict).toBe('valid');
  });

  it('when blackhole/unreachable/prohibit/throw routes match, then they are skipped', () => {
    for (const type of ['blackhole', 'unreachable', 'prohibit', 'throw']) {
      const st = gateway([viaGw, route(`${PEER4}/32`, { type, prefsrc: LOCAL4 })]);
      expect(analyze(st, sa(), conn(), S).verdict).toBe('at-risk');
    }
  });

  it('when several routes match, then longest prefix and lowest metric decide the fallback', () => {
    const st = gateway(
      [route('0.0.0.0/0', { gateway: '172.16.0.1', oif: 'eth1', oifIndex: 3, priority: 10 }), route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, priority: 5 })],
      { addresses: [addr(3, '172.16.0.9', 24)] },
    );
    const r = getSourceAddr(st, PEER4, LOCAL4, { settings: S, mode: 'dump' });
    expect(r.src).toBe('10.0.0.1');
    expect(r.candidates.map((c) => c.priority)).toEqual([5, 10]);
  });

  it('when a multipath route matches, then its next hops are invisible to charon (only its src counts)', () => {
    const mp = route('0.0.0.0/0', { multipath: [{ gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, weight: 1 }, { gateway: '10.0.0.253', oif: 'eth0', oifIndex: 2, weight: 1 }] });
    expect(getSourceAddr(gateway([mp]), PEER4, LOCAL4, { settings: S, mode: 'dump' }).src).toBeUndefined();
    expect(analyze(gateway([{ ...mp, prefsrc: LOCAL4 }]), sa(), conn(), S).verdict).toBe('valid');
  });

  it('when a route names one of charon\'s virtual IPs as src, then it is skipped (routes installed for VIPs)', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]);
    expect(analyze(st, sa(), conn(), S, '5.9.8', { virtualIps: [LOCAL4] }).verdict).toBe('at-risk');
  });

  it('when no route leads anywhere, then charon marks the SA stale ("MOBIKE update deferred")', () => {
    const a = analyze(gateway([]), sa(), conn(), S);
    expect(a.verdict).toBe('at-risk');
    expect(a.reasonCode).toBe('no-route-to-peer');
    expect(a.consequence).toBe('mark-stale');
  });

  it('when this host is the responder, then it marks the SA stale instead of reauthenticating', () => {
    const a = analyze(gateway([viaGw]), sa({ initiator: false }), conn(), S);
    expect(a.consequence).toBe('mark-stale');
    expect(a.verdict).toBe('at-risk');
  });
});

describe('analyze: preconditions', () => {
  it('when local_addrs lists the address literally and MOBIKE is off, then the SA is immune (5.5.2+), not before', () => {
    const a = analyze(gateway([viaGw]), sa(), conn([LOCAL4]), S, '5.9.8');
    expect(a.verdict).toBe('immune');
    expect(a.reasonCode).toBe('static-local-address');
    expect(analyze(gateway([viaGw]), sa(), conn([LOCAL4]), S, '5.5.1').verdict).toBe('at-risk');
    // %any, ranges, subnets and hostnames do not count
    for (const la of ['%any', '192.0.2.0/24', '192.0.2.1-192.0.2.9', 'gw.example.net']) {
      expect(analyze(gateway([viaGw]), sa(), conn([la]), S).verdict).toBe('at-risk');
    }
  });

  it('when MOBIKE is negotiated, then the static path is checked anyway and a failure means an address update', () => {
    const a = analyze(gateway([viaGw]), sa({ localPort: 4500, remotePort: 4500 }), conn([LOCAL4]), S, '5.9.8', { mobikeConfigured: true });
    expect(a.mobike.negotiated).toBe(true);
    expect(a.verdict).toBe('at-risk');
    expect(a.consequence).toBe('mobike-update');
  });

  it('when MOBIKE cannot be decided and the outcome depends on it, then the verdict is unknown', () => {
    const a = analyze(gateway([viaGw]), sa({ localPort: 4500, remotePort: 4500, natRemote: true }), conn(), S);
    expect(a.verdict).toBe('unknown');
    expect(a.reasonCode).toBe('mobike-unknown');
    const valid = analyze(gateway([{ ...viaGw, prefsrc: LOCAL4 }]), sa({ localPort: 4500, remotePort: 4500, natRemote: true }), conn(), S);
    expect(valid.verdict).toBe('valid');
  });

  it('MOBIKE evidence: ports 500/500 without NAT mean no MOBIKE; config no is final', () => {
    expect(mobikeEvidence(sa(), undefined).negotiated).toBe(false);
    expect(mobikeEvidence(sa({ localPort: 4500, remotePort: 4500 }), false).negotiated).toBe(false);
    expect(mobikeEvidence(sa({ localPort: 4500, remotePort: 4500 }), undefined).negotiated).toBeUndefined();
    expect(mobikeEvidence(sa({ localPort: 4500, remotePort: 4500 }), true).negotiated).toBe(true);
  });

  it('when roam_events is off, then every SA is immune; process_route off leaves address and link triggers', () => {
    const off = analyze(gateway([viaGw]), sa(), conn(), settings('charon { plugins { kernel-netlink { roam_events = no } } }'));
    expect(off.verdict).toBe('immune');
    expect(off.reasonCode).toBe('roam-events-disabled');
    expect(off.triggers).toEqual([]);
    const pr = analyze(gateway([viaGw]), sa(), conn(), settings('charon { process_route = no }'));
    expect(pr.verdict).toBe('at-risk');
    expect(pr.triggers).toEqual(['address', 'link']);
    expect(pr.reason).toContain('process_route = no');
  });

  it('when the SA is IKEv1 or in a state roam() ignores, then it is immune', () => {
    expect(analyze(gateway([viaGw]), sa({ version: 1 }), conn(), S).reasonCode).toBe('ikev1');
    for (const state of ['DELETING', 'PASSIVE', 'REKEYED', 'CREATED']) {
      expect(analyze(gateway([viaGw]), sa({ state }), conn(), S).reasonCode).toBe('sa-state-not-checked');
    }
    expect(analyze(gateway([viaGw]), sa({ state: 'CONNECTING' }), conn(), S).verdict).toBe('at-risk');
  });

  it('with MOBIKE and prefer_best_path, then only the best route counts', () => {
    const st = gateway([viaGw, route('0.0.0.0/0', { table: 100, gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4, priority: 50 })]);
    expect(analyze(st, sa(), conn(), S, '5.9.8', { mobikeNegotiated: true }).verdict).toBe('valid');
    const best = analyze(st, sa(), conn(), settings('charon { prefer_best_path = yes }'), '5.9.8', { mobikeNegotiated: true });
    expect(best.verdict).toBe('at-risk');
    expect(best.reasonCode).toBe('mobike-path-not-best');
  });

  it('charon 6.x defaults to make-before-break', () => {
    const a = analyze(gateway([viaGw]), sa(), conn(), defaultCharonSettings({ charonVersion: '6.0.1' }), '6.0.1');
    expect(a.reason).toContain('make-before-break');
    expect(analyze(gateway([viaGw]), sa(), conn(), S).reason).toContain('break-before-make');
  });
});

describe('analyze: kernel-lookup mode (install_routes = no, inverted fwmark)', () => {
  const noRoutes = settings('charon { install_routes = no }');
  it('when the kernel answer is not supplied, then the verdict is unknown and the lookup is requested', () => {
    const a = analyze(gateway([viaGw]), sa(), conn(), noRoutes);
    expect(a.verdict).toBe('unknown');
    expect(a.missingKernelLookups).toEqual([{ dest: PEER4, candidate: LOCAL4, mark: undefined }]);
  });

  it('when the kernel keeps the source hint (IPv4: the address is local), then the path is valid', () => {
    const answers = new Map<string, KernelRouteAnswer>([
      [kernelLookupKey({ dest: PEER4, candidate: LOCAL4, mark: undefined }), { route: route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 }) }],
    ]);
    const a = analyze(gateway([viaGw]), sa(), conn(), noRoutes, '5.9.8', { kernelAnswers: answers });
    expect(a.verdict).toBe('valid');
    expect(a.reasonCode).toBe('kernel-route-keeps-source');
  });

  it('when the kernel has no route, then there is no path at all (stale)', () => {
    const answers = new Map<string, KernelRouteAnswer>([
      [kernelLookupKey({ dest: PEER4, candidate: LOCAL4, mark: undefined }), { error: 'Network is unreachable' }],
      [kernelLookupKey({ dest: PEER4, candidate: undefined, mark: undefined }), { error: 'Network is unreachable' }],
    ]);
    const a = analyze(gateway([]), sa(), conn(), noRoutes, '5.9.8', { kernelAnswers: answers });
    expect(a.consequence).toBe('mark-stale');
  });

  it('an inverted fwmark with charon\'s routing table makes the lookup carry the mark', () => {
    const s = settings('charon {\n plugins {\n  kernel-netlink {\n   fwmark = !0x42\n  }\n }\n}');
    const a = analyze(gateway([viaGw]), sa(), conn(), s);
    expect(a.missingKernelLookups[0]).toEqual({ dest: PEER4, candidate: LOCAL4, mark: 0x42 });
    // a non-inverted mark keeps the dump
    expect(analyze(gateway([viaGw]), sa(), conn(), settings('charon { plugins { kernel-netlink { fwmark = 0x42 } } }')).verdict).toBe('at-risk');
  });
});

describe('analyze (IPv6)', () => {
  const v6 = (routes = [viaGw6]) => gateway(routes);
  it('when the IKE address is on lo and the default route has no src, then the initiator reauthenticates', () => {
    const a = analyze(v6(), sa({ remoteHost: PEER6 }), conn(), S);
    expect(a.verdict).toBe('at-risk');
    expect(a.lookup?.src).toBe('2001:db8::1');
    expect(a.fixes[0]?.command).toBe(`ip -6 route add ${PEER6}/128 via fe80::1 dev eth0 src ${LOCAL6}`);
  });

  it('when a route names the address (src), then valid; RTA_SRC (from) works too', () => {
    expect(analyze(v6([{ ...viaGw6, prefsrc: LOCAL6 }]), sa({ remoteHost: PEER6 }), conn(), S).verdict).toBe('valid');
    const from = analyze(v6([viaGw6, route('::/0', { gateway: 'fe80::1', oif: 'eth0', oifIndex: 2, src: '2001:db8:1::/64' })]), sa({ remoteHost: PEER6 }), conn(), S);
    expect(from.verdict).toBe('valid');
    expect(from.reasonCode).toBe('route-with-rta-src');
    // charon < 5.5.1 ignored RTA_SRC
    expect(analyze(v6([viaGw6, route('::/0', { gateway: 'fe80::1', oif: 'eth0', oifIndex: 2, src: '2001:db8:1::/64' })]), sa({ remoteHost: PEER6 }), conn(), S, '5.5.0').verdict).toBe('at-risk');
  });

  it('when the local IPv6 address is deprecated and another global one is on the interface, then the route does not keep it', () => {
    const st = gateway([viaGw6], { addresses: [addr(2, '2001:db8::2', 64)] });
    const dep: NetState = { ...st, addresses: st.addresses.map((a) => (a.address === '2001:db8::1' ? { ...a, flags: ['deprecated'] } : a)) };
    expect(analyze(st, sa({ remoteHost: PEER6, localHost: '2001:db8::1' }), conn(), S).verdict).toBe('valid');
    expect(analyze(dep, sa({ remoteHost: PEER6, localHost: '2001:db8::1' }), conn(), S).verdict).toBe('at-risk');
  });

  it('when no candidate is given, then temporary IPv6 addresses lose (prefer_temporary_addrs = no), also when decoded as "secondary"', () => {
    for (const f of ['temporary', 'secondary']) {
      const st = gateway([viaGw6], { addresses: [addr(2, '2001:db8::ab', 64, [f])] });
      const pick = getSourceAddr({ ...st, addresses: [st.addresses.find((a) => a.address === '2001:db8::ab')!, ...st.addresses] }, PEER6, undefined, { settings: S, mode: 'dump' });
      expect(pick.src).toBe('2001:db8::1');
    }
  });

  it('when only a link-local gateway route exists, then recursion through it finds the interface', () => {
    const st: NetState = { ...gateway([]), routes: [route(`${PEER6}/128`, { gateway: 'fe80::1', oif: 'eth1', oifIndex: 3 }), route('fe80::/64', { oif: 'eth1', oifIndex: 3, prefsrc: LOCAL6 })] };
    expect(analyze(st, sa({ remoteHost: PEER6 }), conn(), S).verdict).toBe('valid');
  });
});

describe('fixes', () => {
  const cases: [string, NetState, ReturnType<typeof sa>][] = [
    ['v4 default only', gateway([viaGw]), sa()],
    ['v4 metric', gateway([{ ...viaGw, priority: 100 }]), sa()],
    ['v4 host route', gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 })]), sa()],
    ['v4 other table', gateway([route('0.0.0.0/0', { table: 7, gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 })]), sa()],
    ['v6 default only', gateway([viaGw6]), sa({ remoteHost: PEER6 })],
  ];
  for (const [name, st, s] of cases) {
    it(`when the first route fix is applied (${name}), then the path is valid`, () => {
      const a = analyze(st, s, conn(), S);
      expect(a.verdict).toBe('at-risk');
      const first = a.fixes[0];
      expect(first?.kind).toBe('route');
      const fixed = applyRouteFix(st, first?.command ?? '');
      expect(analyze(fixed, s, conn(), S).verdict).toBe('valid');
      for (const f of a.fixes.filter((x) => x.kind === 'route')) expect(analyze(applyRouteFix(st, f.command), s, conn(), S).verdict).toBe('valid');
    });
  }

  it('when a host route to the peer exists, then the least change is `ip route change … src`', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, priority: 20 })]);
    const a = analyze(st, sa(), conn(), S);
    expect(a.fixes[0]?.command).toBe(`ip route change ${PEER4} via 10.0.0.254 dev eth0 metric 20 src ${LOCAL4}`);
  });

  it('when the host route to the peer names another local address (another SA), then it is left alone and ours gets the next metric', () => {
    const other = route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: '192.0.2.9' });
    const st = gateway([viaGw, other], { addresses: [addr(1, '192.0.2.9', 32)] });
    const a = analyze(st, sa(), conn(), S);
    expect(a.fixes[0]?.command).toBe(`ip route add ${PEER4}/32 via 10.0.0.254 dev eth0 src ${LOCAL4} metric 1`);
    const fixed = applyRouteFix(st, a.fixes[0]?.command ?? '');
    expect(analyze(fixed, sa(), conn(), S).verdict).toBe('valid');
    expect(analyze(fixed, sa({ localHost: '192.0.2.9', uniqueId: '8' }), conn(), S).verdict).toBe('valid');
  });

  it('the settings fixes name their side effects, the config fix only appears without MOBIKE', () => {
    const a = analyze(gateway([viaGw]), sa(), conn(), S);
    expect(a.fixes.find((f) => f.command.startsWith('charon.plugins.kernel-netlink.roam_events = no'))?.sideEffects).toMatch(/DPD/);
    expect(a.fixes.some((f) => f.kind === 'config' && f.command.includes(`local_addrs = ${LOCAL4}`))).toBe(true);
    const m = analyze(gateway([viaGw]), sa(), conn(), S, '5.9.8', { mobikeNegotiated: true });
    expect(m.fixes.some((f) => f.kind === 'config')).toBe(false);
  });
});
