/**
 * roamwatch command line: the composition root for every subcommand.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, errorMessage } from '@roamwatch/core';
import type { SubcommandModule } from './command.js';
import { VERSION } from './version.js';

interface Entry {
  name: string;
  summary: string;
  load: () => Promise<SubcommandModule>;
}

export const SUBCOMMANDS: Entry[] = [
  { name: 'agent', summary: 'run on a gateway: stream rtnetlink and charon VICI events to Kafka (or stdout/file) with a durable spool', load: () => import('./commands/agent.js') },
  { name: 'processor', summary: 'Kafka consumer group: correlate route changes with reauths, write InfluxDB metrics and findings', load: () => import('./commands/processor.js') },
  { name: 'watch', summary: 'one gateway, no Kafka: agent sources and the correlation pipeline in one process, findings on the terminal', load: () => import('./commands/watch.js') },
  { name: 'doctor', summary: 'check every IKE_SA against the routing table now: which ones the next route change will reauthenticate, and the fix', load: () => import('./commands/doctor.js') },
  { name: 'replay', summary: 're-run the correlation over recorded events (a JSON-lines file or a Kafka topic)', load: () => import('./commands/replay.js') },
];

export function buildProgram(): Command {
  const program = new Command('roamwatch')
    .description(
      'Find, explain and prevent IKE_SA reauthentications that strongSwan charon performs ' +
        'because of unrelated routing changes (local address on a loopback/dummy interface, no route with src).',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 findings (doctor: an SA is at risk), 2 error (bad usage, bad config, unreachable server),\n' +
      '3 failed while running (processor: pipeline or consumer crashed; a supervisor should restart it).\n' +
      'Environment: ROAMWATCH_LOG_LEVEL (error|warn|info|debug), ROAMWATCH_LOG_FORMAT (json|text).\n' +
      'Docs: README.md and docs/ in the roamwatch repository.',
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let exitCode: number = EXIT.ok;
  // Only the invoked subcommand's module is loaded (the agent stays lean on a gateway);
  // the others are listed by name and summary for --help.
  const args = argv.slice(2);
  let wanted = args.find((a) => !a.startsWith('-'));
  if (wanted === 'help') wanted = args[args.indexOf('help') + 1];
  for (const entry of SUBCOMMANDS) {
    const cmd = program.command(entry.name).summary(entry.summary).exitOverride();
    if (entry.name !== wanted) continue;
    const mod = await entry.load();
    mod.configure(cmd);
    cmd.action(async (options: Record<string, unknown>, command: Command) => {
      exitCode = await mod.run(options, command);
    });
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors exit 2 (commander printed the message).
      return err.exitCode === 0 ? EXIT.ok : EXIT.error;
    }
    process.stderr.write(`roamwatch: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
  return exitCode;
}
