/**
 * The installable artifact, exercised as an operator uses it (docs/install.md): `npm run package`
 * builds the .deb and the tarball; the .deb is installed with `dpkg -i` on this machine,
 * `roamwatch --version` answers from the PATH, `systemd-analyze verify` accepts the installed
 * unit, the installed agent runs as the `roamwatch` user (with the unit's one capability,
 * CAP_NET_ADMIN) against the lab's real charon and streams its events, `dpkg -r` keeps what
 * Debian policy keeps (conffile, state) and `dpkg -P` removes everything but the system user.
 *
 * systemd is not PID 1 on the test machines, so the agent runs as the unit's ExecStart would,
 * under setpriv (user, groups, ambient capability) instead of systemctl.
 *
 * It installs a system package: it refuses to run when roamwatch is already installed (or its
 * directories exist), so that it never touches an operator's installation.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../lab/index.js';
import { ROOT, readTopic } from './agent-harness.js';
import { servers, uniqueRunId } from '../setup/servers.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'cli/package.json'), 'utf8')) as { version: string }).version;
/** Where the package puts files, and the directories its maintainer scripts create. */
const OWNED = ['/usr/bin/roamwatch', '/usr/lib/roamwatch', '/lib/systemd/system/roamwatch-agent.service', '/etc/roamwatch', '/var/lib/roamwatch', '/usr/share/doc/roamwatch'];
const UNIT = '/lib/systemd/system/roamwatch-agent.service';

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): string {
  const r = sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const installed = (): boolean => sh('dpkg-query', ['-W', '-f', '${Status}', 'roamwatch']).stdout.includes('installed');
const present = (): string[] => OWNED.filter((p) => fs.existsSync(p));
/** Every path under the package's directories (what `dpkg -P` must take away again). */
function listing(): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    if (!fs.existsSync(p)) return;
    out.push(p);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  for (const p of OWNED) walk(p);
  return out.sort();
}

let deb = '';
let tarball = '';
let lab: Lab | undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-package-'));

beforeAll(() => {
  if (installed() || present().length > 0) {
    throw new Error(`roamwatch is already installed here (or ${present().join(', ')} exist): this test installs and purges the package; remove it first with \`dpkg -P roamwatch\``);
  }
  // The package's own build, as CI runs it (scripts/package.sh), into a directory of this run.
  const out = ok('bash', [path.join(ROOT, 'scripts/package.sh'), path.join(work, 'out')], { timeoutMs: 300_000 }).trim().split('\n');
  [deb, tarball] = [out.at(-2)!, out.at(-1)!];
}, 320_000);

