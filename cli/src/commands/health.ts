/**
 * roamwatch health: is the agent or processor that writes `health.file` ready? Reads the report
 * (cli/src/health.ts), prints one line per check and exits 0 when it is fresh and every check
 * passed, 1 when not, 2 when there is no report to read (not configured, not written yet, or
 * not a report). Made for container healthchecks (Dockerfile HEALTHCHECK, docker-compose.yml)
 * and supervisors; docs/deploy.md "Healthchecks".
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { EXIT } from '@roamwatch/core';
import type { ConfigTable } from '@roamwatch/core';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { evaluateHealth, parseHealthReport } from '../health.js';

export const HEALTH_KEYS = {
  'health.file': { type: 'string', default: '', flag: 'file', doc: 'The report the agent or processor writes (its health.file); the image sets ROAMWATCH_HEALTH_FILE.' },
  maxAgeS: { type: 'int', default: 0, min: 0, flag: 'max-age-s', doc: 'A report older than this is stale (unhealthy); 0 = three of the writer\'s intervals, at least 15 s.' },
} as const satisfies ConfigTable;

export function configure(cmd: Command): void {
  cmd.description(
    'Readiness of a running agent or processor (for container healthchecks): reads the report it writes\n' +
      'to health.file and checks that it is fresh and that every check passed (processor: Kafka group\n' +
      'joined, InfluxDB reachable, consumer lag bounded; agent: VICI and rtnetlink connected, sink ok,\n' +
      'spool writable).',
  );
  addConfigOptions(cmd, HEALTH_KEYS);
  cmd.addHelpText('after', '\nExit codes: 0 healthy, 1 unhealthy (a check failed or the report is stale), 2 no report to read.');
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const cfg = loadCommandConfig('health', HEALTH_KEYS, options, ({ values }) => ({ values }));
  if (cfg.exit !== undefined) return cfg.exit;
  const { values } = cfg.built;
  const file = values['health.file'];
  if (!file) {
    process.stderr.write('roamwatch health: no report to read: give --file (or ROAMWATCH_HEALTH_FILE), the health.file of the agent or processor\n');
    return EXIT.error;
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`roamwatch health: cannot read ${file}: ${code ?? (err as Error).message}${code === 'ENOENT' ? ' (not started yet, stopped, or health.file not set there)' : ''}\n`);
    return EXIT.error;
  }
  let verdict;
  try {
    verdict = evaluateHealth(parseHealthReport(text, file), Date.now(), values.maxAgeS > 0 ? values.maxAgeS * 1000 : undefined);
  } catch (err) {
    process.stderr.write(`roamwatch health: ${(err as Error).message}\n`);
    return EXIT.error;
  }
  process.stdout.write(`${verdict.lines.join('\n')}\n`);
  return verdict.healthy ? EXIT.ok : EXIT.findings;
}
