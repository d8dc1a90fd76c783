// `roamwatch doctor` is a one-shot command on a gateway: it must load the path analyzer and
// the VICI client only, never kafkajs or the agent's spool and sinks. The built CLI runs in a
// child with loader hooks that list every module it loads (test/fixtures/module-trace); the
// agent command is the control (it does load kafkajs, so the trace sees what it must).
// Needs `npm run build` (the built CLI, like every CLI test here).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'cli/bin/roamwatch.js');
const TRACE = join(ROOT, 'test/fixtures/module-trace/register.mjs');

function loadedModules(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', TRACE, CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return [...new Set(r.stderr.split('\n').flatMap((l) => (l.startsWith('MODULE ') ? [l.slice(7)] : [])))];
}

const matching = (mods: string[], re: RegExp) => mods.filter((m) => re.test(m));

describe('roamwatch doctor loads only what it needs', () => {
  it('when doctor starts, then neither kafkajs nor the spool, the sinks or the agent composition is loaded (only its key table), but the path analyzer and the VICI client are', () => {
    const mods = loadedModules(['doctor', '--help']);
    expect(matching(mods, /\/node_modules\/kafkajs\//)).toEqual([]);
    expect(matching(mods, /\/agent\/dist\/sinks\//)).toEqual([]);
    expect(matching(mods, /\/agent\/dist\/agent\/(run|sources|adapters\.js)/)).toEqual([]);
    // The agent's key table (@roamwatch/agent/config: doctor shares its vici.uri key) is the one
    // module of agent/ doctor may load, and it must stay free of the composition.
    expect(matching(mods, /\/agent\/dist\/agent\//)).toEqual(matching(mods, /\/agent\/dist\/agent\/(config|adapters\/(contract|vici-contract|rtnetlink-contract))\.js$/));
    expect(matching(mods, /\/agent\/dist\/vici\/fake-charon\.js$/)).toEqual([]);
    expect(matching(mods, /\/agent\/dist\/path\/analyze\.js$/)).toHaveLength(1);
    expect(matching(mods, /\/agent\/dist\/vici\/client\.js$/)).toHaveLength(1);
  });

  it('when the agent starts (control), then the trace does see kafkajs and the spool', () => {
    const mods = loadedModules(['agent', '--help']);
    expect(matching(mods, /\/node_modules\/kafkajs\//).length).toBeGreaterThan(0);
    expect(matching(mods, /\/agent\/dist\/sinks\/spool\.js$/)).toHaveLength(1);
  });
});
