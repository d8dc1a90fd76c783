/**
 * The agent's composition root: config → spool → transport → sink → sources → envelopes.
 *
 *   sources (rtnetlink, vici, path) ──emit──▶ createAgentSources (stamp: host, seq, time)
 *        ──events$──▶ SpooledSink.write (append to the spool, returns at once)
 *        ──delivery loop──▶ transport (Kafka / stdout / file)
 *
 * Start-up: validate the config (done by the caller: loadAgentConfig throws ConfigError), open
 * the spool (recovers unsent events and the last sequence number), then start delivering and
 * reading; nothing here waits for Kafka or charon to be reachable.
 *
 * Shutdown (`stop`, on SIGTERM/SIGINT from the CLI): stop the sources (VICI session, netlink
 * helper, timers) and emit agent.stopping → flush the sink for at most shutdownTimeoutMs →
 * close the transport → fsync and close the spool. What could not be sent stays spooled and
 * goes first after the next start.
 */
import { errorMessage } from '@roamwatch/core';
import type { Logger, RoamwatchError, RoamwatchEvent } from '@roamwatch/core';
import type { Subscription } from 'rxjs';
import { Spool, SpoolError } from '../sinks/spool.js';
import type { SpoolGap } from '../sinks/spool.js';
import { SpooledSink } from '../sinks/spooled-sink.js';
import { KafkaTransport } from '../sinks/kafka.js';
import { FileTransport, StreamTransport } from '../sinks/lines.js';
import type { Transport } from '../sinks/types.js';
import { ConfigError } from '@roamwatch/core';
import type { AgentConfig } from './config.js';
import { summarizeConfig } from './config.js';
import { createAgentSources } from './sources.js';
import type { AgentSources, SourceAdapter } from './sources.js';
import { createSourceAdapters } from './adapters.js';

export interface RunAgentOptions {
  config: AgentConfig;
  logger: Logger;
  /** Source adapters (default: the real rtnetlink, vici and path adapters per the config). */
  sources?: SourceAdapter[];
  /** Transport override (tests, benchmarks). */
  transport?: Transport;
  /**
   * The sink failed for good (a non-retriable transport error: stdout's reader went away, a
   * file sink that is a symlink). The caller stops the agent; unsent events stay spooled.
   */
  onFatal?: (err: RoamwatchError) => void;
}

export interface RunningAgent {
  readonly sources: AgentSources;
  readonly sink: SpooledSink;
  /** Graceful stop; resolves when the spool is closed. Idempotent. */
  stop(reason?: string): Promise<void>;
}

export function createTransport(config: AgentConfig, logger: Logger): Transport {
  const s = config.sink;
  if (s.type === 'stdout') return new StreamTransport(process.stdout);
  if (s.type === 'file') return new FileTransport(s.path);
  const k = config.kafka;
  return new KafkaTransport({
    brokers: k.brokers,
    topic: k.topic,
    key: config.hostId,
    clientId: k.clientId,
    compression: k.compression,
    recordMaxEvents: k.recordMaxEvents,
    recordMaxBytes: k.recordMaxBytes,
    tls: k.tls,
    sasl: k.sasl,
    connectionTimeoutMs: k.connectionTimeoutMs,
    requestTimeoutMs: k.requestTimeoutMs,
    retryMaxMs: k.retryMaxMs,
    createTopic: k.createTopic,
    topicPartitions: k.topicPartitions,
    topicReplicationFactor: k.topicReplicationFactor,
    logger: logger.child({ component: 'sink.kafka' }),
  });
}

export function runAgent({ config, logger, sources: adapters, transport, onFatal }: RunAgentOptions): RunningAgent {
  let onGap: (gap: SpoolGap) => void = () => undefined;
  let spool: Spool;
  try {
    spool = Spool.open({
      dir: config.spool.dir,
      maxBytes: config.spool.maxBytes,
      segmentBytes: config.spool.segmentBytes,
      fsyncIntervalMs: config.spool.fsyncIntervalMs,
      onFull: config.spool.onFull,
      memoryMaxBytes: config.spool.memoryMaxBytes,
      minFreeBytes: config.spool.minFreeBytes,
      onGap: (g) => onGap(g),
      logger: logger.child({ component: 'spool' }),
    });
  } catch (err) {
    if (err instanceof SpoolError) throw new ConfigError('spool.dir', err.message.replace(/^spool dir \S+: /, ''), { cause: err });
    throw err;
  }
  const k = config.kafka;
  const sink = new SpooledSink({
    spool,
    transport: transport ?? createTransport(config, logger),
    batchMaxEvents: k.batchMaxEvents,
    batchMaxBytes: k.batchMaxBytes,
    lingerMs: config.sink.type === 'kafka' ? k.lingerMs : 0,
    retryMinMs: k.retryMinMs,
    retryMaxMs: k.retryMaxMs,
    degradedLagMs: k.degradedLagMs,
    logger: logger.child({ component: `sink.${config.sink.type}` }),
    onFatal: (err) => onFatal?.(err),
  });
  const sources = createAgentSources({
    hostId: config.hostId,
    lastSeq: spool.lastSeq,
    sources: adapters ?? createSourceAdapters(config, logger),
    statusIntervalMs: config.statusIntervalMs,
    ...(config.rtnetlink.enabled && config.rtnetlink.coalesce ? { coalesce: config.rtnetlink.coalesce } : {}),
    sinkStatus: () => sink.report(),
    configSummary: summarizeConfig(config),
    logger,
  });
  onGap = (gap) => {
    try {
      sources.emit('agent.gap', gap);
    } catch (err) {
      logger.error('could not emit agent.gap', { ...gap, error: errorMessage(err) });
    }
  };
  let statusLogged = 0;
  const sub: Subscription = sources.events$.subscribe({
    next: (ev: RoamwatchEvent) => {
      sink.write(ev);
      if (ev.kind === 'agent.status') {
        // One log line per heartbeat at debug, and at info every 10th: the operator's pulse.
        const p = ev.payload;
        const fields = { seq: ev.seq, vici: p.sources.vici.state, rtnetlink: p.sources.rtnetlink.state, sink: p.sink.state, spoolEvents: p.spool.events, sent: p.eventsSent, dropped: p.eventsDropped, lagMs: p.lagMs };
        if (statusLogged++ % 10 === 0 || p.sink.state !== 'ok') logger.info('status', fields);
        else logger.debug('status', fields);
      }
    },
    error: (err: unknown) => logger.error('event stream failed', { error: errorMessage(err) }),
  });
  // The agent runs until stopped, even with every source disabled (their handles would
  // otherwise be the only thing keeping the process alive).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  logger.info('agent starting', { ...summarizeConfig(config), lastSeq: spool.lastSeq, pendingEvents: spool.stats().pendingEvents });
  sink.start();

  let stopping: Promise<void> | undefined;
  return {
    sources,
    sink,
    stop(reason = 'stop requested') {
      stopping ??= (async () => {
        logger.info('agent stopping', { reason });
        clearInterval(keepAlive);
        await sources.stop(reason);
        sub.unsubscribe();
        const t0 = Date.now();
        const flushed = await sink.flush(config.shutdownTimeoutMs);
        await sink.close(Math.max(0, config.shutdownTimeoutMs - (Date.now() - t0)));
        const r = sink.report();
        logger.info('agent stopped', { flushed, spooledEvents: r.spool.events, sent: r.eventsSent });
      })();
      return stopping;
    },
  };
}
