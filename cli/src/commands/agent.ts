/**
 * `roamwatch agent`: the composition root of the gateway agent process.
 *
 * 1. Parse flags, load and validate the config (file < env < flags): a bad value exits 2 with
 *    a message naming the key, before anything connects.
 * 2. runAgent: open the spool, start the sink's delivery loop and the sources.
 * 3. SIGTERM / SIGINT: graceful stop (sources → flush → close); a second SIGINT exits at once.
 *    An unhandled rejection or exception is logged and stops the agent the same way with exit
 *    code 3 (a runtime failure: systemd restarts it; 2 is kept for what a restart cannot fix);
 *    the spool keeps what was not sent.
 * 4. The sink fails for good: stdout's reader went away (EPIPE) → stop, exit 0, like any Unix
 *    filter; another non-retriable sink error (a file sink path that is a symlink) → exit 2.
 */
import type { Command } from 'commander';
import { ConfigError, EXIT, createLogger, errorMessage } from '@roamwatch/core';
import type { RoamwatchError } from '@roamwatch/core';
import { loadAgentConfig, runAgent } from '@roamwatch/agent';
import type { ConfigKey } from '@roamwatch/agent';

/** Flag (commander's camelCase option name) → config key. */
const FLAG_KEYS: Record<string, ConfigKey> = {
  vici: 'vici.uri',
  hostId: 'hostId',
  brokers: 'kafka.brokers',
  topic: 'kafka.topic',
  sink: 'sink',
  spoolDir: 'spool.dir',
  strongswanConf: 'path.strongswanConf',
  swanctlConf: 'path.swanctlConf',
  logLevel: 'log.level',
  statusIntervalMs: 'status.intervalMs',
  spoolMaxBytes: 'spool.maxBytes',
  spoolOnFull: 'spool.onFull',
  topicPartitions: 'kafka.topicPartitions',
};

export function configure(cmd: Command): void {
  cmd
    .description(
      'Run on a gateway: stream rtnetlink and charon VICI events, stamped into the roamwatch envelope,\n' +
        'to Kafka (or stdout / a JSON-lines file) through a durable on-disk spool. Runs until SIGTERM.',
    )
    .option('--config <file>', 'config file (YAML, or JSON if it ends in .json); see deploy/roamwatch-agent.example.yaml')
    .option('--vici <uri>', "charon's VICI socket (default unix:///var/run/charon.vici)")
    .option('--host-id <id>', 'host id in every event and the Kafka key (default: the hostname)')
    .option('--brokers <list>', 'Kafka bootstrap brokers, comma-separated host:port (default 127.0.0.1:9092)')
    .option('--topic <name>', 'Kafka topic (default roamwatch.events)')
    .option('--topic-partitions <n>', 'partitions when the agent creates the topic (default 12)')
    .option('--sink <sink>', 'kafka | stdout | file:PATH (default kafka)')
    .option('--spool-dir <dir>', 'spool directory (default /var/lib/roamwatch/spool)')
    .option('--spool-max-bytes <n>', 'spool bound in bytes (default 1073741824)')
    .option('--spool-on-full <policy>', 'drop-oldest | drop-newest (default drop-oldest)')
    .option('--strongswan-conf <file>', 'strongswan.conf for the path analyzer (default /etc/strongswan.conf)')
    .option('--swanctl-conf <file>', "swanctl.conf, read for each connection's mobike setting (default /etc/swanctl/swanctl.conf)")
    .option('--status-interval-ms <ms>', 'agent.status heartbeat interval (default 30000; 0 = none)')
    .option('--log-level <level>', 'error | warn | info | debug (default info)')
    .addHelpText(
      'after',
      '\nEvery config key can also be set in the environment as ROAMWATCH_<KEY> (kafka.topicPartitions →\n' +
        'ROAMWATCH_KAFKA_TOPIC_PARTITIONS). Secrets: kafka.sasl.passwordFile or ROAMWATCH_KAFKA_SASL_PASSWORD, never a flag.\n' +
        'Exit codes: 0 stopped cleanly (SIGTERM/SIGINT, or --sink stdout whose reader closed the pipe);\n' +
          '2 what a restart cannot fix: bad config (the message names the key), a spool dir in use by another\n' +
          'agent, a file sink that is a symlink; 3 a runtime failure (a restart may fix it).',
    );
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  for (const [flag, key] of Object.entries(FLAG_KEYS)) if (options[flag] !== undefined) flags[key] = options[flag];
  let loaded;
  try {
    loaded = loadAgentConfig({ file: options.config as string | undefined, flags });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch agent: ${err.message}\n`);
      return EXIT.error;
    }
    throw err;
  }
  const { config } = loaded;
  const logger = createLogger({ level: config.logLevel, defaultMeta: { host: config.hostId } });
  let agent;
  try {
    agent = runAgent({ config, logger, onFatal: (err) => onFatal(err) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roamwatch agent: ${err.message}\n`);
      return EXIT.error;
    }
    logger.error('agent failed to start', { error: errorMessage(err) });
    return EXIT.error;
  }

  let onFatal: (err: RoamwatchError) => void = () => undefined;
  return new Promise<number>((resolve) => {
    let code: number = EXIT.ok;
    let stopping = false;
    const stop = (reason: string, exitCode: number) => {
      if (stopping) {
        // A repeated SIGTERM is ignored (timeout(1) and some supervisors signal the process and
        // its group; systemd sends SIGKILL after TimeoutStopSec anyway). A second Ctrl-C exits now.
        if (reason !== 'SIGINT') return;
        logger.warn('second interrupt: exiting now (unsent events stay spooled)', { reason });
        // The spool is written synchronously: what reached it survives this exit.
        process.exit(exitCode || EXIT.error);
      }
      stopping = true;
      code = exitCode;
      agent.stop(reason).then(
        () => finish(),
        (err: unknown) => {
          logger.error('stop failed', { error: errorMessage(err) });
          code = EXIT.error;
          finish();
        },
      );
    };
    const onTerm = () => stop('SIGTERM', EXIT.ok);
    const onInt = () => stop('SIGINT', EXIT.ok);
    const onRejection = (err: unknown) => {
      logger.error('unhandled rejection; stopping', { error: errorMessage(err) });
      stop('unhandled rejection', EXIT.runtime);
    };
    const onException = (err: unknown) => {
      logger.error('uncaught exception; stopping', { error: errorMessage(err) });
      stop('uncaught exception', EXIT.runtime);
    };
    onFatal = (err) => {
      if (err.code === 'SINK_READER_GONE') logger.info('stdout closed by its reader; stopping', {});
      stop(err.code === 'SINK_READER_GONE' ? 'stdout closed' : `sink failed: ${err.code}`, err.code === 'SINK_READER_GONE' ? EXIT.ok : EXIT.error);
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    function finish() {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      // Let winston drain its stream before the CLI returns. Late log calls (a socket closing)
      // must not crash the exit path.
      logger.on('error', () => undefined);
      logger.on('finish', () => resolve(code));
      logger.end();
      setTimeout(() => resolve(code), 500).unref();
      // A library handle that keeps the event loop alive must not keep a stopped agent alive.
      setTimeout(() => process.exit(code), 3000).unref();
    }
  });
}