afterAll(async () => {
  await lab?.teardown();
  if (installed()) sh('dpkg', ['-P', 'roamwatch']);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('npm run package', () => {
  it('when built, then the .deb holds the bundled CLI, Node.js 24, rtnl-pipe, the unit and the conffile, and the tarball the same program', () => {
    expect(path.basename(deb)).toBe(`roamwatch_${VERSION}_amd64.deb`);
    const files = ok('dpkg-deb', ['-c', deb]);
    for (const f of ['./usr/bin/roamwatch', './usr/lib/roamwatch/roamwatch.mjs', './usr/lib/roamwatch/node', './usr/lib/roamwatch/rtnl-pipe', './lib/systemd/system/roamwatch-agent.service', './etc/roamwatch/agent.yaml']) {
      expect(files).toContain(f);
    }
    expect(ok('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture'])).toBe(`Package: roamwatch\nVersion: ${VERSION}\nArchitecture: amd64\n`);
    expect(ok('dpkg-deb', ['-I', deb, 'conffiles']).trim()).toBe('/etc/roamwatch/agent.yaml');
    // The tarball runs from wherever it is unpacked, without the system's Node.
    ok('tar', ['-xzf', tarball, '-C', work]);
    const r = sh(path.join(work, `roamwatch-${VERSION}`, 'bin', 'roamwatch'), ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });
});

describe('the installed package', () => {
  let before: string[] = [];

  it('when installed with dpkg -i, then roamwatch is on the PATH, runs on its own Node.js 24, and the user roamwatch is in roamwatch-vici', () => {
    before = listing();
    expect(before).toEqual([]);
    ok('dpkg', ['-i', deb]);
    expect(sh('sh', ['-c', 'command -v roamwatch'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).stdout.trim()).toBe('/usr/bin/roamwatch');
    expect(ok('roamwatch', ['--version'], { env: { PATH: '/usr/bin:/bin' } })).toBe(`${VERSION}\n`);
    expect(ok('/usr/lib/roamwatch/node', ['--version'])).toMatch(/^v24\./);
    expect(ok('id', ['-nG', 'roamwatch']).trim().split(' ')).toEqual(expect.arrayContaining(['roamwatch', 'roamwatch-vici']));
    expect(ok('stat', ['-c', '%U:%G %a', '/var/lib/roamwatch']).trim()).toBe('roamwatch:roamwatch 750');
    expect(ok('stat', ['-c', '%U:%G %a', '/etc/roamwatch/agent.yaml']).trim()).toBe('root:roamwatch 640');
  });

  it('when installed again over itself (the upgrade path), then an edited agent.yaml and the state directory stay as they were', () => {
    fs.appendFileSync('/etc/roamwatch/agent.yaml', '# edited by the operator\n');
    fs.writeFileSync('/var/lib/roamwatch/marker', 'state');
    ok('dpkg', ['-i', deb]);
    expect(fs.readFileSync('/etc/roamwatch/agent.yaml', 'utf8')).toMatch(/# edited by the operator\n$/);
    expect(fs.readFileSync('/var/lib/roamwatch/marker', 'utf8')).toBe('state');
    expect(ok('dpkg-query', ['-W', '-f', '${Status} ${Version}', 'roamwatch'])).toBe(`install ok installed ${VERSION}`);
  });

  it('when systemd-analyze verify checks the installed unit, then it has nothing to say, and the unit leaves the configuration to /etc/roamwatch/agent.yaml', () => {
    const r = sh('systemd-analyze', ['verify', UNIT]);
    expect(r.stderr.split('\n').filter((l) => l.includes('roamwatch'))).toEqual([]);
    expect(r.code).toBe(0);
    const exec = fs.readFileSync(UNIT, 'utf8').match(/^ExecStart=(.*)$/m)![1];
    // No flag beyond --config: a flag would silently override the file (spool.dir did).
    expect(exec).toBe('/usr/bin/roamwatch agent --config /etc/roamwatch/agent.yaml');
    const cfg = ok('roamwatch', ['agent', '--config', '/etc/roamwatch/agent.yaml', '--print-config']);
    expect(cfg).toMatch(/^spool:\n( {2}.*\n)*? {2}dir: \/var\/lib\/roamwatch\/spool$/m);
  });

  it('when the installed agent runs as user roamwatch against the lab\'s charon, then it streams VICI, rtnetlink and path events', async () => {
    lab = await createLab({ name: 'pkg' });
    const gw = lab.gw;
    // What the strongswan.service drop-in of docs/install.md does: the socket's group is roamwatch-vici,
    // and the directories above it are traversable.
    ok('chgrp', ['roamwatch-vici', gw.viciSocket]);
    for (let d = path.dirname(gw.viciSocket); d !== '/' && d.length > 1; d = path.dirname(d)) fs.chmodSync(d, fs.statSync(d).mode | 0o011);
    for (const f of [gw.strongswanConfFile, path.join(gw.swanctlDir, 'swanctl.conf')]) fs.chmodSync(f, fs.statSync(f).mode | 0o004);
    const spool = path.join(work, 'spool');
    fs.mkdirSync(spool);
    ok('chown', ['roamwatch:roamwatch', spool]);
    fs.chmodSync(work, 0o711);
    const agent = spawn(
      'ip',
      ['netns', 'exec', gw.netns, 'setpriv', '--reuid=roamwatch', '--regid=roamwatch', '--init-groups', '--inh-caps=+net_admin', '--ambient-caps=+net_admin', '--',
        '/usr/bin/roamwatch', 'agent', '--sink', 'stdout', '--spool-dir', spool, '--host-id', `pkg-${lab.id}`, '--vici', gw.viciUri,
        '--strongswan-conf', gw.strongswanConfFile, '--swanctl-conf', path.join(gw.swanctlDir, 'swanctl.conf'), '--status-interval-ms', '1000'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ROAMWATCH_LOG_FORMAT: 'json' } },
    );
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const seen = new Map<string, Record<string, unknown>>();
    const lines = createInterface({ input: agent.stdout });
    let routeAdded = false;
    const routes: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`events seen: ${[...seen.keys()].join(', ')}\nagent stderr:\n${stderr}`)), 60_000);
        agent.once('exit', (code) => reject(new Error(`agent exited ${code}:\n${stderr}`)));
        lines.on('line', (l) => {
          const e = JSON.parse(l) as { kind: string; payload: Record<string, unknown> };
          seen.set(e.kind, e.payload);
          if (e.kind === 'route.added') routes.push(JSON.stringify(e.payload));
          if (!routeAdded && seen.has('vici.sa-snapshot') && seen.has('agent.started')) {
            routeAdded = true;
            void gw.ip(['route', 'add', '203.0.113.0/24', 'dev', gw.ifname]);
          }
          if (seen.has('path.verdict') && routes.some((r) => r.includes('203.0.113.0')) && (seen.get('agent.status')?.['sources'] as { vici?: { state?: string } } | undefined)?.vici?.state === 'connected') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
    }
    const snapshot = seen.get('vici.sa-snapshot') as { ikeSas: { name: string }[] };
    expect(snapshot.ikeSas.map((s) => s.name)).toContain('rw');
    expect(seen.get('path.verdict')).toMatchObject({ ikeSaName: 'rw' });
    expect(stderr).not.toMatch(/EACCES|permission denied/i);
  }, 120_000);

  it('when the installed agent sends to the real Kafka, then its bundled kafkajs delivers the events and the idle-timer fix applies to it', async () => {
    const topic = `${uniqueRunId('pkg')}.events`;
    const spool = path.join(work, 'spool-kafka');
    const agent = spawn(
      '/usr/bin/roamwatch',
      ['agent', '--sink', 'kafka', '--brokers', servers.kafka.brokers.join(','), '--topic', topic, '--topic-partitions', '1', '--spool-dir', spool, '--host-id', 'pkg-kafka',
        '--vici-enabled', 'false', '--rtnetlink-enabled', 'false', '--path-enabled', 'false', '--status-interval-ms', '200'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin', ROAMWATCH_LOG_FORMAT: 'json' } },
    );
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const got = await readTopic(topic, (g) => g.some((r) => r.event.kind === 'agent.status'), 60_000);
      expect(got[0]!.event).toMatchObject({ kind: 'agent.started', host: 'pkg-kafka', seq: 1 });
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
    }
    // kafka.ts logs this when the patch cannot find kafkajs's RequestQueue (the bundle rewrites its require).
    expect(stderr).not.toMatch(/idle-timer fix not applied/);
    expect(stderr).toMatch(/"message":"connected"/);
  }, 90_000);

  it('when removed (dpkg -r), then the conffile and the state stay; when purged (dpkg -P), then nothing of it is left but the system user', () => {
    ok('dpkg', ['-r', 'roamwatch']);
    expect(present().sort()).toEqual(['/etc/roamwatch', '/var/lib/roamwatch'].sort());
    expect(fs.existsSync('/etc/roamwatch/agent.yaml')).toBe(true);
    ok('dpkg', ['-P', 'roamwatch']);
    expect(listing()).toEqual(before);
    expect(installed()).toBe(false);
    // Debian practice: system users stay after purge (their ids must not be reused).
    expect(sh('id', ['roamwatch']).code).toBe(0);
  });
});
