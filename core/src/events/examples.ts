/**
 * One realistic example payload per event kind. Used by the contract tests (every kind
 * must validate), by docs/events.md (generated from here: `npm run docs:events`) and as
 * a starting point for fixtures in other tests.
 */
import type { EventKind, PayloadOf } from './envelope.js';
import type { IkeSa } from './payloads.js';

const ikeSa = (over: Partial<IkeSa> = {}): IkeSa => ({
  name: 'dc2',
  uniqueId: '7',
  version: 2,
  state: 'ESTABLISHED',
  localHost: '192.0.2.1',
  localPort: 500,
  localId: 'gw.example.net',
  remoteHost: '198.51.100.7',
  remotePort: 500,
  remoteId: 'peer.example.net',
  initiator: true,
  initiatorSpi: '5e0f7a9b2c1d3e4f',
  responderSpi: 'a1b2c3d4e5f60718',
  establishedS: 12,
  rekeyTimeS: 13250,
  reauthTimeS: 0,
  tasksActive: [],
  childSas: [
    {
      name: 'dc2-net',
      uniqueId: '9',
      reqId: '1',
      state: 'INSTALLED',
      mode: 'TUNNEL',
      protocol: 'ESP',
      spiIn: 'c7a1b2d3',
      spiOut: 'c90e8f71',
      localTs: ['10.1.0.0/16'],
      remoteTs: ['10.2.0.0/16'],
      installTimeS: 12,
      rekeyTimeS: 3300,
      lifeTimeS: 3900,
    },
  ],
  ...over,
});

const route = {
  family: 4 as const,
  table: 254,
  dst: '203.0.113.0/24',
  type: 'unicast',
  protocol: 'bgp',
  scope: 'universe',
  priority: 20,
  gateway: '10.0.0.254',
  oif: 'eth0',
  oifIndex: 2,
};

