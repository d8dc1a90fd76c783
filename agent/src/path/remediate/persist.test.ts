import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIpRouteCommand, type RouteSpec } from './route-spec.js';
import {
  detectNetSystems,
  NET_SYSTEMS,
  parsePersisted,
  planPersist,
  renderBird,
  renderFrr,
  renderIfupdown,
  renderNetplan,
  renderNetworkd,
  renderNmKeyfile,
  revertPersist,
  writePersist,
  type NetSystem,
} from './persist.js';

const spec = (cmd: string): RouteSpec => parseIpRouteCommand(cmd).spec;
const SPECS = [
  spec('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1'),
  spec('ip route add 198.51.100.7/32 via 10.0.0.254 dev eth0 src 192.0.2.1 metric 1'),
  spec('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.4 table 100'),
  spec('ip -6 route add fd00:231:1::2/128 dev rw-gw0 src fd00:231::1 metric 256'),
];

function render(system: NetSystem, s: RouteSpec): string {
  switch (system) {
    case 'systemd-networkd':
      return renderNetworkd(s);
    case 'ifupdown':
      return `iface ${s.dev} inet${s.family === 6 ? '6' : ''} manual\n${renderIfupdown(s)}`;
    case 'networkmanager':
      return `[connection]\nid=uplink\ninterface-name=${s.dev}\n\n[ipv${s.family}]\nmethod=manual\n${renderNmKeyfile(s, 1)}`;
    case 'netplan':
      return renderNetplan(s, { dev: s.dev as string });
    case 'frr':
      return renderFrr(s, { name: 'rw' });
    case 'bird':
      return renderBird(s, { name: 'rw' });
  }
}

/** What each system can express of a route: BIRD drops a dev that is not a BIRD symbol next to a gateway; FRR static routes have no kernel metric. */
function expressible(system: NetSystem, s: RouteSpec): RouteSpec {
  const out = { ...s };
  if (system === 'bird' && s.gateway && s.dev && !/^[A-Za-z_]\w*$/.test(s.dev)) delete out.dev;
  if (system === 'frr') delete out.metric;
  return out;
}

describe('persistence generators: the route parsed back from each system\'s syntax is the route applied', () => {
  for (const system of NET_SYSTEMS) {
    for (const s of SPECS) {
      const unsupported = system === 'bird' && s.table === 100;
      it(`when ${system} renders ${s.dst} src ${s.prefsrc}${s.table ? ` table ${s.table}` : ''}, then ${unsupported ? 'it refuses with the reason' : 'parsing it back gives the same route'}`, () => {
        if (unsupported) {
          expect(() => render(system, s)).toThrow(/table 100 needs its own BIRD table/);
          return;
        }
        const back = parsePersisted(system, render(system, s), s.dev);
        expect(back).toEqual([expressible(system, s)]);
      });
    }
  }
});

function root(files: Record<string, string>): string {
  const r = mkdtempSync(join(tmpdir(), 'rw-persist-'));
  for (const [p, t] of Object.entries(files)) {
    mkdirSync(join(r, p, '..'), { recursive: true });
    writeFileSync(join(r, p), t);
  }
  return r;
}

