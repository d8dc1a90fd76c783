import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandGlob, lookupValue, parseStrongswanConf, StrongswanConfError, type ConfFs } from './strongswan-conf.js';
import { loadCharonSettings, resolveCharonSettings, strongswanConfPath, usesKernelLookup } from './settings.js';

function memFs(files: Record<string, string>): ConfFs {
  return {
    readFile: (p) => {
      const f = files[p];
      if (f === undefined) throw new Error(`ENOENT: ${p}`);
      return f;
    },
    readdir: (dir) => {
      const d = dir.endsWith('/') ? dir : `${dir}/`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) if (p.startsWith(d)) names.add(p.slice(d.length).split('/')[0] as string);
      if (names.size === 0) throw new Error(`ENOTDIR: ${dir}`);
      return [...names];
    },
    isFile: (p) => files[p] !== undefined,
  };
}

describe('strongswan.conf parser', () => {
  it('reads sections, key = value, comments, quoted strings and multi-word values', () => {
    const c = parseStrongswanConf(
      [
        '# leading comment',
        'charon {  # trailing comment',
        '  load_modular = yes',
        '  plugins',
        '  {',
        '    kernel-netlink {',
        '      roam_events = no # off',
        '      fwmark = !0x42/0xff',
        '    }',
        '  }',
        '  ignore_routing_tables = 100   200',
        '  quoted = "a  b # not a comment\\n"',
        '  empty =',
        '}',
      ].join('\n'),
    );
    expect(lookupValue(c.root, 'charon.plugins.kernel-netlink.roam_events')?.value).toBe('no');
    expect(lookupValue(c.root, 'charon.ignore_routing_tables')?.value).toBe('100 200');
    expect(lookupValue(c.root, 'charon.quoted')?.value).toBe('a  b # not a comment\n');
    expect(lookupValue(c.root, 'charon.empty')?.value).toBe('');
    expect(lookupValue(c.root, 'charon.plugins.kernel-netlink.roam_events')?.line).toBe(7);
  });

  it('when a key or section is given twice, then the later value wins and sections merge', () => {
    const c = parseStrongswanConf('charon {\n a = 1\n}\ncharon {\n a = 2\n b = 3\n}\n');
    expect(lookupValue(c.root, 'charon.a')?.value).toBe('2');
    expect(lookupValue(c.root, 'charon.b')?.value).toBe('3');
  });

  it('follows include globs relative to the including file, in sorted order, also inside sections', () => {
    const fs = memFs({
      '/etc/strongswan.conf': 'charon {\n  plugins {\n    include strongswan.d/charon/*.conf\n  }\n  process_route = yes\n}\ninclude strongswan.d/*.conf\n',
      '/etc/strongswan.d/charon/kernel-netlink.conf': 'kernel-netlink {\n  roam_events = no\n}\n',
      '/etc/strongswan.d/charon/a.conf': 'kernel-netlink {\n  roam_events = yes\n  process_rules = yes\n}\n',
      '/etc/strongswan.d/charon.conf': 'charon {\n  process_route = no\n}\n',
      '/etc/strongswan.d/zz.conf': 'charon {\n install_routes = no\n}',
    });
    const s = loadCharonSettings({ path: '/etc/strongswan.conf', fs });
    // a.conf sorts before kernel-netlink.conf: kernel-netlink.conf's "no" wins
    expect(s.roamEvents).toBe(false);
    expect(s.processRules).toBe(true);
    expect(s.processRoute).toBe(false);
    expect(s.installRoutes).toBe(false);
    expect(s.origins['charon.process_route']).toEqual({ file: '/etc/strongswan.d/charon.conf', line: 2 });
    expect(s.files).toContain('/etc/strongswan.d/zz.conf');
  });

  it('when an include matches nothing, then it is a warning, not an error', () => {
    const c = parseStrongswanConf('include /nonexistent/*.conf\na = b\n', { fs: memFs({}) });
    expect(c.warnings[0]).toMatch(/no files found/);
    expect(lookupValue(c.root, 'a')?.value).toBe('b');
  });

  it('when the syntax is broken, then the error names file and line', () => {
    expect(() => parseStrongswanConf('charon {\n a = b\n', { file: 'x.conf' })).toThrow(StrongswanConfError);
    expect(() => parseStrongswanConf('a "b"\n', { file: 'x.conf' })).toThrow(/x.conf:1/);
  });

  it('section references make lookups fall back to the referenced section', () => {
    const c = parseStrongswanConf('base {\n  process_route = no\n}\ncharon : base {\n  x = 1\n}\n');
    expect(resolveCharonSettings(c).processRoute).toBe(false);
  });

  it('charon-systemd falls back to the charon section', () => {
    const c = parseStrongswanConf('charon {\n process_route = no\n}\ncharon-systemd {\n install_routes = no\n}\n');
    const s = resolveCharonSettings(c, { namespace: 'charon-systemd' });
    expect(s.processRoute).toBe(false);
    expect(s.installRoutes).toBe(false);
  });

  it('defaults are charon\'s (5.9.x: routing table 220, make_before_break no)', () => {
    const s = resolveCharonSettings(undefined);
    expect(s).toMatchObject({ processRoute: true, roamEvents: true, processRules: false, routingTable: 220, installRoutes: true, makeBeforeBreak: false });
    expect(resolveCharonSettings(undefined, { charonVersion: '6.0.0' }).makeBeforeBreak).toBe(true);
    expect(usesKernelLookup(s).kernel).toBe(false);
  });

  it('STRONGSWAN_CONF is honoured unless a path is given', () => {
    expect(strongswanConfPath(undefined, { STRONGSWAN_CONF: '/x/s.conf' })).toBe('/x/s.conf');
    expect(strongswanConfPath('/y.conf', { STRONGSWAN_CONF: '/x/s.conf' })).toBe('/y.conf');
    expect(strongswanConfPath(undefined, {})).toBe('/etc/strongswan.conf');
  });

  it('glob supports *, ? and classes and skips dot files', () => {
    const fs = memFs({ '/d/a.conf': '', '/d/b.conf': '', '/d/.h.conf': '', '/d/c.txt': '' });
    expect(expandGlob('/d/*.conf', fs)).toEqual(['/d/a.conf', '/d/b.conf']);
    expect(expandGlob('/d/[ab].c?nf', fs)).toEqual(['/d/a.conf', '/d/b.conf']);
  });

  it('parses the strongswan.conf installed on this machine, if any, without errors', () => {
    try {
      const s = loadCharonSettings({ path: '/etc/strongswan.conf' });
      expect(typeof s.roamEvents).toBe('boolean');
    } catch (e) {
      if (!(e instanceof Error) || !/ENOENT/.test(e.message)) throw e;
    }
  });
});


