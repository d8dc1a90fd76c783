import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStrongswanConf, lookupValue } from '../strongswan-conf.js';
import { readSwanctlMobike } from '../evaluate.js';
import { parseConfigFix, planConfigEdit, writeConfigEdit } from './config-edit.js';
import { revertPersist } from './persist.js';

function files(swanctl: string, strongswan = 'charon {\n    load_modular = yes\n}\n', extra: Record<string, string> = {}) {
  const d = mkdtempSync(join(tmpdir(), 'rw-confedit-'));
  mkdirSync(join(d, 'conf.d'));
  writeFileSync(join(d, 'swanctl.conf'), swanctl);
  writeFileSync(join(d, 'strongswan.conf'), strongswan);
  for (const [n, t] of Object.entries(extra)) writeFileSync(join(d, n), t);
  return { swanctlConf: join(d, 'swanctl.conf'), strongswanConf: join(d, 'strongswan.conf'), dir: d };
}

const localAddrs = { kind: 'config' as const, command: 'connections.rw.local_addrs = 10.231.0.1   # swanctl.conf, then: swanctl --load-conns' };

describe('config-level fixes as reviewed edits', () => {
  it('when local_addrs is a hostname in an included file, then that line is changed and the diff shows exactly it', () => {
    const f = files('include conf.d/*.conf\n', undefined, {});
    writeFileSync(join(f.dir, 'conf.d/rw.conf'), 'connections {\n    rw {\n        local_addrs = gw.example.net   # the loopback address\n        remote_addrs = 10.231.1.2\n    }\n}\n');
    const e = planConfigEdit(localAddrs, f);
    expect(e.file).toBe(join(f.dir, 'conf.d/rw.conf'));
    expect(e.reload).toBe('swanctl --load-conns');
    expect(e.diff).toContain('-        local_addrs = gw.example.net   # the loopback address\n+        local_addrs = 10.231.0.1   # the loopback address\n');
    const rec = writeConfigEdit(e, { backupSuffix: 't1' });
    const conf = loadStrongswanConf(f.swanctlConf);
    expect(lookupValue(conf.root, 'connections.rw.local_addrs')?.value).toBe('10.231.0.1');
    expect(revertPersist(rec)).toMatch(/restored/);
    expect(readFileSync(e.file, 'utf8')).toBe(e.before);
  });

  it('when the connection has no local_addrs (default %any), then it is added to the connection section', () => {
    const f = files('connections {\n    rw {\n        remote_addrs = 10.231.1.2\n    }\n}\n');
    const e = planConfigEdit(localAddrs, f);
    expect(e.after).toBe('connections {\n    rw {\n        local_addrs = 10.231.0.1\n        remote_addrs = 10.231.1.2\n    }\n}\n');
    writeConfigEdit(e, { backupSuffix: 't2' });
    expect(readSwanctlMobike(f.swanctlConf).has('rw')).toBe(true);
    expect(lookupValue(loadStrongswanConf(f.swanctlConf).root, 'connections.rw.local_addrs')?.value).toBe('10.231.0.1');
  });

  it('when a strongswan.conf setting is absent, then the nested sections are appended, and the parser reads the new value', () => {
    const f = files('connections {\n}\n');
    const e = planConfigEdit({ kind: 'setting', command: 'charon.plugins.kernel-netlink.roam_events = no   # strongswan.conf, then restart charon' }, f);
    expect(e.reload).toBe('restart charon');
    writeConfigEdit(e, { backupSuffix: 't3' });
    expect(lookupValue(loadStrongswanConf(f.strongswanConf).root, 'charon.plugins.kernel-netlink.roam_events')?.value).toBe('no');
    expect(lookupValue(loadStrongswanConf(f.strongswanConf).root, 'charon.load_modular')?.value).toBe('yes');
  });

  it('when the file changed after the diff was shown, or the fix is a route, then it is refused', () => {
    const f = files('connections {\n    rw {\n    }\n}\n');
    const e = planConfigEdit(localAddrs, f);
    writeFileSync(f.swanctlConf, `${e.before}# edited\n`);
    expect(() => writeConfigEdit(e, { backupSuffix: 't4' })).toThrow(/changed since the diff was shown/);
    expect(() => parseConfigFix({ kind: 'route', command: 'ip route add 10.0.0.1/32 dev eth0 src 10.0.0.2' })).toThrow(/not a config-level fix/);
  });
});
