import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { Writable } from 'node:stream';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';
import { clearSecrets, registerSecrets } from '../redact.js';
import { INFLUX_KEYS, KAFKA_CLIENT_KEYS, LOG_KEYS, influxSettings, kafkaClientSettings } from './groups.js';
import { loadConfig, secretValues } from './load.js';
import { formatConfig, maskUrl } from './print.js';
import type { ConfigValues } from './table.js';
import { envName, flagName, withDefaults } from './table.js';

const TABLE = { ...LOG_KEYS, ...KAFKA_CLIENT_KEYS, ...INFLUX_KEYS, 'kafka.topic': { type: 'string', default: 'roamwatch.events', doc: 'topic' } } as const;

const dirs: string[] = [];
function write(name: string, text: string, mode = 0o600): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cfg-'));
  dirs.push(d);
  const f = path.join(d, name);
  fs.writeFileSync(f, text, { mode });
  return f;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  clearSecrets();
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

describe('config table', () => {
  it('when keys are named, then env and flag names follow one scheme', () => {
    expect(envName('kafka.sasl.passwordFile')).toBe('ROAMWATCH_KAFKA_SASL_PASSWORD_FILE');
    expect(flagName('kafka.tls.caFile')).toBe('kafka-tls-ca-file');
    expect(flagName('kafka.brokers', KAFKA_CLIENT_KEYS['kafka.brokers'])).toBe('brokers');
  });

  it('when values are loaded, then their types derive from the table', () => {
    const { values } = loadConfig(TABLE, { env: {} });
    expectTypeOf(values['kafka.brokers']).toEqualTypeOf<string[]>();
    expectTypeOf(values['kafka.tls.enabled']).toEqualTypeOf<boolean>();
    expectTypeOf(values['kafka.sasl.mechanism']).toEqualTypeOf<'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512'>();
    expectTypeOf<ConfigValues<typeof LOG_KEYS>['log.level']>().toEqualTypeOf<'error' | 'warn' | 'info' | 'debug'>();
    expect(values['kafka.brokers']).toEqual(['127.0.0.1:9092']);
  });

  it('when file, env and flags set a key, then flags win over env over file over defaults', () => {
    const file = write('c.yaml', 'kafka:\n  topic: from-file\nlog:\n  level: debug\ninflux.org: dotted\n');
    const { values, origins } = loadConfig(TABLE, { file, env: { ROAMWATCH_KAFKA_TOPIC: 'from-env', ROAMWATCH_LOG_LEVEL: 'warn' }, flags: { 'kafka.topic': 'from-flag' } });
    expect(values['kafka.topic']).toBe('from-flag');
    expect(values['log.level']).toBe('warn');
    expect(values['influx.org']).toBe('dotted');
    expect(origins).toMatchObject({ 'kafka.topic': 'flag', 'log.level': 'env', 'influx.org': 'file', 'influx.url': 'default' });
  });

  it('when a key is misspelt, then the error names it and suggests the right one', () => {
    const file = write('c.yaml', 'kafka:\n  sasl:\n    usrname: x\n');
    expect(errorOf(() => loadConfig(TABLE, { file, env: {} })).message).toBe(`config kafka.sasl.usrname: unknown key in ${file} (did you mean kafka.sasl.username?)`);
    expect(errorOf(() => loadConfig(TABLE, { env: {}, flags: { 'kafka.topik': 'x' } })).message).toContain('did you mean kafka.topic?');
  });

  it('when a value is bad, then the error names the key, the value and the variable', () => {
    expect(errorOf(() => loadConfig(TABLE, { env: { ROAMWATCH_KAFKA_TLS_ENABLED: 'maybe' } })).message).toBe('config kafka.tls.enabled: expected true or false, got "maybe" (from ROAMWATCH_KAFKA_TLS_ENABLED)');
    expect(errorOf(() => loadConfig(TABLE, { env: {}, flags: { 'kafka.brokers': 'nohost' } })).key).toBe('kafka.brokers');
  });

  it('when another default is wanted, then withDefaults changes only that', () => {
    const t = withDefaults(TABLE, { 'log.level': 'warn' });
    expect(loadConfig(t, { env: {} }).values['log.level']).toBe('warn');
    expect(TABLE['log.level'].default).toBe('info');
  });
});