export const EXAMPLE_PAYLOADS: { [K in EventKind]: PayloadOf<K> } = {
  'route.added': { route },
  'route.removed': { route },
  'route.replaced': { old: route, route: { ...route, prefsrc: '192.0.2.1' } },
  'address.added': {
    address: { family: 6, ifIndex: 2, ifName: 'eth0', address: 'fe80::5054:ff:fe12:3456', prefixLen: 64, scope: 'link', flags: ['permanent'] },
  },
  'address.removed': {
    address: { family: 4, ifIndex: 1, ifName: 'lo', address: '192.0.2.1', prefixLen: 32, scope: 'global', flags: ['permanent'], label: 'lo' },
  },
  'link.added': { link: { ifIndex: 5, ifName: 'veth1', flags: ['BROADCAST', 'MULTICAST'], operstate: 'DOWN', mtu: 1500, kind: 'veth' } },
  'link.removed': { link: { ifIndex: 5, ifName: 'veth1', flags: ['BROADCAST', 'MULTICAST'], operstate: 'DOWN', mtu: 1500, kind: 'veth' } },
  'link.changed': {
    old: { ifIndex: 2, ifName: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], operstate: 'UP', mtu: 1500 },
    link: { ifIndex: 2, ifName: 'eth0', flags: ['BROADCAST', 'MULTICAST'], operstate: 'DOWN', mtu: 1500 },
  },
  'rule.added': { rule: { family: 4, priority: 100, table: 220, action: 'to_tbl', fwmark: 0x200, fwmask: 0xff00 } },
  'rule.removed': { rule: { family: 4, priority: 100, table: 220, action: 'to_tbl', fwmark: 0x200, fwmask: 0xff00 } },
  'route.summary': {
    stormStartUs: 1795794637410233,
    part: 2,
    firstUs: 1795794638110402,
    lastUs: 1795794639108877,
    final: false,
    changes: 35120,
    tables: [{ family: 4, table: 254, added: 120, removed: 35000, replaced: 0 }],
    examples: [
      { op: 'removed', route: { family: 4, table: 254, dst: '203.0.113.0/24', type: 'unicast', protocol: 'bird', scope: 'universe', priority: 32, gateway: '10.0.0.254', oif: 'eth0' } },
    ],
    digest: { routes: 912044, hash: '5c1e09a7' },
  },
  'netlink.resync': {
    reason: 'overflow',
    gapDetectedAtUs: 1795794638123456,
    recovered: { added: 1203, removed: 0, replaced: 4 },
    counts: { routes: 912345, addresses: 6, links: 4, rules: 5 },
    durationMs: 2140,
  },
  'vici.ike-updown': { up: true, ikeSa: ikeSa() },
  'vici.ike-rekey': { old: ikeSa({ uniqueId: '7' }), new: ikeSa({ uniqueId: '8' }) },
  'vici.ike-update': { ikeSa: ikeSa(), newLocalHost: '192.0.2.9', newLocalPort: 4500, newRemoteHost: '198.51.100.7', newRemotePort: 4500 },
  'vici.child-updown': { up: false, ikeSa: ikeSa({ state: 'DELETING', tasksActive: ['IKE_REAUTH', 'IKE_DELETE'] }) },
  'vici.child-rekey': { ikeSa: ikeSa() },
  'vici.log': { group: 'IKE', level: 1, thread: 14, ikeSaName: 'dc2', ikeSaUniqueId: '7', msg: 'reauthenticating IKE_SA due to address change' },
  'vici.sa-snapshot': {
    reason: 'connect',
    ikeSas: [ikeSa()],
    connections: [{ name: 'dc2', localAddrs: ['gw.example.net'], remoteAddrs: ['198.51.100.7'], version: 'IKEv2', reauthTimeS: 0, rekeyTimeS: 14400, unique: 'UNIQUE_NO', children: ['dc2-net'] }],
    charonVersion: 'charon 5.9.8',
  },
  'vici.connection': { state: 'connected', uri: 'unix:///var/run/charon.vici', attempts: 0 },
  'path.verdict': {
    ikeSaName: 'dc2',
    uniqueId: '7',
    localHost: '192.0.2.1',
    remoteHost: '198.51.100.7',
    verdict: 'at-risk',
    previous: 'valid',
    reasonCode: 'no-route-leads-to-source',
    reason: 'no route towards 198.51.100.7 has src 192.0.2.1 and 192.0.2.1 is on lo, not on the outgoing interface eth0',
    consequence: 'reauth',
    route: '198.51.100.0/24 via 10.0.0.254 dev eth0 table main',
    fixes: [
      {
        rank: 1,
        kind: 'route',
        command: 'ip route add 198.51.100.7/32 via 10.0.0.254 dev eth0 src 192.0.2.1 table main',
        why: 'a route whose preferred source is the local address keeps the current path valid',
      },
    ],
  },
  'agent.status': {
    agentVersion: '0.1.0',
    uptimeS: 3600,
    sources: { rtnetlink: { state: 'connected', resyncs: 0 }, vici: { state: 'connected', uri: 'unix:///var/run/charon.vici', reconnects: 0 } },
    sink: { kind: 'kafka', state: 'ok' },
    spool: { bytes: 0, events: 0, limitBytes: 1073741824, droppedEvents: 0 },
    eventsEmitted: 1234,
    eventsSent: 1234,
    eventsDropped: 0,
    lagMs: 3,
    ikeSas: 1,
    cpuUserS: 1.2,
    cpuSystemS: 0.4,
    rssBytes: 61_000_000,
  },
  'agent.started': { agentVersion: '0.1.0', pid: 4242, streamOrder: 'time' },
  'agent.stopping': { agentVersion: '0.1.0', pid: 4242, reason: 'SIGTERM' },
  'agent.gap': { fromSeq: 1001, toSeq: 1500, reason: 'spool-full', count: 500 },
};
