/**
 * The shape every subcommand module exports. main.ts registers them with commander;
 * each module owns its options, help text and behaviour, and returns an exit code
 * (see EXIT in @roamwatch/core: 0 ok, 1 findings/at risk, 2 error).
 */
import type { Command } from 'commander';

export interface SubcommandModule {
  /** Adds options and the description to `cmd`; `run` receives the parsed options. */
  configure(cmd: Command): void;
  run(options: Record<string, unknown>, cmd: Command): Promise<number>;
}