describe('secrets', () => {
  it('when a secret is given as a flag or inline in the config file, then it is refused', () => {
    expect(errorOf(() => loadConfig(TABLE, { env: {}, flags: { 'kafka.sasl.password': 'hunter22' } })).message).toContain('never a flag');
    const file = write('c.yaml', 'influx:\n  token: abcd1234\n');
    const err = errorOf(() => loadConfig(TABLE, { file, env: {} }));
    expect(err.message).toContain('influx.tokenFile');
    expect(err.message).not.toContain('abcd1234');
  });

  it('when a secret comes from <key>File (file, env or flag), then its content is used without the trailing newline', () => {
    const pw = write('pw', 's3cret-pw\n');
    const cfg = write('c.yaml', `kafka.sasl.passwordFile: ${pw}\n`);
    const a = loadConfig(TABLE, { file: cfg, env: {} });
    expect(a.values['kafka.sasl.password']).toBe('s3cret-pw');
    expect(a.origins['kafka.sasl.password']).toBe('file');
    const b = loadConfig(TABLE, { env: { ROAMWATCH_INFLUX_TOKEN_FILE: pw } });
    expect(b.values['influx.token']).toBe('s3cret-pw');
    const c = loadConfig(TABLE, { env: {}, flags: { 'influx.tokenFile': pw } });
    expect(c.values['influx.token']).toBe('s3cret-pw');
  });

  it('when systemd passes a credential, then it is read from $CREDENTIALS_DIRECTORY, and an explicit file or env wins', () => {
    const dir = path.dirname(write('kafka.sasl.password', 'from-credential\n'));
    expect(loadConfig(TABLE, { env: { CREDENTIALS_DIRECTORY: dir } }).values['kafka.sasl.password']).toBe('from-credential');
    expect(loadConfig(TABLE, { env: { CREDENTIALS_DIRECTORY: dir } }).origins['kafka.sasl.password']).toBe('credential');
    const pw = write('pw', 'from-file');
    expect(loadConfig(TABLE, { env: { CREDENTIALS_DIRECTORY: dir, ROAMWATCH_KAFKA_SASL_PASSWORD_FILE: pw } }).values['kafka.sasl.password']).toBe('from-file');
    expect(loadConfig(TABLE, { env: { CREDENTIALS_DIRECTORY: dir, ROAMWATCH_KAFKA_SASL_PASSWORD: 'from-env' } }).values['kafka.sasl.password']).toBe('from-env');
  });

  it('when a secret file is missing or empty, then the error names the file key, not the secret', () => {
    expect(errorOf(() => loadConfig(TABLE, { env: { ROAMWATCH_INFLUX_TOKEN_FILE: '/nonexistent/token' } })).message).toBe('config influx.tokenFile: cannot read /nonexistent/token: ENOENT');
    const empty = write('empty', '');
    expect(errorOf(() => loadConfig(TABLE, { env: { ROAMWATCH_INFLUX_TOKEN_FILE: empty } })).message).toContain('is empty');
  });

  it('when the config is printed, then secrets are redacted and URL credentials masked', () => {
    const loaded = loadConfig(TABLE, { env: { ROAMWATCH_KAFKA_SASL_PASSWORD: 'hunter2-pw', ROAMWATCH_INFLUX_URL: 'http://admin:pa55word@influx:8086/?token=tok3n' } });
    const text = formatConfig(loaded);
    expect(text).not.toContain('hunter2-pw');
    expect(text).not.toContain('pa55word');
    expect(text).not.toContain('tok3n');
    expect(text).toContain('password: <redacted>');
    expect(text).toContain('kafka.sasl.password: env');
    expect(secretValues(loaded)).toEqual(['hunter2-pw']);
  });

  it('when a registered secret reaches a log line, then it is redacted in message and fields', () => {
    const lines: string[] = [];
    const stream = new (class extends Writable {
      override _write(chunk: Buffer, _e: string, cb: () => void) {
        lines.push(chunk.toString());
        cb();
      }
    })();
    registerSecrets(['topsecret-token']);
    const log = createLogger({ level: 'debug', format: 'json', stream });
    log.debug('failed with topsecret-token inside', { error: { message: 'auth topsecret-token' }, url: 'x' });
    expect(lines.join('')).not.toContain('topsecret-token');
    expect(lines.join('')).toContain('<redacted>');
  });
});

