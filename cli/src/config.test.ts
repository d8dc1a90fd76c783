import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clearSecrets } from '@roamwatch/core';
import { main } from './main.js';

async function run(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  try {
    const code = await main(['node', 'roamwatch', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

const dirs: string[] = [];
function write(name: string, text: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cli-cfg-'));
  dirs.push(d);
  const f = path.join(d, name);
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  clearSecrets();
});

const KAFKA_COMMANDS = ['agent', 'processor', 'replay'];

describe('one configuration mechanism for every command', () => {
  it.each(KAFKA_COMMANDS)('when `%s --help` is shown, then the same Kafka TLS/SASL flags are there and no secret flag is', async (name) => {
    const r = await run([name, '--help']);
    for (const flag of ['--brokers', '--kafka-tls-enabled', '--kafka-tls-ca-file', '--kafka-tls-cert-file', '--kafka-tls-key-file', '--kafka-tls-key-passphrase-file', '--kafka-sasl-mechanism', '--kafka-sasl-username', '--kafka-sasl-password-file', '--config', '--print-config', '--check-config']) {
      expect(r.stdout, flag).toContain(flag);
    }
    expect(r.stdout).not.toMatch(/--kafka-sasl-password </);
    expect(r.stdout).not.toMatch(/--influx-token </);
  });

  it.each(['agent', 'processor', 'watch', 'replay'])('when `%s --print-config` runs with secrets from env and file, then they are redacted', async (name) => {
    const tokenFile = write('token', 'influx-token-value-123\n');
    const env = { ROAMWATCH_KAFKA_SASL_PASSWORD: 'kafka-secret-pw-456', ROAMWATCH_INFLUX_TOKEN_FILE: tokenFile };
    const r = await run([name, '--print-config'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('# roamwatch effective configuration');
    expect(r.stdout).not.toContain('kafka-secret-pw-456');
    expect(r.stdout).not.toContain('influx-token-value-123');
  });

  it.each(['processor', 'watch', 'replay', 'agent'])('when ROAMWATCH_LOG_LEVEL is set, then `%s` uses it (no flag default overrides the environment)', async (name) => {
    const r = await run([name, '--print-config'], { ROAMWATCH_LOG_LEVEL: 'debug' });
    expect(r.stdout).toMatch(/log:\n {2}level: debug/);
    expect(r.stdout).toContain('log.level: env');
  });

  it('when doctor gets its VICI socket from the environment or a config file, then it uses it', async () => {
    expect((await run(['doctor', '--print-config'], { ROAMWATCH_VICI_URI: 'unix:///run/x.vici' })).stdout).toContain('uri: unix:///run/x.vici');
    const file = write('d.yaml', 'vici:\n  uri: unix:///run/y.vici\nformat: json\n');
    const r = await run(['doctor', '--config', file, '--print-config']);
    expect(r.stdout).toContain('uri: unix:///run/y.vici');
    expect(r.stdout).toContain('format: json');
  });

  it('when the processor gets ROAMWATCH_KAFKA_TOPIC, then it uses it', async () => {
    const r = await run(['processor', '--print-config'], { ROAMWATCH_KAFKA_TOPIC: 'fleet.events' });
    expect(r.stdout).toContain('topic: fleet.events');
  });

  it('when a secret is passed as a flag, then it is refused (it would show in ps)', async () => {
    const r = await run(['processor', '--influx-token', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--influx-token'/);
  });

  it('when a config file has a typo, then --check-config exits 2 naming the key and the fix', async () => {
    const file = write('p.yaml', 'kafka:\n  sasl:\n    mechansim: plain\n');
    const r = await run(['processor', '--config', file, '--check-config']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config kafka.sasl.mechansim: unknown key');
    expect(r.stderr).toContain('did you mean kafka.sasl.mechanism?');
  });

  it('when the configuration is valid, then --check-config exits 0 and warns about SASL without TLS', async () => {
    const pw = write('pw', 'pw-1234');
    const file = write('p.yaml', `kafka:\n  brokers: [k1:9094]\n  sasl:\n    mechanism: plain\n    username: proc\n    passwordFile: ${pw}\n`);
    const r = await run(['processor', '--config', file, '--check-config']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('configuration valid');
    expect(r.stderr).toContain('SASL plain without TLS');
  });

  it('when the agent config sets TLS files that do not exist, then --check-config fails naming the key', async () => {
    const r = await run(['agent', '--check-config', '--kafka-tls-enabled', 'true', '--kafka-tls-ca-file', '/nonexistent/ca.pem']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('roamwatch agent: config kafka.tls.caFile: cannot read /nonexistent/ca.pem\n');
  });
});
