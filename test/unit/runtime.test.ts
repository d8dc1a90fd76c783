/**
 * One Node.js runtime everywhere (README.md "Node.js"): the version scripts/node.sh pins is the
 * one the container image is built on and the package ships; engines ask for it; CI uses it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (f: string): string => readFileSync(root + f, 'utf8');
const pinned = read('scripts/node.sh').match(/^RW_NODE_VERSION="(\d+)\.(\d+)\.(\d+)"$/m);

/**
 * Whether version [major, minor, patch] satisfies an npm `engines` range made of `^X.Y.Z` and
 * `>=X.Y.Z` alternatives joined by `||` (the forms vitest and vite use); any other form throws,
 * so a package that changes its range is read here again rather than passed by accident.
 */
type Version = [number, number, number];
function satisfies(v: Version, range: string): boolean {
  const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  return range.split('||').some((alt) => {
    const m = alt.trim().match(/^(\^|>=)(\d+)\.(\d+)\.(\d+)$/);
    if (!m) throw new Error(`unsupported engines range "${alt.trim()}" in "${range}"`);
    const min: Version = [Number(m[2]), Number(m[3]), Number(m[4])];
    return cmp(v, min) >= 0 && (m[1] === '>=' || v[0] === min[0]);
  });
}

describe('the Node.js runtime', () => {
  it('when scripts/node.sh pins a version, then it is a 24.x LTS release with its integrity', () => {
    expect(pinned?.[1]).toBe('24');
    expect(read('scripts/node.sh')).toMatch(/^RW_NODE_INTEGRITY="sha512-[A-Za-z0-9+/]{86}=="$/m);
  });

  it('when the image is built, then both stages use exactly the pinned version', () => {
    const froms = [...read('Dockerfile').matchAll(/^FROM node:(\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual([`${pinned![1]}.${pinned![2]}.${pinned![3]}-bookworm`, `${pinned![1]}.${pinned![2]}.${pinned![3]}-bookworm-slim`]);
  });

  it('when installed with npm, then engines ask for Node.js >= 24', () => {
    expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe('>=24');
  });

  it('when CI runs, then it puts scripts/node.sh\'s runtime first in PATH before npm ci', () => {
    const ci = read('.ci/run');
    expect(ci.indexOf('scripts/node.sh path')).toBeGreaterThan(0);
    expect(ci.indexOf('scripts/node.sh path')).toBeLessThan(ci.indexOf('phase "npm ci"'));
  });

  it('when the test toolchain is installed, then vitest 5 is pinned exactly, vite (its required peer since 5.0) is a pinned devDependency, and both accept the pinned Node.js', () => {
    const dev = (JSON.parse(read('package.json')) as { devDependencies: Record<string, string> }).devDependencies;
    expect(dev.vitest).toMatch(/^5\.\d+\.\d+$/);
    expect(dev.vite).toMatch(/^\d+\.\d+\.\d+$/);
    const installed = (name: string) => JSON.parse(read(`node_modules/${name}/package.json`)) as {
      version: string;
      engines: { node: string };
      peerDependencies?: Record<string, string>;
    };
    expect(installed('vitest').version).toBe(dev.vitest);
    expect(installed('vite').version).toBe(dev.vite);
    expect(installed('vitest').peerDependencies?.vite).toBeDefined();
    const node: Version = [Number(pinned![1]), Number(pinned![2]), Number(pinned![3])];
    for (const name of ['vitest', 'vite']) {
      expect(satisfies(node, installed(name).engines.node), `${name} engines.node "${installed(name).engines.node}"`).toBe(true);
    }
  });

  it('when the systemd unit starts the agent, then only --config is on its command line (spool.dir and every other key come from the file)', () => {
    expect(read('deploy/roamwatch-agent.service').match(/^ExecStart=(.*)$/m)?.[1]).toBe('/usr/bin/roamwatch agent --config /etc/roamwatch/agent.yaml');
  });
});
