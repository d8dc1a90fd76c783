/**
 * Loading a configuration from its key table (see table.ts for the sources and their order).
 * Validation happens here, once: a command receives typed values or a ConfigError.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ConfigTable, ConfigValues, KeySpec, Origin } from './table.js';
import { envName, secretFileKey } from './table.js';

/** The table with the `<key>File` companion of every secret key added. */
export function expandTable(table: ConfigTable): ConfigTable {
  const out: ConfigTable = {};
  for (const [k, spec] of Object.entries(table)) {
    out[k] = spec;
    if (spec.secret) {
      const fk = secretFileKey(k);
      if (!(fk in table)) out[fk] = { type: 'string', default: '', doc: `File holding ${k} (a secret: keep it 0600; ${envName(fk)} or systemd LoadCredential=${k}:PATH also work).` };
    }
  }
  return out;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known key closest to a misspelt one (case, a typo, or the right name under another section). */
export function closestKey(keys: readonly string[], key: string): string | undefined {
  const lower = key.toLowerCase();
  const exact = keys.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestD = 3;
  for (const k of keys) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best) return best;
  const last = lower.split('.').pop() ?? lower;
  return keys.find((k) => k.toLowerCase().endsWith('.' + last));
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Parses and checks one value (from a file: typed; from env/flags: text). */
export function coerceValue(key: string, spec: KeySpec, raw: unknown, fromText: boolean): unknown {
  const t = spec.type;
  let v: unknown = raw;
  if (Array.isArray(t)) {
    if (typeof v !== 'string' || !t.includes(v)) throw new ConfigError(key, `expected one of ${t.join(', ')}, got ${describe(raw)}`);
  } else if (t === 'int') {
    if (fromText && typeof v === 'string' && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ConfigError(key, `expected an integer${spec.min !== undefined ? ` >= ${spec.min}` : ''}, got ${describe(raw)}`);
    if (spec.min !== undefined && v < spec.min) throw new ConfigError(key, `expected an integer >= ${spec.min}, got ${v}`);
    if (spec.max !== undefined && v > spec.max) throw new ConfigError(key, `expected an integer <= ${spec.max}, got ${v}`);
  } else if (t === 'bool') {
    if (fromText && typeof v === 'string') {
      const l = v.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(l)) v = true;
      else if (['false', 'no', '0', 'off'].includes(l)) v = false;
    }
    if (typeof v !== 'boolean') throw new ConfigError(key, `expected true or false, got ${describe(raw)}`);
  } else if (t === 'string[]') {
    if (typeof v === 'string') v = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(key, `expected a list of strings, got ${describe(raw)}`);
  } else if (t === 'string') {
    if (typeof v === 'number' && !fromText) v = String(v);
    if (typeof v !== 'string') throw new ConfigError(key, `expected a string, got ${describe(raw)}`);
  }
  const msg = spec.check?.(v as never);
  if (msg) throw new ConfigError(key, `${msg}, got ${spec.secret ? '(secret)' : describe(raw)}`);
  return v;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError('--config', `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('--config', `${file}: expected a mapping of keys at the top level`);
  return doc as Record<string, unknown>;
}

function flatten(table: ConfigTable, obj: Record<string, unknown>, prefix: string, out: Map<string, unknown>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(key in table)) flatten(table, v as Record<string, unknown>, key, out);
    else out.set(key, v);
  }
}

/** Reads a secret file: one trailing newline dropped; an empty file is an error. */
export function readSecretFile(key: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(secretFileKey(key), `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const v = text.replace(/\r?\n$/, '');
  if (v === '') throw new ConfigError(secretFileKey(key), `${file} is empty`);
  return v;
}

export interface LoadConfigInput {
  /** A config file (YAML, or JSON when it ends in .json). */
  file?: string | undefined;
  /** Values from flags, by config key; strings are parsed. Secret keys are refused here. */
  flags?: Record<string, unknown>;
  /** Environment (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfigValues<T extends ConfigTable> {
  values: ConfigValues<T> & Record<string, unknown>;
  /** Where each key's value came from. */
  origins: Record<string, Origin>;
  /** The expanded table (with the `<key>File` companions), for printing. */
  table: ConfigTable;
}

/** Reads, merges and validates a configuration. Throws ConfigError naming the key. */
export function loadConfig<T extends ConfigTable>(table: T, input: LoadConfigInput = {}): LoadedConfigValues<T> {
  const full = expandTable(table);
  const keys = Object.keys(full);
  const env = input.env ?? process.env;
  const values: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  for (const [k, spec] of Object.entries(full)) {
    values[k] = spec.default;
    origins[k] = 'default';
  }
  if (input.file) {
    const flat = new Map<string, unknown>();
    flatten(full, readConfigFile(input.file), '', flat);
    for (const [k, v] of flat) {
      const spec = full[k];
      if (!spec) {
        const hint = closestKey(keys, k);
        throw new ConfigError(k, `unknown key in ${input.file}${hint ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (spec.secret) throw new ConfigError(k, `is a secret and is not read from the config file: set ${secretFileKey(k)} to a file that holds it (or ${envName(k)}, or systemd LoadCredential=${k}:PATH)`);
      values[k] = coerceValue(k, spec, v, false);
      origins[k] = 'file';
    }
  }
  for (const k of keys) {
    const spec = full[k]!;
    const name = envName(k);
    const v = env[name];
    if (v === undefined || v === '') continue;
    try {
      values[k] = coerceValue(k, spec, v, true);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(k, `${err.message.replace(/^config [^:]+: /, '')} (from ${name})`);
      throw err;
    }
    origins[k] = 'env';
  }
  for (const [k, v] of Object.entries(input.flags ?? {})) {
    if (v === undefined) continue;
    const spec = full[k];
    if (!spec) {
      const hint = closestKey(keys, k);
      throw new ConfigError(k, `unknown key${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    if (spec.secret) throw new ConfigError(k, `is a secret and never a flag (it would show in ps): use ${secretFileKey(k)} or ${envName(k)}`);
    values[k] = coerceValue(k, spec, v, true);
    origins[k] = 'flag';
  }
  // Secrets: credentials directory < <key>File < ROAMWATCH_<KEY> (the env was applied above).
  const credDir = env.CREDENTIALS_DIRECTORY;
  for (const [k, spec] of Object.entries(full)) {
    if (!spec.secret) continue;
    if (origins[k] === 'env') continue;
    const fileKey = secretFileKey(k);
    const file = values[fileKey] as string;
    if (file) {
      values[k] = coerceValue(k, spec, readSecretFile(k, file), true);
      origins[k] = origins[fileKey]!;
    } else if (credDir) {
      const cred = path.join(credDir, k);
      if (fs.existsSync(cred)) {
        values[k] = coerceValue(k, spec, readSecretFile(k, cred), true);
        origins[k] = 'credential';
      }
    }
  }
  return { values: values as ConfigValues<T> & Record<string, unknown>, origins, table: full };
}

/** Every secret value of a loaded configuration (non-empty), e.g. to redact logs. */
export function secretValues(loaded: { values: Record<string, unknown>; table: ConfigTable }): string[] {
  return Object.entries(loaded.table)
    .filter(([k, s]) => s.secret && typeof loaded.values[k] === 'string' && loaded.values[k] !== '')
    .map(([k]) => loaded.values[k] as string);
}
