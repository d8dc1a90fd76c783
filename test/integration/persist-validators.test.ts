// The persistence generators of `roamwatch doctor --persist` (agent/src/path/remediate/
// persist.ts) against each network system's own validator, as Debian 12 packages them:
// netplan (`netplan generate --root-dir`, whose systemd-networkd output is then parsed back
// with the .network parser), ifupdown (`ifquery -i FILE IFACE`), BIRD 2 (`bird -p -c FILE`)
// and FRR (`vtysh -C -f FILE`, a dry run of the config). NetworkManager 1.42 has no offline
// keyfile validator: its generator is checked by the unit tests' round trip only.
// The tools are lines of scripts/commands.txt (group lab), installed by scripts/lab/install.sh.
import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseIpRouteCommand, parsePersisted, renderBird, renderFrr, renderIfupdown, renderNetplan, type RouteSpec } from '@roamwatch/agent';

const NETPLAN = '/usr/sbin/netplan';
const IFQUERY = '/usr/sbin/ifquery';
const BIRD = '/usr/sbin/bird';
const VTYSH = '/usr/bin/vtysh';
const TOOLS = { netplan: NETPLAN, ifquery: IFQUERY, bird: BIRD, vtysh: VTYSH };
const INSTALL = 'bash scripts/lab/install.sh (Debian packages netplan.io ifupdown bird2 frr, from scripts/commands.txt)';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, out: `${String(stdout)}${String(stderr)}` });
    });
  });
}

const spec = (cmd: string): RouteSpec => parseIpRouteCommand(cmd).spec;
const SPECS = [
  spec('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1'),
  spec('ip route add 198.51.100.7/32 via 10.0.0.254 dev eth0 src 192.0.2.1 metric 1'),
  spec('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.4 table 100'),
  spec('ip -6 route add fd00:231:1::2/128 dev rw-gw0 src fd00:231::1 metric 256'),
];
const dir = (): string => mkdtempSync(join(tmpdir(), 'rw-validate-'));

beforeAll(() => {
  const missing: string[] = [];
  for (const [name, path] of Object.entries(TOOLS)) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      missing.push(`${name} (${path})`);
    }
  }
  if (missing.length) throw new Error(`network-config validators missing: ${missing.join(', ')}; install them with: ${INSTALL}`);
});

describe('persistence snippets pass each system\'s own validator', () => {
  for (const s of SPECS) {
    const label = `${s.dst} src ${s.prefsrc}${s.table ? ` table ${s.table}` : ''}`;

    it(`netplan generate accepts the snippet for ${label}, and the systemd-networkd unit it generates parses back to the same route`, async () => {
      const root = dir();
      mkdirSync(join(root, 'etc/netplan'), { recursive: true });
      const f = join(root, 'etc/netplan/90-roamwatch.yaml');
      writeFileSync(f, renderNetplan(s, { dev: s.dev as string }));
      chmodSync(f, 0o600);
      const r = await run(NETPLAN, ['generate', '--root-dir', root]);
      expect(r, r.out).toMatchObject({ code: 0 });
      const netDir = join(root, 'run/systemd/network');
      const unit = readdirSync(netDir).find((n) => n.endsWith('.network'));
      const routes = parsePersisted('systemd-networkd', readFileSync(join(netDir, unit as string), 'utf8'), s.dev);
      expect(routes).toEqual([s]);
    });

    it(`ifquery reads the ifupdown stanza for ${label} with the up/down lines`, async () => {
      const f = join(dir(), 'interfaces');
      writeFileSync(f, `iface ${s.dev} inet${s.family === 6 ? '6' : ''} manual\n${renderIfupdown(s)}`);
      const r = await run(IFQUERY, ['-i', f, s.dev as string]);
      expect(r, r.out).toMatchObject({ code: 0 });
      const up = /^up: (.*)$/m.exec(r.out)?.[1];
      expect(up && parseIpRouteCommand(up).spec).toEqual(s);
    });

    it(`bird -p accepts the static protocol for ${label} (or the generator refuses a table BIRD cannot reach)`, async () => {
      if (s.table === 100) {
        expect(() => renderBird(s, { name: 'rw' })).toThrow(/own BIRD table/);
        return;
      }
      const f = join(dir(), 'bird.conf');
      writeFileSync(f, `router id 192.0.2.1;\nprotocol device {}\n${renderBird(s, { name: 'rw' })}`);
      const r = await run(BIRD, ['-p', '-c', f]);
      expect(r, r.out).toMatchObject({ code: 0 });
    });

    it(`vtysh --dryrun accepts the FRR static route and route-map for ${label}`, async () => {
      const f = join(dir(), 'frr.conf');
      writeFileSync(f, renderFrr(s, { name: 'rw' }));
      const r = await run(VTYSH, ['-C', '-f', f]);
      expect(r, r.out).toMatchObject({ code: 0 });
    });
  }

  it('when a snippet is broken, then each validator rejects it (the checks above can fail)', async () => {
    const d = dir();
    writeFileSync(join(d, 'frr.conf'), 'ip route 10.231.1.2/32 bogus words\n');
    expect((await run(VTYSH, ['-C', '-f', join(d, 'frr.conf')])).code).not.toBe(0);
    writeFileSync(join(d, 'bird.conf'), 'protocol static roamwatch_x { ipv4; route 10.231.1.2/32 via dev "x"; }\n');
    expect((await run(BIRD, ['-p', '-c', join(d, 'bird.conf')])).code).not.toBe(0);
    writeFileSync(join(d, 'interfaces'), 'iface x inet bogus\n');
    expect((await run(IFQUERY, ['-i', join(d, 'interfaces'), 'x'])).code).not.toBe(0);
    mkdirSync(join(d, 'etc/netplan'), { recursive: true });
    writeFileSync(join(d, 'etc/netplan/x.yaml'), 'network:\n  version: 2\n  ethernets:\n    x:\n      routes:\n        - to: not-a-prefix\n');
    chmodSync(join(d, 'etc/netplan/x.yaml'), 0o600);
    expect((await run(NETPLAN, ['generate', '--root-dir', d])).code).not.toBe(0);
  });
});
