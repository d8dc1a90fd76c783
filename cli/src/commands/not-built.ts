/**
 * A subcommand whose implementation has not landed yet: it says so and exits non-zero,
 * never printing anything that could be mistaken for a result.
 */
import type { Command } from 'commander';
import { EXIT } from '@roamwatch/core';
import type { SubcommandModule } from '../command.js';

export function notBuilt(name: string, description: string): SubcommandModule {
  return {
    configure(cmd: Command) {
      cmd.description(`${description}\n(not built yet in this version of roamwatch)`).allowUnknownOption().allowExcessArguments();
    },
    async run() {
      process.stderr.write(`roamwatch ${name}: not built yet in this version of roamwatch\n`);
      return EXIT.error;
    },
  };
}
