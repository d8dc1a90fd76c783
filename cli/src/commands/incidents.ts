/**
 * `roamwatch incidents list|show ID`: the incidents the processor grouped (docs/processor.md
 * "Incidents"), read from InfluxDB — the same points the Grafana incidents view shows
 * (processor/src/edges/incidents-query.ts says why InfluxDB and not the findings topic).
 *
 * Configuration: INCIDENTS_KEYS (file + env + flags): the same InfluxDB keys as `processor`,
 * the token a secret read from a file or the environment.
 */
import type { Command } from 'commander';
import { ConfigError, EXIT, INFLUX_KEYS, LOG_KEYS, errorMessage, influxSettings, maskUrl } from '@roamwatch/core';
import type { ConfigTable } from '@roamwatch/core';
import { IncidentQuery, formatIncident, FLUX_DURATION } from '@roamwatch/processor';
import type { Incident } from '@roamwatch/processor';
import { addConfigOptions, loadCommandConfig } from '../config.js';

const durationCheck = (v: string) => (FLUX_DURATION.test(v) ? undefined : 'expected a duration such as 30m, 24h or 7d');

export const INCIDENTS_KEYS = {
  ...LOG_KEYS,
  ...INFLUX_KEYS,
  format: { type: ['text', 'json'] as const, default: 'text', doc: 'Text for people, or JSON (list: one incident per line; show: one object with its gateways).' },
  since: { type: 'string', default: '7d', doc: 'How far back to look: incidents that started within this duration (30m, 24h, 7d).', check: durationCheck },
  limit: { type: 'int', default: 50, min: 1, doc: 'list: at most this many incidents, newest first.' },
} as const satisfies ConfigTable;

export function configure(cmd: Command): void {
  cmd
    .description(
      'List recent incidents (spurious reauths on many gateways with one cause, grouped by the processor)\n' +
        'or show one with its gateways, each with its reauths, downtime and the fix that would have prevented it.\n' +
        'Reads the roamwatch_incident points from InfluxDB (influx.url and influx.bucket are required).',
    )
    .usage('[options] list | show ID')
    .allowExcessArguments();
  addConfigOptions(cmd, INCIDENTS_KEYS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n  roamwatch incidents list --influx-url http://influxdb:8086 --influx-bucket roamwatch --since 24h\n  roamwatch incidents show inc-3f0c2a9d41b7e8c2 --format json\n' +
      '\nExit codes: 0 ok, 2 bad usage, unknown incident id or InfluxDB unreachable.',
  );
}

export async function run(options: Record<string, unknown>, cmd: Command): Promise<number> {
  const [action, id, ...extra] = cmd.args;
  const cfg = loadCommandConfig('incidents', INCIDENTS_KEYS, options, ({ values }) => {
    const influx = influxSettings(values);
    return { influx };
  });
  if (cfg.exit !== undefined) return cfg.exit;
  const usage = (msg: string) => {
    process.stderr.write(`roamwatch incidents: ${msg}\nUsage: roamwatch incidents [options] list | show ID   (see roamwatch incidents --help)\n`);
    return EXIT.error;
  };
  if (action !== 'list' && action !== 'show') return usage(action === undefined ? 'say list or show ID' : `unknown action '${action}' (list or show ID)`);
  if (action === 'show' && !id) return usage('show needs an incident id (from roamwatch incidents list)');
  if ((action === 'list' && id !== undefined) || extra.length) return usage(`unexpected argument '${action === 'list' ? id : extra[0]}'`);
  const { values } = cfg.loaded;
  const { influx } = cfg.built;
  if (!influx) {
    process.stderr.write(`roamwatch incidents: ${new ConfigError('influx.url', 'is required: incidents are read from InfluxDB').message}\n`);
    return EXIT.error;
  }
  const q = new IncidentQuery(influx);
  const json = values.format === 'json';
  try {
    if (action === 'list') {
      const list = await q.list({ since: values.since, limit: values.limit });
      if (json) for (const i of list) process.stdout.write(`${JSON.stringify(i)}\n`);
      else if (!list.length) process.stdout.write(`no incidents in the last ${values.since}\n`);
      else for (const i of list) process.stdout.write(`${formatIncident(i, { gateways: false })}\n`);
      return EXIT.ok;
    }
    const inc: Incident | undefined = await q.show(id!, { since: values.since });
    if (!inc) {
      process.stderr.write(`roamwatch incidents: no incident ${id} in the last ${values.since} (roamwatch incidents list shows the ids; --since looks further back)\n`);
      return EXIT.error;
    }
    process.stdout.write(json ? `${JSON.stringify(inc)}\n` : `${formatIncident(inc)}\n`);
    return EXIT.ok;
  } catch (err) {
    process.stderr.write(`roamwatch incidents: reading InfluxDB at ${maskUrl(influx.url)} failed: ${errorMessage(err)}\n`);
    return EXIT.error;
  }
}
