/**
 * scripts/lab/strongswan-build.sh refuses what it cannot verify, before any apt or build
 * step, and reuses a cached build (docs/lab.md, "Building 6.0.6"). Runs the script against
 * a private $ROAMWATCH_CACHE; nothing is built or downloaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/lab/strongswan-build.sh', import.meta.url));

function runScript(env: Record<string, string>, args: string[] = []): { code: number | null; out: string } {
  const cache = mkdtempSync(join(tmpdir(), 'rw-ssbuild-'));
  const r = spawnSync('bash', [SCRIPT, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ROAMWATCH_CACHE: cache, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function fakeTarball(withSums?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rw-ssbuild-src-'));
  writeFileSync(join(dir, 'strongswan-6.0.6-git.tar.gz'), 'not really a tarball\n');
  if (withSums) writeFileSync(join(dir, 'SHA256SUMS'), `${withSums}  strongswan-6.0.6-git.tar.gz\n`);
  return join(dir, 'strongswan-6.0.6-git.tar.gz');
}

describe('scripts/lab/strongswan-build.sh', () => {
  it('when the tarball does not match its SHA256SUMS, then it stops with both checksums', () => {
    const r = runScript({ ROAMWATCH_STRONGSWAN_SOURCE: fakeTarball('0'.repeat(64)) });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/checksum mismatch for .*strongswan-6\.0\.6-git\.tar\.gz: expected 0{64}, got [0-9a-f]{64}/);
  });

  it('when a local tarball has no checksum anywhere, then it says how to give one', () => {
    const r = runScript({ ROAMWATCH_STRONGSWAN_SOURCE: fakeTarball() });
    expect(r.code).toBe(1);
    expect(r.out).toContain('set ROAMWATCH_STRONGSWAN_SHA256 or put a SHA256SUMS beside it');
  });

  it('when the source is a URL without a checksum, then it refuses before downloading', () => {
    const r = runScript({ ROAMWATCH_STRONGSWAN_SOURCE: 'https://download.strongswan.org/strongswan-6.0.6.tar.bz2' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('ROAMWATCH_STRONGSWAN_SHA256 is required with a URL');
  });

  it('when the version is not X.Y.Z or an argument is unknown, then it says so', () => {
    expect(runScript({ ROAMWATCH_STRONGSWAN_VERSION: '6.0' }).out).toContain('must look like 6.0.6');
    expect(runScript({}, ['--bogus']).out).toContain("unknown argument '--bogus'");
  });

  it('when the build for the tarball and flags is cached, then it only (re)links it and prints the prefix', () => {
    const tarball = fakeTarball();
    const sha = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0]!;
    // the script's cache key: tarball sha and configure-flags sha (12 hex digits each); find the
    // flags part by letting the script name the prefix it looks for
    const cache = mkdtempSync(join(tmpdir(), 'rw-ssbuild-'));
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ROAMWATCH_CACHE: cache, ROAMWATCH_STRONGSWAN_SOURCE: tarball, ROAMWATCH_STRONGSWAN_SHA256: sha };
    const flags = spawnSync('bash', ['-c', `sed -n '/^CONFIGURE_FLAGS=(/,/^)/p' "${SCRIPT}" | sed '1d;$d' | xargs -n1 | sha256sum | cut -c1-12`], { encoding: 'utf8' }).stdout.trim();
    const prefix = join(cache, 'strongswan', `6.0.6-${sha.slice(0, 12)}-${flags}`);
    for (const d of ['libexec/ipsec', 'sbin']) mkdirSync(join(prefix, d), { recursive: true });
    for (const f of ['libexec/ipsec/charon', 'sbin/swanctl']) writeFileSync(join(prefix, f), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(prefix, '.complete'), 'version=6.0.6\n');
    const r = spawnSync('bash', [SCRIPT, '--print-prefix'], { env, encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toContain('strongSwan 6.0.6 present');
    expect(r.stdout.trim()).toBe(prefix);
    expect(spawnSync('readlink', [join(cache, 'strongswan', '6.0')], { encoding: 'utf8' }).stdout.trim()).toBe(`6.0.6-${sha.slice(0, 12)}-${flags}`);
  });
});
