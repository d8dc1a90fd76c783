/**
 * `roamwatch watch`: one gateway, no Kafka. The agent's sources (rtnetlink, VICI, path
 * verdicts; `createAgentSources` from @roamwatch/agent) feed the processor's pipeline in the
 * same process; findings go to the terminal (readable) or stdout as JSON lines, points
 * optionally to InfluxDB. Processing-time ticks let a reauth's finding out as soon as the
 * host has been quiet for the allowed lateness (default 2 s, `--allowed-lateness-ms`).
 *
 * Stops on SIGTERM/SIGINT (or after --duration-s): sources stop, open work is flushed, the
 * InfluxDB sink drains.
 *
 * Memory under a flood is bounded like the agent's: the VICI session's queue (drops counted and
 * announced as agent.gap), at most `maxBufferedPerHost` events waiting in the orderer, a bounded
 * `--record` buffer (beyond, records are counted as dropped and warned about), and
 * memory-relief.ts hands the flood's garbage back once it is over.
 */
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { Command } from 'commander';
import { interval, map, merge, takeUntil, Subject } from 'rxjs';
import { EXIT, INFLUX_KEYS, LOG_KEYS, createLogger, errorMessage, influxSettings, useColor, withDefaults } from '@roamwatch/core';
import type { ConfigTable, RoamwatchEvent } from '@roamwatch/core';
import { CONFIG_KEYS as AGENT_KEYS, buildAgentConfig, createAgentSources, createSourceAdapters } from '@roamwatch/agent';
import { processEvents, formatFinding, toLineProtocol, InfluxSink } from '@roamwatch/processor';
import type { PipelineInput } from '@roamwatch/processor';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { CORRELATION_KEYS, correlationOptions } from './pipeline-flags.js';
import { startMemoryRelief } from './memory-relief.js';

/** `--record` output waiting for the disk beyond this is dropped (counted, warned), not buffered. */
const RECORD_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** The agent's source keys (same names as `roamwatch agent`), InfluxDB, correlation and watch's own. */
export const WATCH_KEYS = {
  ...withDefaults(LOG_KEYS, { 'log.level': 'warn' }),
  hostId: AGENT_KEYS.hostId,
  'vici.enabled': AGENT_KEYS['vici.enabled'],
  'vici.uri': AGENT_KEYS['vici.uri'],
  'vici.reconnectMinMs': AGENT_KEYS['vici.reconnectMinMs'],
  'vici.reconnectMaxMs': AGENT_KEYS['vici.reconnectMaxMs'],
  'vici.commandTimeoutMs': AGENT_KEYS['vici.commandTimeoutMs'],
  'rtnetlink.enabled': AGENT_KEYS['rtnetlink.enabled'],
  'rtnetlink.receiveBufferBytes': AGENT_KEYS['rtnetlink.receiveBufferBytes'],
  'rtnetlink.coalesce.enabled': AGENT_KEYS['rtnetlink.coalesce.enabled'],
  'rtnetlink.coalesce.thresholdPerS': AGENT_KEYS['rtnetlink.coalesce.thresholdPerS'],
  'rtnetlink.coalesce.summaryIntervalMs': AGENT_KEYS['rtnetlink.coalesce.summaryIntervalMs'],
  'rtnetlink.coalesce.examples': AGENT_KEYS['rtnetlink.coalesce.examples'],
  'path.enabled': AGENT_KEYS['path.enabled'],
  'path.strongswanConf': AGENT_KEYS['path.strongswanConf'],
  'path.swanctlConf': AGENT_KEYS['path.swanctlConf'],
  format: { type: ['text', 'json'] as const, default: 'text', doc: 'Findings as readable text, or one JSON object per line.' },
  durationS: { type: 'int', default: 0, min: 0, doc: 'Stop after this many seconds (0: run until SIGTERM/SIGINT).' },
  ...INFLUX_KEYS,
  ...CORRELATION_KEYS,
} as const satisfies ConfigTable;

export function configure(cmd: Command): void {
  cmd
    .description(
      'One gateway, no Kafka: read rtnetlink and charon VICI events here and correlate them at once.\n' +
        'Prints each reauthentication (class, trigger, latency, downtime, fix) and each at-risk change.',
    )
    .option('--record <file>', 'also append every event envelope to this JSON-lines file (replayable)')
    .option('--no-rtnetlink', 'do not read routing changes (VICI only): rtnetlink.enabled and path.enabled false');
  addConfigOptions(cmd, WATCH_KEYS);
  cmd.addHelpText('after', '\nExit codes: 0 stopped cleanly, 2 bad config or a fatal error.');
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const extraFlags = options.rtnetlink === false ? { 'rtnetlink.enabled': false, 'path.enabled': false } : {};
  const cfg = loadCommandConfig(
    'watch',
    WATCH_KEYS,
    options,
    ({ values, origins }) => ({ ...buildAgentConfig({ ...values, sink: 'stdout' }, origins), influx: influxSettings(values), correlation: correlationOptions(values) }),
    { extraFlags },
  );
  if (cfg.exit !== undefined) return cfg.exit;
  const { values } = cfg.loaded;
  const { config, influx, correlation } = cfg.built;
  const format = values.format;
  const durationS = values.durationS > 0 ? values.durationS : undefined;
  const logger = createLogger({ level: values['log.level'], defaultMeta: { host: config.hostId } });
  const sink = influx ? new InfluxSink({ ...influx, logger }) : undefined;
  let record: WriteStream | undefined;
  if (options.record) record = createWriteStream(String(options.record), { flags: 'a' });

  const agent = createAgentSources({
    hostId: config.hostId,
    sources: createSourceAdapters(config, logger),
    statusIntervalMs: config.statusIntervalMs,
    ...(config.rtnetlink.enabled && config.rtnetlink.coalesce ? { coalesce: config.rtnetlink.coalesce } : {}),
    logger,
    configSummary: { mode: 'watch', vici: config.vici.uri, rtnetlink: config.rtnetlink.enabled },
  });
  const stop$ = new Subject<void>();
  let recordDropped = 0;
  const inputs = merge(
    agent.events$.pipe(
      map((e: RoamwatchEvent): PipelineInput<never> => {
        if (record) {
          if (record.writableLength < RECORD_MAX_BUFFERED_BYTES) record.write(`${JSON.stringify(e)}\n`);
          else if (recordDropped++ % 10_000 === 0) logger.warn('--record: the file cannot keep up; events not recorded', { dropped: recordDropped });
        }
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
  const stopRelief = startMemoryRelief();
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
  // `roamwatch watch --format json | head`: the reader went away; end like any Unix filter.
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
      if (!stopping) stop('stdout closed by its reader');
    } else logger.error('stdout failed', { error: errorMessage(err) });
  };
  process.stdout.on('error', onStdoutError);
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  const timer = durationS !== undefined ? setTimeout(() => stop(`--duration-s ${durationS}`), durationS * 1000) : undefined;
  const code = await finished;
  stopRelief();
  if (recordDropped > 0) logger.warn('--record: events not recorded because the file could not keep up', { dropped: recordDropped });
  if (timer) clearTimeout(timer);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  process.stdout.off('error', onStdoutError);
  if (sink) {
    await Promise.race([sink.drained(), new Promise((r) => setTimeout(r, 10_000))]);
    sink.close();
  }
  if (record) await new Promise<void>((r) => record.end(() => r()));
  return code;
}
