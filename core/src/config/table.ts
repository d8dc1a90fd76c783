/**
 * One configuration mechanism for every roamwatch command: a declarative key table gives
 * the types, defaults, environment variable names, flags, validation, secret handling,
 * `--print-config` and the documentation; commands only add their table.
 *
 * Sources, later ones win: defaults < config file (YAML or JSON, nested or dotted keys) <
 * environment (ROAMWATCH_<KEY>: kafka.sasl.mechanism → ROAMWATCH_KAFKA_SASL_MECHANISM) < flags
 * (--kafka-sasl-mechanism, or the short name the table gives). Unknown keys are rejected with a
 * did-you-mean; every error is a ConfigError naming the key and the bad value.
 *
 * Secret keys (`secret: true`: the Kafka SASL password, the TLS key passphrase, the InfluxDB
 * token) are never flags and never inline in a config file. Each has a companion key
 * `<key>File` (a path, allowed anywhere), and is also read, in this order (later wins):
 *   1. `$CREDENTIALS_DIRECTORY/<key>` (systemd `LoadCredential=kafka.sasl.password:/etc/...`),
 *   2. the file named by `<key>File` (config file, ROAMWATCH_<KEY>_FILE or --<key>-file),
 *   3. the environment variable ROAMWATCH_<KEY> itself.
 * One trailing newline of a secret file is dropped.
 */

export type KeyType = 'string' | 'int' | 'bool' | 'string[]' | readonly string[];

export interface KeySpec {
  type: KeyType;
  default: unknown;
  doc: string;
  min?: number;
  max?: number;
  /** Extra check; returns a message when the value is bad. */
  check?: (v: never) => string | undefined;
  /** A secret: read from a file, the credentials directory or the environment; masked on print. */
  secret?: boolean;
  /** Flag name without the dashes when it differs from the key's (e.g. `brokers` for kafka.brokers); false = no flag. */
  flag?: string | false;
}

export type ConfigTable = Record<string, KeySpec>;

/** The TypeScript type of one key's value, derived from its spec. */
export type ValueOf<S extends KeySpec> = S['type'] extends 'int'
  ? number
  : S['type'] extends 'bool'
    ? boolean
    : S['type'] extends 'string[]'
      ? string[]
      : S['type'] extends readonly (infer U)[]
        ? U
        : string;

/** The flat, typed values of a table: `{ 'kafka.brokers': string[]; 'log.level': 'error' | ... }`. */
export type ConfigValues<T extends ConfigTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

export type Origin = 'default' | 'file' | 'env' | 'flag' | 'credential';

/** ROAMWATCH_<KEY>: kafka.topicPartitions → ROAMWATCH_KAFKA_TOPIC_PARTITIONS. */
export function envName(key: string): string {
  return 'ROAMWATCH_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** --kebab-case flag of a key: kafka.tls.caFile → kafka-tls-ca-file. */
export function flagName(key: string, spec?: KeySpec): string {
  if (spec && typeof spec.flag === 'string') return spec.flag;
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/\./g, '-').toLowerCase();
}

/** The companion key that names a secret's file: kafka.sasl.password → kafka.sasl.passwordFile. */
export function secretFileKey(key: string): string {
  return `${key}File`;
}

/** A copy of the table with other defaults (e.g. `watch` logs at warn). */
export function withDefaults<T extends ConfigTable>(table: T, defaults: { [K in keyof T]?: ValueOf<T[K]> }): T {
  const out: ConfigTable = { ...table };
  for (const [k, v] of Object.entries(defaults)) {
    const spec = out[k];
    if (!spec) throw new Error(`withDefaults: unknown key ${k}`);
    out[k] = { ...spec, default: v };
  }
  return out as T;
}

/** The keys of a table without some (a command that does not use them). */
export function omitKeys<T extends ConfigTable, K extends keyof T>(table: T, keys: readonly K[]): Omit<T, K> {
  const out: ConfigTable = { ...table };
  for (const k of keys) delete out[k as string];
  return out as Omit<T, K>;
}