describe('strongswan.conf parser properties', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/).filter((n) => n !== 'include');
  const value = fc.stringMatching(/^[A-Za-z0-9_./:%!-]{1,12}( [A-Za-z0-9_./:%!-]{1,12}){0,2}$/);
  type Tree = { [k: string]: string | Tree };
  const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
    t: fc.dictionary(name, fc.oneof({ depthSize: 'small', withCrossShrink: true }, value, tie('t')), { maxKeys: 4 }),
  })).t;

  function render(t: Tree, indent = ''): string {
    return Object.entries(t)
      .map(([k, v]) => (typeof v === 'string' ? `${indent}${k} = ${v}  # c\n` : `${indent}${k} {\n${render(v, `${indent}  `)}${indent}}\n`))
      .join('');
  }
  function leaves(t: Tree, prefix = ''): [string, string][] {
    return Object.entries(t).flatMap(([k, v]) => (typeof v === 'string' ? [[`${prefix}${k}`, v] as [string, string]] : leaves(v, `${prefix}${k}.`)));
  }

  it('every key = value of a rendered tree reads back', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const c = parseStrongswanConf(render(t));
        for (const [k, v] of leaves(t)) expect(lookupValue(c.root, k)?.value).toBe(v);
      }),
      { numRuns: 200 },
    );
  });

  it('arbitrary input either parses or throws StrongswanConfError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: fc.constantFrom('a', '=', '{', '}', '"', '#', '\n', ' ', '\\', ':', ',', 'x', '1') }), (text) => {
        try {
          parseStrongswanConf(text.replace(/include/g, 'inc'));
        } catch (e) {
          expect(e).toBeInstanceOf(StrongswanConfError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
