// Keeps scripts/commands.txt complete: every external command that a script, the lab, a
// test, the demo or a benchmark runs must be on it (with its Debian package), so that the
// install steps install it on a fresh machine (scripts/commands.sh; docs/testing.md).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMAND_LIST, parseCommandList, readCommandList } from '../commands/list.js';
import { scanFiles, scanProject, type ScanResult, type SourceFile } from '../commands/scan.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Scans in-memory files; returns "command" or "command@file:line" strings, sorted and unique. */
function scan(files: Record<string, string>, opts: { npmBins?: string[] } = {}): string[] {
  const list: SourceFile[] = Object.keys(files).map((file) => ({
    file,
    lang: file.endsWith('package.json') ? 'package-json' : /\.(m|c)?[jt]s$/.test(file) ? 'ts' : 'shell',
  }));
  const r = scanFiles(list, new Map(Object.entries(files)), new Set(opts.npmBins ?? []));
  return [...new Set(r.invocations.map((i) => i.command))].sort();
}

describe('the list of external commands', () => {
  it('when read, then every line is COMMAND PACKAGE GROUPS with known groups and no command twice', () => {
    const entries = readCommandList(root);
    expect(entries.length).toBeGreaterThan(20);
    const seen = new Map<string, number>();
    for (const e of entries) {
      expect(seen.has(e.command), `${COMMAND_LIST}:${e.line}: ${e.command} also on line ${seen.get(e.command)}`).toBe(false);
      seen.set(e.command, e.line);
    }
    // the lab's ping (issue: never installed on a fresh machine) is there, from iputils-ping
    expect(entries.find((e) => e.command === 'ping')).toMatchObject({ debianPackage: 'iputils-ping', groups: ['lab'] });
  });

  it('when a line is malformed, then parsing names the line', () => {
    expect(() => parseCommandList('ip iproute2 lab\nping iputils-ping\n')).toThrow(/commands\.txt:2: want COMMAND DEBIAN-PACKAGE GROUPS/);
    expect(() => parseCommandList('ip iproute2 labs\n')).toThrow(/:1: unknown group 'labs'/);
    expect(() => parseCommandList('ip Iproute2 lab\n')).toThrow(/not a Debian package name/);
    expect(parseCommandList('# comment\n\ngo golang-go servers,bench   # trailing comment\n')).toEqual([
      { command: 'go', debianPackage: 'golang-go', groups: ['servers', 'bench'], line: 3 },
    ]);
  });
});

describe('the scan of the repository', () => {
  let result: ScanResult | undefined;
  const scanned = () => (result ??= scanProject(root));

  it('when a script, test, demo or benchmark runs an external command, then scripts/commands.txt lists it', () => {
    const listed = new Set(readCommandList(root).map((e) => e.command));
    const missing = scanned().invocations.filter((i) => !listed.has(i.command));
    const report = missing.map((i) => `  ${i.command}  (${i.file}:${i.line})`).join('\n');
    expect(
      missing,
      `external commands not in ${COMMAND_LIST}:\n${report}\n` +
        `Add a line "COMMAND DEBIAN-PACKAGE GROUPS" for each (the package: dpkg -S "$(command -v COMMAND)"; see docs/testing.md).`,
    ).toEqual([]);
  }, 180_000);

  it('when a command is on the list, then some script or test still runs it', () => {
    const used = new Set(scanned().invocations.map((i) => i.command));
    const stale = readCommandList(root).filter((e) => !used.has(e.command));
    expect(stale.map((e) => `${COMMAND_LIST}:${e.line}: ${e.command}`), 'listed but run nowhere: remove the line (or the scan misses a call: docs/testing.md)').toEqual([]);
  }, 180_000);

  it('when scanned, then the calls behind the issue are found: the lab pings, the bench builds with go and runs python3', () => {
    const at = (cmd: string) => scanned().invocations.filter((i) => i.command === cmd).map((i) => i.file);
    expect(at('ping')).toContain('test/lab/lab.ts');
    expect(at('go')).toContain('bench/vici/prepare.mjs');
    expect(at('python3')).toContain('bench/vici/prepare.mjs');
    expect(at('/usr/lib/ipsec/charon')).toContain('scripts/lab/install.sh');
    expect(at('swanctl')).toContain('test/integration/lab.test.ts');
  }, 180_000);
});

