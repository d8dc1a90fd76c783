// The charon builds a lab can run (docs/lab.md, "Charon builds"): Debian's packaged 5.9.8
// and strongSwan built from source by scripts/lab/strongswan-build.sh (6.0.6 by default),
// side by side. A lab picks one per createLab({ charon }); tests that must hold on every
// version iterate over labCharons().
import { accessSync, constants, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Which charon a lab runs:
 * - '5.9': Debian 12's packages (/usr/lib/ipsec/charon, /usr/sbin/swanctl), 5.9.8
 * - '6.0': the build of scripts/lab/strongswan-build.sh, $ROAMWATCH_CACHE/strongswan/6.0
 * - any other string: the installation prefix of another build (a directory holding
 *   libexec/ipsec/charon, sbin/swanctl and lib/ipsec/plugins), e.g. a different version
 *   built with ROAMWATCH_STRONGSWAN_VERSION.
 */
export type CharonSpec = '5.9' | '6.0' | (string & {});

export interface CharonBuild {
  /** The spec it was resolved from ('5.9', '6.0' or the prefix). */
  spec: string;
  /** Human label for test names and tables, e.g. 'charon 6.0.6'. */
  label: string;
  charon: string;
  swanctl: string;
  pluginDir: string;
  /** Installation prefix (undefined for the distribution's packages). */
  prefix: string | undefined;
}

export const DEBIAN_CHARON = '/usr/lib/ipsec/charon';
export const DEBIAN_SWANCTL = '/usr/sbin/swanctl';
export const DEBIAN_PLUGIN_DIR = '/usr/lib/ipsec/plugins';
export const BUILD_COMMAND = 'bash scripts/lab/install.sh';

/** Where scripts/lab/strongswan-build.sh installs (same default as scripts/lib.sh). */
export function strongswanCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['ROAMWATCH_CACHE'] || '/var/cache/roamwatch', 'strongswan');
}

/** Resolves a spec to paths (without checking they exist: see charonBuildProblems()). */
export function resolveCharon(spec: CharonSpec = defaultCharonSpec(), env: NodeJS.ProcessEnv = process.env): CharonBuild {
  if (spec === '5.9' || spec === 'system') {
    return { spec: '5.9', label: 'charon 5.9 (Debian)', charon: DEBIAN_CHARON, swanctl: DEBIAN_SWANCTL, pluginDir: DEBIAN_PLUGIN_DIR, prefix: undefined };
  }
  const prefix = /^\d+\.\d+$/.test(spec) ? join(strongswanCacheDir(env), spec) : spec;
  if (!prefix.startsWith('/')) throw new Error(`charon spec ${JSON.stringify(spec)}: '5.9', '6.0' or an absolute installation prefix`);
  return {
    spec,
    label: /^\d+\.\d+$/.test(spec) ? `charon ${spec} (source build)` : `charon at ${prefix}`,
    charon: join(prefix, 'libexec/ipsec/charon'),
    swanctl: join(prefix, 'sbin/swanctl'),
    pluginDir: join(prefix, 'lib/ipsec/plugins'),
    prefix,
  };
}

/** True when PATH is an executable regular file. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** What is missing for this build (empty when it can run). */
export function charonBuildProblems(b: CharonBuild): string[] {
  const p: string[] = [];
  const pkg = b.prefix === undefined;
  if (!executable(b.charon)) p.push(`charon not found at ${b.charon}${pkg ? ' (Debian package strongswan-charon)' : ' (built by scripts/lab/strongswan-build.sh)'}`);
  if (!executable(b.swanctl)) p.push(`swanctl not found at ${b.swanctl}${pkg ? ' (Debian package strongswan-swanctl)' : ''}`);
  if (!existsSync(join(b.pluginDir, 'libstrongswan-kernel-libipsec.so'))) {
    p.push(`kernel-libipsec plugin missing in ${b.pluginDir}${pkg ? ' (Debian package libcharon-extra-plugins)' : ''}`);
  }
  return p;
}

/** The plugins of `wanted` (strongswan.conf names) that this build has. */
export function availablePlugins(b: CharonBuild, wanted: readonly string[]): string[] {
  let files: string[];
  try {
    files = readdirSync(b.pluginDir);
  } catch {
    return [...wanted];
  }
  const have = new Set(files.filter((f) => f.startsWith('libstrongswan-') && f.endsWith('.so')).map((f) => f.slice('libstrongswan-'.length, -'.so'.length)));
  return wanted.filter((w) => have.has(w));
}

const versionCache = new Map<string, string>();

/** `charon --version` of the build, e.g. '6.0.6' (cached per binary). */
export function charonVersion(b: CharonBuild): string {
  const key = (() => {
    try {
      return realpathSync(b.charon);
    } catch {
      return b.charon;
    }
  })();
  const hit = versionCache.get(key);
  if (hit) return hit;
  const out = execFileSync(b.charon, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  // "Linux strongSwan U5.9.8/K6.1.0-…" (Debian) or "Linux strongSwan U6.0.6/K…"
  const m = /strongSwan U?(\d+\.\d+\.\d+\w*)/.exec(out);
  const v = m?.[1] ?? out.trim();
  versionCache.set(key, v);
  return v;
}

/** The lab's default charon: env ROAMWATCH_LAB_CHARON, else '5.9'. */
export function defaultCharonSpec(env: NodeJS.ProcessEnv = process.env): CharonSpec {
  return env['ROAMWATCH_LAB_CHARON'] || '5.9';
}

/**
 * The charon builds the version matrix runs on: env ROAMWATCH_LAB_CHARONS (comma-separated
 * specs), default '5.9,6.0'. Tests iterate over it (describe.each) and the integration
 * setup checks every one of them, so a missing build fails the run instead of shrinking it.
 */
export function labCharons(env: NodeJS.ProcessEnv = process.env): CharonSpec[] {
  const raw = env['ROAMWATCH_LAB_CHARONS'] ?? '5.9,6.0';
  const specs = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (specs.length === 0) throw new Error('ROAMWATCH_LAB_CHARONS is empty: name at least one charon build (5.9, 6.0 or a prefix)');
  return specs;
}