describe('maskUrl', () => {
  it('when a URL carries credentials, then they are masked; other text is unchanged', () => {
    expect(maskUrl('http://user:pw@influx:8086')).toBe('http://<redacted>@influx:8086/');
    expect(maskUrl('https://influx:8086/?token=abc&org=x')).toBe('https://influx:8086/?token=<redacted>&org=x');
    expect(maskUrl('http://influx:8086')).toBe('http://influx:8086');
    expect(maskUrl('/var/lib/roamwatch')).toBe('/var/lib/roamwatch');
  });
});

describe('kafka client group', () => {
  it('when SASL SCRAM with TLS is set, then the settings resolve without warnings', () => {
    const ca = write('ca.pem', 'x');
    const { values } = loadConfig(TABLE, { env: { ROAMWATCH_KAFKA_TLS_ENABLED: 'true', ROAMWATCH_KAFKA_TLS_CA_FILE: ca, ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512', ROAMWATCH_KAFKA_SASL_USERNAME: 'agent', ROAMWATCH_KAFKA_SASL_PASSWORD: 'pw-1234' } });
    const s = kafkaClientSettings(values);
    expect(s.tls).toEqual({ caFile: ca, rejectUnauthorized: true });
    expect(s.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'agent', password: 'pw-1234' });
    expect(s.warnings).toEqual([]);
  });

  it('when SASL PLAIN goes without TLS, then a warning says the password crosses in clear', () => {
    const { values } = loadConfig(TABLE, { env: { ROAMWATCH_KAFKA_SASL_MECHANISM: 'plain', ROAMWATCH_KAFKA_SASL_USERNAME: 'agent', ROAMWATCH_KAFKA_SASL_PASSWORD: 'pw-1234' } });
    expect(kafkaClientSettings(values).warnings.join()).toContain('SASL plain without TLS');
  });

  it('when pieces are missing or contradict, then the error names the key', () => {
    const load = (env: NodeJS.ProcessEnv) => kafkaClientSettings(loadConfig(TABLE, { env }).values);
    expect(errorOf(() => load({ ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512' })).key).toBe('kafka.sasl.username');
    expect(errorOf(() => load({ ROAMWATCH_KAFKA_SASL_MECHANISM: 'scram-sha-512', ROAMWATCH_KAFKA_SASL_USERNAME: 'a' })).key).toBe('kafka.sasl.password');
    expect(errorOf(() => load({ ROAMWATCH_KAFKA_TLS_CA_FILE: '/x' })).message).toBe('config kafka.tls.caFile: is set but kafka.tls.enabled is false');
    expect(errorOf(() => load({ ROAMWATCH_KAFKA_TLS_ENABLED: 'yes', ROAMWATCH_KAFKA_TLS_CA_FILE: '/nonexistent.pem' })).message).toBe('config kafka.tls.caFile: cannot read /nonexistent.pem');
  });

  it('when influx.url is set without a bucket, then the error says so; without url there is no output', () => {
    expect(influxSettings(loadConfig(TABLE, { env: {} }).values)).toBeUndefined();
    expect(errorOf(() => influxSettings(loadConfig(TABLE, { env: { ROAMWATCH_INFLUX_URL: 'http://h:8086' } }).values)).key).toBe('influx.bucket');
    expect(errorOf(() => loadConfig(TABLE, { env: { ROAMWATCH_INFLUX_URL: 'h:8086' } })).key).toBe('influx.url');
  });
});
