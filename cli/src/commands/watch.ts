/**
 * `roamwatch watch`: one gateway, no Kafka. The agent's sources (rtnetlink, VICI, path
 * verdicts; `createAgentSources` from @roamwatch/agent) feed the processor's pipeline in the
 * same process; findings go to the terminal (readable) or stdout as JSON lines, points
 * optionally to InfluxDB. Processing-time ticks let a reauth's finding out as soon as the
 * host has been quiet for the allowed lateness (default 2 s, `--allowed-lateness-ms`).
 *
 * Stops on SIGTERM/SIGINT (or after --duration-s): sources stop, open work is flushed, the
 * InfluxDB sink drains.
 */
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { Command } from 'commander';
import { interval, map, merge, takeUntil, Subject } from 'rxjs';
import { ConfigError, EXIT, createLogger, errorMessage, resolveLogLevel, useColor } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { createAgentSources, createSourceAdapters, loadAgentConfig } from '@roamwatch/agent';
import type { ConfigKey } from '@roamwatch/agent';
import { processEvents, formatFinding, toLineProtocol, InfluxSink } from '@roamwatch/processor';
import type { PipelineInput } from '@roamwatch/processor';
import { addCorrelationFlags, addInfluxFlags, correlationOptions, influxOptions } from './pipeline-flags.js';

export function configure(cmd: Command): void {
  cmd
    .description(
      'One gateway, no Kafka: read rtnetlink and charon VICI events here and correlate them at once.\n' +
        'Prints each reauthentication (class, trigger, latency, downtime, fix) and each at-risk change.',
    )
    .option('--vici <uri>', "charon's VICI socket (default unix:///var/run/charon.vici)")
    .option('--strongswan-conf <file>', 'strongswan.conf for the path analyzer (default /etc/strongswan.conf)')
    .option('--swanctl-conf <file>', "swanctl.conf, read for each connection's mobike setting (default /etc/swanctl/swanctl.conf)")
    .option('--host-id <id>', 'host id in findings and points (default: the hostname)')
    .option('--format <format>', 'text | json (one JSON object per line)', 'text')
    .option('--record <file>', 'also append every event envelope to this JSON-lines file (replayable)')
    .option('--duration-s <s>', 'stop after this many seconds (default: run until SIGTERM/SIGINT)')
    .option('--no-rtnetlink', 'do not read routing changes (VICI only)')
    .option('--log-level <level>', 'error | warn | info | debug', 'warn');
  addInfluxFlags(cmd);
  addCorrelationFlags(cmd);
  cmd.addHelpText('after', '\nExit codes: 0 stopped cleanly, 2 bad config or a fatal error.');
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const format = String(options.format);
  let influx;
  let correlation;
  let config;
  let durationS: number | undefined;
  try {
    if (format !== 'text' && format !== 'json') throw new ConfigError('format', `expected text or json, got ${JSON.stringify(format)}`);
    influx = influxOptions(options, { required: false });
    correlation = correlationOptions(options);
    if (options.durationS !== undefined) {
      durationS = Number(options.durationS);
      if (!Number.isFinite(durationS) || durationS <= 0) throw new ConfigError('duration-s', `expected a positive number, got ${JSON.stringify(options.durationS)}`);
    }
    const flags: Partial<Record<ConfigKey, unknown>> = { sink: 'stdout' };
    if (options.vici !== undefined) flags['vici.uri'] = options.vici;
    if (options.strongswanConf !== undefined) flags['path.strongswanConf'] = options.strongswanConf;
    if (options.swanctlConf !== undefined) flags['path.swanctlConf'] = options.swanctlConf;
    if (options.hostId !== undefined) flags.hostId = options.hostId;
    if (options.rtnetlink === false) {
      flags['rtnetlink.enabled'] = false;
      flags['path.enabled'] = false;
    }
    config = loadAgentConfig({ flags }).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch watch: ${err.message}\n`);
      return EXIT.error;
    }
    throw err;
  }
  const logger = createLogger({ level: resolveLogLevel(options.logLevel as string), defaultMeta: { host: config.hostId } });
  const sink = influx ? new InfluxSink({ ...influx, logger }) : undefined;
  let record: WriteStream | undefined;
  if (options.record) record = createWriteStream(String(options.record), { flags: 'a' });

  const agent = createAgentSources({
    hostId: config.hostId,
    sources: createSourceAdapters(config, logger),
    statusIntervalMs: config.statusIntervalMs,
    logger,
    configSummary: { mode: 'watch', vici: config.vici.uri, rtnetlink: config.rtnetlink.enabled },
  });
  const stop$ = new Subject<void>();
  const inputs = merge(
    agent.events$.pipe(
      map((e: RoamwatchEvent): PipelineInput<never> => {
        record?.write(`${JSON.stringify(e)}\n`);
        return { type: 'record', value: e };
      }),
    ),
    interval(250).pipe(
      takeUntil(stop$),
      map((): PipelineInput<never> => ({ type: 'tick', nowUs: Date.now() * 1000 })),
    ),
  );
  const color = useColor(process.stdout);
  if (format === 'text' && process.stderr.isTTY) {
    process.stderr.write(`roamwatch watch: host ${config.hostId}, VICI ${config.vici.enabled ? config.vici.uri : 'off'}, rtnetlink ${config.rtnetlink.enabled ? 'on' : 'off'}; Ctrl-C to stop\n`);
  }
  const finished = new Promise<number>((resolve) => {
    inputs.pipe(processEvents<never>({ ...correlation, flushOnComplete: true })).subscribe({
      next: (o) => {
        if (o.type === 'finding') process.stdout.write(format === 'json' ? `${JSON.stringify(o.finding)}\n` : `${formatFinding(o.finding, { color })}\n`);
        else if (o.type === 'point') sink?.push(toLineProtocol(o.point));
      },
      error: (err) => {
        logger.error('pipeline failed', { error: errorMessage(err) });
        resolve(EXIT.error);
      },
      complete: () => resolve(EXIT.ok),
    });
  });
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) process.exit(EXIT.error);
    stopping = true;
    logger.info(`stopping: ${why}`);
    stop$.next();
    void agent.stop(why).catch((err) => logger.error('stop failed', { error: errorMessage(err) }));
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  const timer = durationS !== undefined ? setTimeout(() => stop(`--duration-s ${durationS}`), durationS * 1000) : undefined;
  const code = await finished;
  if (timer) clearTimeout(timer);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  if (sink) {
    await Promise.race([sink.drained(), new Promise((r) => setTimeout(r, 10_000))]);
    sink.close();
  }
  if (record) await new Promise<void>((r) => record.end(() => r()));
  return code;
}
