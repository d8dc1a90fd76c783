import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, expandTable } from '@roamwatch/core';
import { CONFIG_KEYS, envName, loadAgentConfig, summarizeConfig } from './config.js';

const EXAMPLE = fileURLToPathSafe('../../../deploy/roamwatch-agent.example.yaml');
function fileURLToPathSafe(rel: string): string {
  return new URL(rel, import.meta.url).pathname;
}

const dirs: string[] = [];
function write(name: string, text: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cfg-'));
  dirs.push(d);
  const f = path.join(d, name);
  fs.writeFileSync(f, text);
  return f;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it('when nothing is given, then the defaults hold and the host id is the hostname', () => {
    const { config } = loadAgentConfig({ env: {}, hostname: 'gw-17' });
    expect(config.hostId).toBe('gw-17');
    expect(config.vici.uri).toBe('unix:///var/run/charon.vici');
    expect(config.sink).toEqual({ type: 'kafka' });
    expect(config.kafka).toMatchObject({ brokers: ['127.0.0.1:9092'], topic: 'roamwatch.events', compression: 'gzip', topicPartitions: 12 });
    expect(config.spool).toMatchObject({ dir: '/var/lib/roamwatch/spool', onFull: 'drop-oldest', fsyncIntervalMs: 1000 });
  });

  it('when file, environment and flags set the same key, then flags win over env over file', () => {
    const file = write('a.yaml', 'kafka:\n  topic: from-file\n  lingerMs: 7\nspool:\n  dir: /tmp/x\n');
    const env = { ROAMWATCH_KAFKA_TOPIC: 'from-env', ROAMWATCH_KAFKA_LINGER_MS: '9' };
    const { config } = loadAgentConfig({ file, env, flags: { 'kafka.topic': 'from-flag', sink: 'file:/tmp/out.jsonl' }, hostname: 'h' });
    expect(config.kafka.topic).toBe('from-flag');
    expect(config.kafka.lingerMs).toBe(9);
    expect(config.spool.dir).toBe('/tmp/x');
    expect(config.sink).toEqual({ type: 'file', path: '/tmp/out.jsonl' });
    expect(config.origins['kafka.topic']).toBe('flag');
    expect(config.origins['kafka.lingerMs']).toBe('env');
  });

  it.each([
    [{ 'kafka.lingerMs': 'soon' }, 'config kafka.lingerMs: expected an integer >= 0, got "soon"'],
    [{ sink: 'kafak' }, 'config sink: expected kafka, stdout or file:PATH, got "kafak"'],
    [{ 'vici.uri': '/var/run/charon.vici' }, 'config vici.uri: expected unix:///path or tcp://host:port, got "/var/run/charon.vici"'],
    [{ 'kafka.brokers': 'localhost' }, 'config kafka.brokers: expected one or more host:port, got "localhost"'],
    [{ hostId: 'gw 1' }, 'config hostId: expected letters, digits, . _ : - (max 253 characters), got "gw 1"'],
    [{ 'spool.onFull': 'block' }, 'config spool.onFull: expected one of drop-oldest, drop-newest, got "block"'],
    [{ 'log.level': 'verbose' }, 'config log.level: expected one of error, warn, info, debug, got "verbose"'],
  ])('when a flag is bad (%o), then the message names the key and the value', (flags, message) => {
    expect(errorOf(() => loadAgentConfig({ env: {}, flags, hostname: 'h' })).message).toBe(message);
  });

  it('when the file has an unknown key, then it is rejected with a suggestion', () => {
    const file = write('b.yaml', 'kafka:\n  topc: x\n');
    const e = errorOf(() => loadAgentConfig({ file, env: {}, hostname: 'h' }));
    expect(e.key).toBe('kafka.topc');
    expect(e.message).toMatch(/unknown key in .* \(did you mean kafka\.topic\?\)$/);
  });

  it('when an env value is bad, then the message names the key and the variable', () => {
    const e = errorOf(() => loadAgentConfig({ env: { ROAMWATCH_SPOOL_MAX_BYTES: 'lots' }, hostname: 'h' }));
    expect(e.message).toBe('config spool.maxBytes: expected an integer >= 65536, got "lots" (from ROAMWATCH_SPOOL_MAX_BYTES)');
  });

  it('when SASL is on, then the password comes from a file or the env, and never shows in the summary or JSON', () => {
    const pw = write('pw', 's3cr3t-pass\n');
    const { config, secrets } = loadAgentConfig({ env: {}, hostname: 'h', flags: {}, file: write('c.yaml', `kafka:\n  sasl:\n    mechanism: scram-sha-512\n    username: agent\n    passwordFile: ${pw}\n`) });
    expect(secrets.saslPassword).toBe('s3cr3t-pass');
    expect(config.kafka.sasl?.password).toBe('s3cr3t-pass');
    expect(JSON.stringify(config)).not.toContain('s3cr3t');
    expect(JSON.stringify(summarizeConfig(config))).not.toContain('s3cr3t');
    const e = errorOf(() => loadAgentConfig({ env: {}, hostname: 'h', file: write('d.yaml', 'kafka:\n  sasl:\n    mechanism: plain\n    username: u\n') }));
    expect(e.key).toBe('kafka.sasl.password');
    const fromEnv = loadAgentConfig({ env: { ROAMWATCH_KAFKA_SASL_PASSWORD: 'envpw', ROAMWATCH_KAFKA_SASL_MECHANISM: 'plain', ROAMWATCH_KAFKA_SASL_USERNAME: 'u' }, hostname: 'h' });
    expect(fromEnv.secrets.saslPassword).toBe('envpw');
  });

  it('when TLS files are named but unreadable, then the key is named', () => {
    const e = errorOf(() => loadAgentConfig({ env: {}, hostname: 'h', file: write('e.yaml', 'kafka:\n  tls:\n    enabled: true\n    caFile: /nonexistent/ca.pem\n') }));
    expect(e.message).toBe('config kafka.tls.caFile: cannot read /nonexistent/ca.pem');
  });

  it('when the example config is loaded, then it parses, validates, and documents every key', () => {
    const text = fs.readFileSync(EXAMPLE, 'utf8');
    expect(() => loadAgentConfig({ file: EXAMPLE, env: {}, hostname: 'h' })).not.toThrow();
    const flat = new Set<string>();
    const walk = (o: Record<string, unknown>, p: string) => {
      for (const [k, v] of Object.entries(o)) {
        const key = p ? `${p}.${k}` : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, key);
        else flat.add(key);
      }
    };
    walk(parseYaml(text) as Record<string, unknown>, '');
    // Secrets themselves are never in a config file, only their <key>File companions.
    const documented = Object.entries(expandTable(CONFIG_KEYS)).filter(([, s]) => !s.secret).map(([k]) => k);
    expect([...flat].sort()).toEqual(documented.sort());
  });

  it('names environment variables after the key', () => {
    expect(envName('kafka.topicPartitions')).toBe('ROAMWATCH_KAFKA_TOPIC_PARTITIONS');
    expect(envName('hostId')).toBe('ROAMWATCH_HOST_ID');
    expect(envName('kafka.tls.caFile')).toBe('ROAMWATCH_KAFKA_TLS_CA_FILE');
  });
});
