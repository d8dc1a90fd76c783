// Toolchains of the VICI benchmark (bench/vici/run.mjs), in a cache outside the repository
// (ROAMWATCH_BENCH_CACHE, default /var/cache/roamwatch): the built agent package, a venv with
// the python `vici` package from PyPI, and the govici client in go/ built there. Each step is
// skipped when its result is already there, so the first run on a fresh machine does them all.
//
// Run alone (what a fresh machine's first `npm run bench -- vici` does before measuring):
//   ROAMWATCH_BENCH_CACHE=$(mktemp -d) node bench/vici/prepare.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
export const PY_VICI_VERSION = '6.0.3';

/** Runs a command and returns its trimmed stdout (its stderr shows only when it fails). */
export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
}

/**
 * Runs a command with its output on this terminal (installs, builds: their progress is
 * worth seeing). execFileSync returns null when stdout is inherited, so this returns
 * nothing; it throws when the command fails.
 */
export function step(cmd, args, opts = {}) {
  execFileSync(cmd, args, { ...opts, stdio: ['ignore', 'inherit', 'inherit'] });
}

export function prepare({ cache = process.env.ROAMWATCH_BENCH_CACHE ?? '/var/cache/roamwatch' } = {}) {
  mkdirSync(cache, { recursive: true });
  // roamwatch: the built agent package.
  step('npx', ['tsc', '-b', 'agent'], { cwd: root });
  if (!existsSync(join(root, 'agent/dist/vici/index.js'))) throw new Error('agent/dist/vici/index.js missing after `tsc -b agent`');
  // python vici from PyPI in a venv.
  const venv = join(cache, 'bench-venv');
  const py = join(venv, 'bin', 'python');
  if (!existsSync(py)) {
    try {
      sh('python3', ['-m', 'venv', venv]);
    } catch (err) {
      throw new Error(`python3 -m venv ${venv} failed (Debian: apt-get install python3-venv; scripts/commands.txt): ${err.stderr || err.message}`);
    }
  }
  const have = spawnSync(py, ['-c', 'import importlib.metadata as m; print(m.version("vici"))'], { encoding: 'utf8' });
  if (have.status !== 0 || have.stdout.trim() !== PY_VICI_VERSION) {
    step(join(venv, 'bin', 'pip'), ['install', '-q', `vici==${PY_VICI_VERSION}`]);
  }
  // govici: build the Go client into the cache.
  const goBin = join(cache, 'bench-govici');
  const goDir = join(here, 'go');
  const goEnv = { ...process.env, GOFLAGS: '-mod=mod' };
  const newest = Math.max(...['main.go', 'go.mod', 'go.sum'].map((f) => statSync(join(goDir, f)).mtimeMs));
  if (!existsSync(goBin) || statSync(goBin).mtimeMs < newest) {
    step('go', ['build', '-o', goBin, '.'], { cwd: goDir, env: goEnv });
  }
  return {
    py,
    goBin,
    versions: {
      node: process.version,
      python: sh(py, ['--version']),
      pythonVici: PY_VICI_VERSION,
      go: sh('go', ['version']),
      govici: sh('go', ['list', '-m', '-f', '{{.Version}}', 'github.com/strongswan/govici'], { cwd: goDir, env: goEnv }),
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(prepare(), null, 2));
}