describe('scanner rules (shell)', () => {
  it('when a shell script runs commands, then builtins, keywords, case patterns and its own functions are not external commands', () => {
    const sh = [
      'set -eu',
      'die() { echo "$*" >&2; exit 1; }',
      'for s in kafka influxdb; do case $s in kafka | influxdb) printf "%s" "$s" ;; *) die "bad" ;; esac; done',
      'if [[ -x /bin/true ]] && [ "$(id -u)" -eq 0 ]; then local_var=1; fi',
      'PKGS=(strongswan-charon iproute2)',
      'command -v systemctl >/dev/null || true',
      'x=$(dirname "$0") && grep -q foo file | sort',
      '"$bin" version',
    ].join('\n');
    expect(scan({ 'a.sh': sh })).toEqual(['dirname', 'grep', 'id', 'sort']);
  });

  it('when a command hides behind a wrapper or a default, then the scan finds it', () => {
    const sh = [
      '${CC:-cc} -O2 -o x x.c',
      'ip netns exec "$ns" ping -c1 10.0.0.1',
      'exec setsid java -cp x Main',
      'stdbuf -oL ip monitor route',
      'timeout 5 env A=1 curl -sf http://127.0.0.1:1/',
      "unshare --mount --propagation private -- /bin/sh -c 'mount --bind \"$1\" /run && exec \"$2\"' lab /tmp/run /usr/lib/ipsec/charon",
    ].join('\n');
    expect(scan({ 'a.sh': sh })).toEqual(['/usr/lib/ipsec/charon', 'cc', 'curl', 'env', 'ip', 'java', 'mount', 'ping', 'setsid', 'sh', 'stdbuf', 'timeout', 'unshare']);
  });

  it('when a function runs its arguments ("$@" after shift), then its callers name the commands', () => {
    const sh = ['phase() {', '  local name=$1 t0=$SECONDS', '  shift', '  echo "==> $name"', '  "$@" || return 1', '}', 'phase "npm ci" npm ci', 'phase lint timeout 60 shellcheck x.sh'].join('\n');
    expect(scan({ '.ci/run': sh })).toEqual(['npm', 'shellcheck', 'timeout']);
  });

  it("when a script sources another, then the other's functions are not external commands", () => {
    expect(scan({ 'lib.sh': 'rw_log() { printf "%s\\n" "$*" >&2; }', 'b.sh': 'source "$(dirname "$0")/lib.sh"\nrw_log hi\ncurl -V' })).toEqual(['curl', 'dirname']);
  });

  it('when package.json scripts run tools, then npm dependencies are not external but the rest is', () => {
    const pkg = JSON.stringify({ scripts: { build: 'tsc -b && node x.js', demo: 'bash scripts/demo.sh' } });
    expect(scan({ 'package.json': pkg }, { npmBins: ['tsc'] })).toEqual(['bash', 'node']);
  });
});

