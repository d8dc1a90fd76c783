/**
 * `roamwatch agent` with a bad configuration: exit code 2 and a message that names the key,
 * before anything connects (real child processes, no servers needed beyond globalSetup's).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './agent-harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-agent-cfg-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

describe('roamwatch agent: bad config', () => {
  it.each([
    [['--sink', 'kafak'], {}, 'roamwatch agent: config sink: expected kafka, stdout or file:PATH, got "kafak"'],
    [['--vici', '/var/run/charon.vici'], {}, 'roamwatch agent: config vici.uri: expected unix:///path or tcp://host:port, got "/var/run/charon.vici"'],
    [['--brokers', 'kafka1'], {}, 'roamwatch agent: config kafka.brokers: expected one or more host:port, got "kafka1"'],
    [['--host-id', 'gw 1'], {}, 'roamwatch agent: config hostId: expected letters, digits, . _ : - (max 253 characters), got "gw 1"'],
    [[], { ROAMWATCH_KAFKA_LINGER_MS: 'soon' }, 'roamwatch agent: config kafka.lingerMs: expected an integer >= 0, got "soon" (from ROAMWATCH_KAFKA_LINGER_MS)'],
    [['--log-level', 'loud'], {}, 'roamwatch agent: config log.level: expected one of error, warn, info, debug, got "loud"'],
  ])('when started with %j %j, then it exits 2 naming the key', (args, env, message) => {
    const r = runCli(['agent', '--spool-dir', path.join(dir, 'spool'), ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(message);
    expect(r.stdout).toBe('');
  });

  it('when the config file has an unknown key, then it exits 2 naming the key and the file', () => {
    const f = file('bad.yaml', 'kafka:\n  topc: roamwatch.events\n');
    const r = runCli(['agent', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`roamwatch agent: config kafka.topc: unknown key in ${f} (did you mean kafka.topic?)`);
  });

  it('when the config file is missing, then it exits 2 naming --config', () => {
    const r = runCli(['agent', '--config', path.join(dir, 'nope.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^roamwatch agent: config --config: cannot read .*nope\.yaml: ENOENT/);
  });

  it('when the spool dir cannot be created, then it exits 2 naming spool.dir', () => {
    const blocker = file('not-a-dir', 'x');
    const r = runCli(['agent', '--sink', 'stdout', '--spool-dir', path.join(blocker, 'spool')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^roamwatch agent: config spool\.dir: /);
  });

  it('when SASL has no password, then it exits 2 and never prints a secret', () => {
    const f = file('sasl.yaml', 'kafka:\n  sasl:\n    mechanism: scram-sha-256\n    username: agent\n');
    const r = runCli(['agent', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'roamwatch agent: config kafka.sasl.password: SASL scram-sha-256 needs a password: set kafka.sasl.passwordFile, ROAMWATCH_KAFKA_SASL_PASSWORD_FILE, ROAMWATCH_KAFKA_SASL_PASSWORD or systemd LoadCredential=kafka.sasl.password:PATH',
    );
  });
});
