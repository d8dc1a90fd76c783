// Example routing states (a multihomed gateway) for the path analyzer's tests and docs.
// Not exported from the package index.
import type { Address, Connection, IkeSa, Link, Route } from '@roamwatch/core';
import type { NetState } from './lookup.js';

export function link(ifIndex: number, ifName: string, up = true, extra: Partial<Link> = {}): Link {
  return { ifIndex, ifName, flags: up ? ['UP', 'LOWER_UP'] : [], operstate: up ? 'UP' : 'DOWN', ...extra };
}

export function addr(ifIndex: number, address: string, prefixLen: number, flags: string[] = ['permanent']): Address {
  return { family: address.includes(':') ? 6 : 4, ifIndex, address, prefixLen, scope: 'global', flags };
}

export function route(dst: string, opts: Partial<Route> = {}): Route {
  return {
    family: dst.includes(':') ? 6 : 4,
    table: 254,
    dst,
    type: 'unicast',
    protocol: 'boot',
    scope: opts.gateway ? 'universe' : 'link',
    ...opts,
  };
}

/**
 * The brief's gateway: IKE address 192.0.2.1 on lo, uplink eth0 10.0.0.1/24 with the
 * peer 198.51.100.7 behind 10.0.0.254; IPv6: 2001:db8:1::1 on lo, eth0 2001:db8::1/64,
 * peer 2001:db8:ffff::7 via fe80::1.
 */
export function gateway(routes: Route[], more: { links?: Link[]; addresses?: Address[] } = {}): NetState {
  return {
    links: [link(1, 'lo', true, { flags: ['LOOPBACK', 'UP', 'LOWER_UP'] }), link(2, 'eth0'), link(3, 'eth1'), ...(more.links ?? [])],
    addresses: [
      addr(1, '127.0.0.1', 8),
      addr(1, '192.0.2.1', 32),
      addr(1, '::1', 128),
      addr(1, '2001:db8:1::1', 128),
      addr(2, '10.0.0.1', 24),
      addr(2, '2001:db8::1', 64),
      { ...addr(2, 'fe80::a', 64), scope: 'link' },
      ...(more.addresses ?? []),
    ],
    routes: [
      route('10.0.0.0/24', { oif: 'eth0', oifIndex: 2, protocol: 'kernel', prefsrc: '10.0.0.1' }),
      route('2001:db8::/64', { oif: 'eth0', oifIndex: 2, protocol: 'kernel' }),
      route('fe80::/64', { oif: 'eth0', oifIndex: 2, protocol: 'kernel' }),
      route('192.0.2.1/32', { table: 255, type: 'local', oif: 'lo', oifIndex: 1, protocol: 'kernel', scope: 'host', prefsrc: '192.0.2.1' }),
      route('127.0.0.0/8', { table: 255, type: 'local', oif: 'lo', oifIndex: 1, protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1' }),
      ...routes,
    ],
  };
}

export const PEER4 = '198.51.100.7';
export const LOCAL4 = '192.0.2.1';
export const PEER6 = '2001:db8:ffff::7';
export const LOCAL6 = '2001:db8:1::1';

export function sa(over: Partial<IkeSa> = {}): IkeSa {
  const v6 = over.remoteHost?.includes(':') ?? false;
  return {
    name: 'site',
    uniqueId: '7',
    version: 2,
    state: 'ESTABLISHED',
    localHost: v6 ? LOCAL6 : LOCAL4,
    localPort: 500,
    remoteHost: v6 ? PEER6 : PEER4,
    remotePort: 500,
    initiator: true,
    childSas: [],
    ...over,
  };
}

export function conn(localAddrs: string[] = ['gw.example.net'], over: Partial<Connection> = {}): Connection {
  return { name: 'site', localAddrs, remoteAddrs: ['peer.example.net'], version: 'IKEv2', ...over };
}