describe('scanner rules (TypeScript/JavaScript)', () => {
  it('when child_process runs a command, then its command and the commands inside wrappers are found', () => {
    const ts = [
      "import { spawn, spawnSync, execFile, exec } from 'node:child_process';",
      "spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'x=1']);",
      "execFile(opts.bin ?? 'ip', args, () => {});",
      'spawn(process.execPath, [script]);',
      "spawn('bash', ['-c', `stdbuf -oL getconf ${x}; times`]);",
      "exec('readlink /proc/self/ns/net | tr -d x');",
      "const m = /re/.exec('cat file');",
      'spawn(cmd, args);',
      "function start() { const argv = ['ping', '-c', '1', peer]; return spawn(argv[0]!, argv.slice(1)); }",
    ].join('\n');
    expect(scan({ 'a.ts': ts })).toEqual(['bash', 'getconf', 'ip', 'node', 'ping', 'readlink', 'stdbuf', 'sysctl', 'tr']);
  });

  it("when the project's own runner functions run an argv, then the scan follows them across files, re-exports and methods", () => {
    const files = {
      'lab/exec.ts': [
        "import { spawn } from 'node:child_process';",
        'export function run(argv: string[]) { const [file, ...args] = argv; return spawn(file!, args); }',
      ].join('\n'),
      'lab/index.ts': "export { run } from './exec.js';",
      'lab/lab.ts': [
        "import { run } from './exec.js';",
        "export const CHARON_BIN = '/usr/lib/ipsec/charon';",
        'class Node {',
        "  exec(cmd: string[]) { return run(['ip', 'netns', 'exec', this.netns, ...cmd]); }",
        "  ip(args: string[]) { return run(['ip', '-n', this.netns, ...args]); }",
        "  swanctl(args: string[]) { const argv = ['swanctl', ...args]; return run(argv); }",
        '}',
      ].join('\n'),
      'x.test.ts': [
        "import { run } from './lab/index.js';",
        "import { CHARON_BIN } from './lab/lab.js';",
        "await run(['swanctl', '--list-sas']);",
        "await gw.exec(['ping', '-c', '1', peer]);",
        "await gw.exec([CHARON_BIN, '--version']);",
        "await gw.ip(['link', 'set', 'lo', 'up']);",
      ].join('\n'),
    };
    // `gw.ip([...])` runs ip with arguments: 'link' is no command.
    expect(scan(files)).toEqual(['/usr/lib/ipsec/charon', 'ip', 'ping', 'swanctl']);
  });

  it('when a local function passes its first parameter on as the command, then its callers name the commands', () => {
    const ts = [
      "import { execFileSync, spawnSync } from 'node:child_process';",
      'function sh(cmd, args, opts = {}) { return (execFileSync(cmd, args, opts) ?? "").trim(); }',
      "sh('python3', ['-m', 'venv', dir]);",
      "sh('go', ['build', '.']);",
      "const ipIn = (args) => spawnSync('ip', ['-n', ns, ...args]);",
      "ipIn(['link', 'add', 'v0']);",
    ].join('\n');
    expect(scan({ 'b.mjs': ts })).toEqual(['go', 'ip', 'python3']);
  });
});

describe('scripts/commands.sh', () => {
  const script = join(root, 'scripts/commands.sh');
  const list = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'rw-commands-')), 'commands.txt');
    writeFileSync(file, text);
    return file;
  };
  const sh = (args: string[], listFile: string) => spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ROAMWATCH_COMMANDS_LIST: listFile } });

  it('when a command of the groups is missing, then check exits 1 naming it with its package and the install command', () => {
    const file = list('sh dash base\nrw-no-such-command-1 rw-some-package lab\nrw-no-such-command-2 rw-other-package optional\n');
    const r = sh(['check', 'base', 'lab', 'optional'], file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('missing: rw-no-such-command-1 (Debian package rw-some-package)');
    expect(r.stderr).toContain('bash scripts/commands.sh install base lab optional');
    // optional commands are never missing
    expect(r.stderr).not.toContain('rw-no-such-command-2');
    expect(sh(['missing', 'lab'], file)).toMatchObject({ status: 1, stdout: 'rw-no-such-command-1 rw-some-package\n' });
  });

  it('when every command of the groups is there, then check exits 0; list prints the entries of the groups', () => {
    const file = list('# comment\nsh dash base   # the shell\n/bin/sh dash lab\nrw-no-such-command pkg servers\n');
    expect(sh(['check', 'base', 'lab'], file)).toMatchObject({ status: 0 });
    expect(sh(['list', 'lab'], file).stdout).toBe('/bin/sh dash lab\n');
  });

  it('when a group is unknown or a line malformed, then it exits non-zero and says so', () => {
    const file = list('sh dash base\n');
    expect(sh(['check', 'labs'], file)).toMatchObject({ status: 1, stderr: expect.stringContaining("unknown group 'labs'") });
    expect(sh(['check', 'base'], list('sh dash\n'))).toMatchObject({ status: 1, stderr: expect.stringContaining("bad line 'sh dash'") });
    expect(sh([], file).status).toBe(2);
  });
});
