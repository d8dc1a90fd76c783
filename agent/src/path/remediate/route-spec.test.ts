import { describe, expect, it } from 'vitest';
import { formatIpRouteCommand, ipRouteArgs, parseIpRouteCommand, RouteSpecError, routeMatchesSpec, specFromRoute } from './route-spec.js';

describe('route fix commands as data', () => {
  it('when doctor prints an add fix, then it parses into the exact route and back into the same command', () => {
    const cmd = 'ip route add 10.231.1.2/32 via 10.0.0.254 dev rw-gw0 onlink src 10.231.0.3 table 100 metric 1';
    const { op, spec } = parseIpRouteCommand(cmd);
    expect(op).toBe('add');
    expect(spec).toEqual({ family: 4, dst: '10.231.1.2/32', gateway: '10.0.0.254', dev: 'rw-gw0', onlink: true, prefsrc: '10.231.0.3', table: 100, metric: 1 });
    expect(parseIpRouteCommand(formatIpRouteCommand(op, spec)).spec).toEqual(spec);
    expect(ipRouteArgs('del', spec)).toEqual(['-4', 'route', 'del', '10.231.1.2/32', 'via', '10.0.0.254', 'dev', 'rw-gw0', 'onlink', 'table', '100', 'metric', '1']);
  });

  it('when the fix changes an existing host route (formatRoute syntax, bare address, proto, scope), then those are kept', () => {
    const { op, spec } = parseIpRouteCommand('ip -6 route change fd00:231:1::2 dev rw-gw0 proto kernel scope link metric 256 src fd00:231::1');
    expect(op).toBe('change');
    expect(spec).toEqual({ family: 6, dst: 'fd00:231:1::2/128', dev: 'rw-gw0', proto: 'kernel', scope: 'link', metric: 256, prefsrc: 'fd00:231::1' });
  });

  it('when the command has a word the journal cannot describe, then it is refused with the word named', () => {
    expect(() => parseIpRouteCommand('ip route add 10.0.0.0/8 dev eth0 mtu 1400')).toThrow(/unsupported word "mtu"/);
    expect(() => parseIpRouteCommand('connections.rw.local_addrs = 10.0.0.1')).toThrow(RouteSpecError);
    expect(() => parseIpRouteCommand('ip route add 10.0.0.0/8 via fd00::1')).toThrow(/not an IPv4 address/);
  });

  it('when a route read from the kernel carries the spec, then it matches; another src does not', () => {
    const { spec } = parseIpRouteCommand('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1');
    const r = { family: 4 as const, table: 254, dst: '10.231.1.2/32', type: 'unicast', protocol: 'boot', scope: 'link', oif: 'rw-gw0', prefsrc: '10.231.0.1' };
    expect(routeMatchesSpec(r, spec)).toBe(true);
    expect(routeMatchesSpec({ ...r, prefsrc: '10.231.0.3' }, spec)).toBe(false);
    expect(specFromRoute(r)).toEqual({ family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0', scope: 'link', prefsrc: '10.231.0.1' });
  });
});