describe('detecting the network system and writing the snippet with a backup', () => {
  const s = SPECS[0] as RouteSpec;

  it('when an ifupdown stanza configures the interface, then --persist inserts the lines there, backs up the file, and undo restores it', () => {
    const before = 'auto lo\niface lo inet loopback\n\nauto rw-gw0\niface rw-gw0 inet static\n    address 10.231.1.1/24\n';
    const r = root({ 'etc/network/interfaces': before });
    const [d] = detectNetSystems('rw-gw0', { root: r });
    expect(d?.system).toBe('ifupdown');
    const sn = planPersist(d!, s, { name: 'rw' });
    const rec = writePersist(sn, { backupSuffix: 'x1' });
    const after = readFileSync(join(r, 'etc/network/interfaces'), 'utf8');
    expect(after).toContain('iface rw-gw0 inet static\n    # roamwatch');
    expect(parsePersisted('ifupdown', after, 'rw-gw0')).toEqual([s]);
    expect(readFileSync(rec.backup as string, 'utf8')).toBe(before);
    expect(revertPersist(rec)).toMatch(/restored/);
    expect(readFileSync(join(r, 'etc/network/interfaces'), 'utf8')).toBe(before);
    expect(existsSync(rec.backup as string)).toBe(false);
  });

  it('when a .network file matches the interface, then a drop-in is created beside it; undo removes it; netplan wins over networkd', () => {
    const r = root({ 'etc/systemd/network/10-uplink.network': '[Match]\nName=rw-*\n\n[Network]\nAddress=10.231.1.1/24\n' });
    const [d] = detectNetSystems('rw-gw0', { root: r });
    expect(d).toMatchObject({ system: 'systemd-networkd', file: join(r, 'etc/systemd/network/10-uplink.network.d/roamwatch.conf') });
    const rec = writePersist(planPersist(d!, s, { name: 'rw' }), { backupSuffix: 'x' });
    expect(parsePersisted('systemd-networkd', readFileSync(rec.file, 'utf8'), 'rw-gw0')).toEqual([s]);
    expect(revertPersist(rec)).toMatch(/removed/);
    const r2 = root({ 'etc/netplan/50-cloud.yaml': 'network:\n  version: 2\n  ethernets:\n    rw-gw0:\n      addresses: [10.231.1.1/24]\n', 'etc/systemd/network/10-uplink.network': '[Match]\nName=rw-gw0\n' });
    expect(detectNetSystems('rw-gw0', { root: r2 }).map((x) => x.system)).toEqual(['netplan']);
  });

  it('when netplan defines the interface as a bond, then the snippet uses the bonds key, and a second route merges into the same file', () => {
    const r = root({ 'etc/netplan/50-bond.yaml': 'network:\n  version: 2\n  bonds:\n    bond0:\n      interfaces: [eth0, eth1]\n' });
    const [d] = detectNetSystems('bond0', { root: r });
    expect(d).toMatchObject({ system: 'netplan', netplanKind: 'bonds' });
    const a = spec('ip route add 10.231.1.2/32 dev bond0 src 10.231.0.1');
    const b = spec('ip route add 10.231.1.2/32 dev bond0 src 10.231.0.2 metric 1');
    writePersist(planPersist(d!, a, { name: 'rw' }), { backupSuffix: 'a' });
    const rec = writePersist(planPersist(d!, b, { name: 'rw2' }), { backupSuffix: 'b' });
    const text = readFileSync(rec.file, 'utf8');
    expect(text).toContain('\n  bonds:\n    bond0:\n');
    expect(parsePersisted('netplan', text)).toEqual([a, b]);
    expect(statSync(rec.file).mode & 0o777).toBe(0o600);
  });

  it('when NetworkManager owns the interface, then the route goes into its keyfile with the next free number, mode kept', () => {
    const r = root({ 'etc/NetworkManager/system-connections/uplink.nmconnection': '[connection]\nid=uplink\ninterface-name=rw-gw0\n\n[ipv4]\nmethod=manual\naddress1=10.231.1.1/24\nroute1=192.0.2.0/24,10.231.1.254\n\n[ipv6]\nmethod=disabled\n' });
    const f = join(r, 'etc/NetworkManager/system-connections/uplink.nmconnection');
    chmodSync(f, 0o600);
    const [d] = detectNetSystems('rw-gw0', { root: r });
    expect(d?.system).toBe('networkmanager');
    const rec = writePersist(planPersist(d!, s, { name: 'rw' }), { backupSuffix: 'x' });
    const text = readFileSync(f, 'utf8');
    expect(text).toContain('route2=10.231.1.2/32\nroute2_options=src=10.231.0.1\n\n[ipv6]');
    expect(parsePersisted('networkmanager', text, 'rw-gw0').map((x) => x.dst)).toEqual(['192.0.2.0/24', '10.231.1.2/32']);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    writeFileSync(f, `${text}# edited\n`);
    expect(() => revertPersist(rec)).toThrow(/edited after roamwatch wrote it/);
  });

  it('when FRR already maps static routes through a route-map, then persisting refuses and says what to add', () => {
    const r = root({ 'etc/frr/frr.conf': 'ip protocol static route-map MINE\n' });
    const d = detectNetSystems('rw-gw0', { root: r }).find((x) => x.system === 'frr');
    expect(() => planPersist(d!, s, { name: 'rw' })).toThrow(/already sets a route-map for static routes/);
  });
});
