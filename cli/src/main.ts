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
  { name: 'incidents', summary: 'list recent incidents (one routing event, many gateways) or show one with its gateways and fixes (from InfluxDB)', load: () => import('./commands/incidents.js') },
  { name: 'health', summary: 'is the running agent or processor ready? (its health.file: Kafka, InfluxDB, lag, VICI, rtnetlink); for container healthchecks', load: () => import('./commands/health.js') },
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
      'Environment: ROAMWATCH_LOG_LEVEL (error|warn|info|debug), ROAMWATCH_LOG_FORMAT (json|text),\n' +
      '  NO_COLOR / FORCE_COLOR (colour on a terminal, no-color.org convention). Times print in UTC (…Z).\n' +
      'Docs: README.md and docs/ in the roamwatch repository.',
  );
  return program;
}

/** Edit distance with adjacent transpositions counted as one edit (`agnet` → `agent` is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The subcommand a misspelt name most likely meant (at most two edits away), if any. */
export function suggestCommand(name: string): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const { name: known } of SUBCOMMANDS) {
    const d = editDistance(name.toLowerCase(), known);
    if (d < bestD) [best, bestD] = [known, d];
  }
  return best;
}

/**
 * The subcommand the arguments ask for (`roamwatch doctor …`, `roamwatch help doctor`), or
 * an unknown-command message. The top level has only flags without values (--help,
 * --version), so the first word that is not a flag is the command. Checked before commander
 * parses, because commander answers `agnet --help` with the top-level help and exit 0, and
 * `help doctr` with the help on stderr and no word about the typo.
 */
function wantedCommand(args: string[]): { name?: string; unknown?: string } {
  const i = args.findIndex((a) => !a.startsWith('-'));
  if (i < 0) return {};
  let name = args[i]!;
  if (name === 'help') {
    const topic = args.slice(i + 1).find((a) => !a.startsWith('-'));
    if (topic === undefined) return {};
    name = topic;
  }
  if (SUBCOMMANDS.some((s) => s.name === name)) return { name };
  const hint = suggestCommand(name);
  return {
    unknown:
      `roamwatch: unknown command '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}\n` +
      `Commands: ${SUBCOMMANDS.map((s) => s.name).join(', ')}. See 'roamwatch --help'.\n`,
  };
}

/**
 * `roamwatch … --help | head -1`: once the reader of stdout is gone, every further write fails
 * with EPIPE, which Node emits as an `error` event on process.stdout; without a listener that
 * event ends the process with a stack trace and exit 1. Nothing more can reach that reader, so
 * the CLI ends as a Unix filter does: quietly, with the exit code it would have had. Commands
 * that stream to stdout (`agent --sink stdout`, `watch`) add their own listener and stop.
 */
export function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
  process.stderr.write(`roamwatch: stdout failed: ${errorMessage(err)}\n`);
  process.exitCode = EXIT.failed;
}

export async function main(argv: string[]): Promise<number> {
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  const program = buildProgram();
  let exitCode: number = EXIT.ok;
  // Only the invoked subcommand's module is loaded (the agent stays lean on a gateway);
  // the others are listed by name and summary for --help.
  const args = argv.slice(2);
  const { name: wanted, unknown } = wantedCommand(args);
  if (unknown) {
    process.stderr.write(unknown);
    return EXIT.error;
  }
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
