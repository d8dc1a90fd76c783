/**
 * The command-line side of the one configuration mechanism (@roamwatch/core config): every
 * command declares its key table, and this module gives it
 *   - one flag per key (`--kafka-tls-ca-file`, or the short name the table gives: `--brokers`),
 *     no flag for a secret (only `--<key>-file`), no commander defaults (so that the
 *     environment and the config file are not overridden by a default),
 *   - `--config FILE`, `--print-config` (the effective configuration, secrets redacted, the
 *     origin of every value that is not a default) and `--check-config` (validate and exit:
 *     0 valid, 2 invalid, like `promtool check config`),
 *   - one loading path: ConfigError → "roamwatch <command>: config <key>: ..." and exit 2.
 * Every secret value loaded is registered for redaction from the logs.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { ConfigError, EXIT, envName, expandTable, flagName, formatConfig, loadConfig, registerSecrets, secretValues } from '@roamwatch/core';
import type { ConfigTable, KeySpec, LoadedConfigValues } from '@roamwatch/core';

function argName(spec: KeySpec): string {
  if (Array.isArray(spec.type)) return `<${spec.type.join('|')}>`;
  if (spec.type === 'bool') return '<true|false>';
  if (spec.type === 'int') return '<n>';
  if (spec.type === 'string[]') return '<list>';
  return '<value>';
}

function showDefault(spec: KeySpec): string {
  const d = spec.default;
  if (Array.isArray(d)) return d.join(',');
  if (d === '') return 'none';
  return String(d);
}

function keyOptions(table: ConfigTable): Array<{ key: string; option: Option }> {
  const out: Array<{ key: string; option: Option }> = [];
  for (const [key, spec] of Object.entries(expandTable(table))) {
    if (spec.secret || spec.flag === false) continue;
    const option = new Option(`--${flagName(key, spec)} ${argName(spec)}`, `${spec.doc} (${key}, env ${envName(key)}, default ${showDefault(spec)})`);
    out.push({ key, option });
  }
  return out;
}

/** Adds --config, --print-config, --check-config and one flag per key of `table`. */
export function addConfigOptions(cmd: Command, table: ConfigTable): void {
  cmd
    .option('--config <file>', 'config file (YAML, or JSON if it ends in .json) with any key below, nested (kafka: {brokers: ...}) or dotted')
    .option('--print-config', 'print the effective configuration (secrets redacted; where each non-default value came from) and exit')
    .option('--check-config', 'validate the configuration (file, environment, flags, files it names) and exit: 0 valid, 2 invalid');
  for (const { option } of keyOptions(table)) cmd.addOption(option);
  const secrets = Object.entries(table).filter(([, s]) => s.secret).map(([k]) => k);
  cmd.addHelpText(
    'after',
    '\nConfiguration: defaults < --config file < environment ROAMWATCH_<KEY> (kafka.sasl.mechanism →\n' +
      'ROAMWATCH_KAFKA_SASL_MECHANISM) < flags. Unknown keys are rejected with a suggestion.' +
      (secrets.length
        ? `\nSecrets (${secrets.join(', ')}) are never flags nor in the config file: put each in a file named\n` +
          'by <key>File (flag --<key>-file, env ROAMWATCH_<KEY>_FILE), or pass it with systemd LoadCredential=<key>:PATH,\n' +
          'or set ROAMWATCH_<KEY> in the environment.'
        : ''),
  );
}

/** The config-key values given as flags (commander's parsed options → { key: text }). */
export function flagValues(table: ConfigTable, options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, option } of keyOptions(table)) {
    const v = options[option.attributeName()];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export type CommandConfig<T extends ConfigTable, R> = { exit: number } | { exit?: undefined; loaded: LoadedConfigValues<T>; built: R };

/**
 * Loads the command's configuration from --config, the environment and the flags, builds the
 * command's settings with `build` (which validates what spans several keys), and handles
 * --print-config / --check-config. Returns `{ exit }` when the command should stop there.
 */
export function loadCommandConfig<T extends ConfigTable, R>(
  command: string,
  table: T,
  options: Record<string, unknown>,
  build: (loaded: LoadedConfigValues<T>) => R & { warnings?: string[] },
  opts: { extraFlags?: Record<string, unknown>; env?: NodeJS.ProcessEnv } = {},
): CommandConfig<T, R> {
  let loaded: LoadedConfigValues<T>;
  let built: R & { warnings?: string[] };
  try {
    loaded = loadConfig(table, { file: options.config as string | undefined, flags: { ...flagValues(table, options), ...opts.extraFlags }, env: opts.env ?? process.env });
    registerSecrets(secretValues(loaded));
    built = build(loaded);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch ${command}: ${err.message}\n`);
      return { exit: EXIT.error };
    }
    throw err;
  }
  if (options.printConfig) {
    process.stdout.write(formatConfig(loaded));
    return { exit: EXIT.ok };
  }
  if (options.checkConfig) {
    for (const w of built.warnings ?? []) process.stderr.write(`roamwatch ${command}: warning: ${w}\n`);
    const set = Object.values(loaded.origins).filter((o) => o !== 'default').length;
    process.stdout.write(`roamwatch ${command}: configuration valid (${set} of ${Object.keys(loaded.table).length} keys set${options.config ? `, file ${String(options.config)}` : ''})\n`);
    return { exit: EXIT.ok };
  }
  return { loaded, built };
}
