import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { analyze } from './analyze.js';
import { conn, sa } from './fixtures.js';
import { fetchKernelAnswers, ipRunner, readNetState, routeFromIpJson, type IpRunner } from './ip-json.js';
import { defaultCharonSettings, resolveCharonSettings } from './settings.js';
import { parseStrongswanConf } from './strongswan-conf.js';

const idx = (n: string): number | undefined => ({ lo: 1, v0: 3 })[n];

describe('ip -j → core types', () => {
  it('converts `ip -j route` objects as iproute2 6.1 prints them', () => {
    // captured from `ip -j route show table all` in a test namespace
    expect(routeFromIpJson({ dst: '198.51.100.0/24', gateway: '10.9.0.254', dev: 'v0', table: '100', prefsrc: '192.0.2.1', metric: 5, flags: ['linkdown'] }, 4, idx)).toEqual({
      family: 4,
      table: 100,
      dst: '198.51.100.0/24',
      type: 'unicast',
      protocol: 'boot',
      scope: 'universe',
      priority: 5,
      prefsrc: '192.0.2.1',
      gateway: '10.9.0.254',
      oif: 'v0',
      oifIndex: 3,
      flags: ['linkdown'],
    });
    expect(routeFromIpJson({ dst: 'default', gateway: '10.9.0.254', dev: 'v0', flags: ['onlink'] }, 4, idx).dst).toBe('0.0.0.0/0');
    expect(routeFromIpJson({ type: 'local', dst: '192.0.2.1', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.0.2.1', flags: [] }, 4, idx)).toMatchObject({ table: 255, dst: '192.0.2.1/32', type: 'local' });
    // `ip route get … from <src>` (IPv6): RTA_SRC and the kernel's own prefsrc
    expect(routeFromIpJson({ dst: '2001:db8:ffff::7', from: '2001:db8:1::1', gateway: '2001:db8::fe', dev: 'v0', prefsrc: '2001:db8::1', metric: 1024, flags: [], pref: 'medium' }, 6, idx)).toMatchObject({
      dst: '2001:db8:ffff::7/128',
      src: '2001:db8:1::1/128',
      prefsrc: '2001:db8::1',
    });
    expect(routeFromIpJson({ dst: '2001:db8:ffff::7', from: '::', dev: 'v0' }, 6, idx).src).toBeUndefined();
    expect(routeFromIpJson({ dst: 'default', nexthops: [{ gateway: '10.0.0.1', dev: 'v0', weight: 1, flags: [] }, { gateway: '10.0.0.2', dev: 'v0', weight: 2, flags: [] }] }, 4, idx).multipath).toEqual([
      { gateway: '10.0.0.1', oif: 'v0', oifIndex: 3, weight: 1 },
      { gateway: '10.0.0.2', oif: 'v0', oifIndex: 3, weight: 2 },
    ]);
  });

  it('when ip fails, then the error says which command', async () => {
    const failing: IpRunner = async () => ({ stdout: '', stderr: 'Cannot open netlink socket: Permission denied', code: 2 });
    await expect(readNetState(failing)).rejects.toThrow(/ip -j -d link show failed: Cannot open netlink socket/);
  });
});

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const hasIp = spawnSync('ip', ['-V']).status === 0;

describe.runIf(root && hasIp)('in a network namespace (root)', () => {
  it('reads the state, and the kernel keeps an IPv4 source hint but not an IPv6 one (install_routes = no)', async () => {
    const ns = `rwpath-${process.pid}`;
    const sh = (args: string[]): void => {
      const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    };
    spawnSync('ip', ['netns', 'add', ns]);
    try {
      spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
      sh(['link', 'set', 'lo', 'up']);
      sh(['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
      sh(['link', 'set', 'v0', 'up']);
      sh(['link', 'set', 'v1', 'up']);
      sh(['addr', 'add', '10.0.0.1/24', 'dev', 'v0']);
      sh(['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
      sh(['addr', 'add', '2001:db8::1/64', 'dev', 'v0', 'nodad']);
      sh(['addr', 'add', '2001:db8:1::1/128', 'dev', 'lo']);
      sh(['route', 'add', 'default', 'via', '10.0.0.254', 'dev', 'v0']);
      sh(['-6', 'route', 'add', 'default', 'via', '2001:db8::fe', 'dev', 'v0']);
      const run = ipRunner({ netns: ns });
      const st = await readNetState(run);
      expect(st.addresses.some((a) => a.address === '192.0.2.1' && a.ifName === 'lo')).toBe(true);
      expect(st.routes.some((r) => r.dst === '0.0.0.0/0' && r.gateway === '10.0.0.254')).toBe(true);
      const dumpMode = defaultCharonSettings();
      expect(analyze(st, sa(), conn(), dumpMode).verdict).toBe('at-risk');
      const kernelMode = resolveCharonSettings(parseStrongswanConf('charon { install_routes = no }'));
      for (const [s, want] of [
        [sa(), 'valid'],
        [sa({ remoteHost: '2001:db8:ffff::7' }), 'at-risk'],
      ] as const) {
        const first = analyze(st, s, conn(), kernelMode);
        const answers = await fetchKernelAnswers(first.missingKernelLookups, new Map(), run, st.links);
        const again = analyze(st, s, conn(), kernelMode, '5.9.8', { kernelAnswers: answers });
        const more = await fetchKernelAnswers(again.missingKernelLookups, answers, run, st.links);
        expect(analyze(st, s, conn(), kernelMode, '5.9.8', { kernelAnswers: more }).verdict).toBe(want);
      }
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});
