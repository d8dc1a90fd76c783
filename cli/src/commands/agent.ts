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
import { CONFIG_KEYS, buildAgentConfig, runAgent } from '@roamwatch/agent';
import { addConfigOptions, loadCommandConfig } from '../config.js';
import { startHealthWriter } from '../health.js';
import type { HealthCheck } from '../health.js';

export function configure(cmd: Command): void {
  cmd.description(
    'Run on a gateway: stream rtnetlink and charon VICI events, stamped into the roamwatch envelope,\n' +
      'to Kafka (or stdout / a JSON-lines file) through a durable on-disk spool. Runs until SIGTERM.\n' +
      'Every key is documented in deploy/roamwatch-agent.example.yaml.',
  );
  addConfigOptions(cmd, CONFIG_KEYS);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 stopped cleanly (SIGTERM/SIGINT, or --sink stdout whose reader closed the pipe);\n' +
      '2 what a restart cannot fix: bad config (the message names the key), a spool dir in use by another\n' +
      'agent, a file sink that is a symlink; 3 a runtime failure (a restart may fix it).',
  );
}

export async function run(options: Record<string, unknown>): Promise<number> {
  const cfg = loadCommandConfig('agent', CONFIG_KEYS, options, ({ values, origins }) => {
    const built = buildAgentConfig(values, origins);
    return { ...built, warnings: built.config.warnings, health: { file: values['health.file'], intervalMs: values['health.intervalMs'] } };
  });
  if (cfg.exit !== undefined) return cfg.exit;
  const loaded = cfg.built;
  const { config } = loaded;
  const logger = createLogger({ level: config.logLevel, defaultMeta: { host: config.hostId } });
  for (const w of config.warnings) logger.warn(w);
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

  const running = agent;
  const stopHealth = loaded.health.file
    ? startHealthWriter({
        file: loaded.health.file,
        component: 'agent',
        intervalMs: loaded.health.intervalMs,
        onWriteError: (err) => logger.warn('cannot write health.file', { file: loaded.health.file, error: errorMessage(err) }),
        collect: () => agentHealthChecks(running.sources.status()),
      })
    : () => undefined;

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
      stop('unhandled rejection', EXIT.failed);
    };
    const onException = (err: unknown) => {
      logger.error('uncaught exception; stopping', { error: errorMessage(err) });
      stop('uncaught exception', EXIT.failed);
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
      stopHealth();
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

type AgentStatusView = ReturnType<ReturnType<typeof runAgent>['sources']['status']>;

/** Readiness of the agent from its own status (the agent.status heartbeat's content); cli/src/health.ts. */
export function agentHealthChecks(st: AgentStatusView): HealthCheck[] {
  const source = (name: 'vici' | 'rtnetlink'): HealthCheck => {
    const s = st.sources[name];
    const ok = s.state === 'connected' || s.state === 'disabled';
    return { name, ok, detail: `${s.state}${s.lastError && !ok ? `: ${s.lastError}` : ''}` };
  };
  const spoolFull = st.spool.holding === true;
  return [
    source('vici'),
    source('rtnetlink'),
    {
      name: 'sink',
      ok: st.sink.state === 'ok',
      detail: `${st.sink.kind} ${st.sink.state}, oldest unsent event ${Math.round(st.lagMs)} ms old${st.sink.lastError && st.sink.state !== 'ok' ? `: ${st.sink.lastError}` : ''}`,
    },
    {
      name: 'spool',
      ok: !spoolFull,
      detail: spoolFull ? `the disk refuses writes: ${st.spool.heldBytes ?? 0} bytes held in memory` : `${st.spool.events} events, ${st.spool.bytes} of ${st.spool.effectiveLimitBytes ?? st.spool.limitBytes} bytes`,
    },
  ];
}
