/**
 * The agent's sources, stamped into envelopes: one hot, ordered Observable of RoamwatchEvent.
 *
 * `createAgentSources` is shared by `roamwatch agent` (which subscribes a sink) and
 * `roamwatch watch` (which subscribes the processor's pipeline). It owns the event factory, so
 * every envelope of one host — rtnetlink, vici, path verdicts and the agent's own events —
 * comes from one sequence: lastSeq + 1, + 2, …
 *
 * Sources are adapters behind the small `SourceAdapter` interface (start with an emit function,
 * report a state, stop), so the composition is tested with fakes and wired to the real VICI
 * session, rtnetlink mirror and path analyzer in `adapters.ts`. An adapter with `observe` sees
 * every envelope after it is stamped (the path analyzer reacts to route and SA changes that way).
 *
 * Order at the source: this is the one writer of the host's stream, and it stamps every envelope
 * (seq and event time) at the moment it is handed on, from one clock that never goes backwards;
 * a time given by a source is raised to the previous envelope's time if it is older. So a larger
 * `seq` never has a smaller `timeUs`: the sources are merged in time order before the spool, and
 * agent.started / agent.status say so (`streamOrder: 'time'`), which lets the processor release
 * the host's events as they arrive (docs/processor.md "Event time, watermarks, late events").
 *
 * Emission is synchronous: a source's read loop calls `emit`, the envelope is stamped and handed
 * to every subscriber before `emit` returns. Subscribers must not block (the sink appends to
 * its spool and returns); an adapter's read loop therefore never waits on Kafka.
 */
import { Observable, Subject } from 'rxjs';
import { EVENT_KINDS, createEventFactory, createRealtimeClock, errorMessage, silentLogger } from '@roamwatch/core';
import type { AgentStatus, RouteSummary, EventClock, EventKind, EventOf, Logger, PayloadOf, RoamwatchEvent } from '@roamwatch/core';
import type { SinkStatusReport } from '../sinks/types.js';
import { PeerRoutes, StormCoalescer } from './coalesce.js';
import type { CoalesceOptions, RouteChangeKind } from './coalesce.js';
import { AGENT_VERSION } from './version.js';

export type SourceName = 'vici' | 'rtnetlink' | 'path';
export type SourceState = 'connected' | 'connecting' | 'disconnected' | 'disabled';

export interface SourceReport {
  state: SourceState;
  lastError?: string;
  /** vici: the socket URI. */
  uri?: string;
  /** vici: reconnects since start. */
  reconnects?: number;
  /** rtnetlink: resyncs since start. */
  resyncs?: number;
  /** vici: IKE_SAs known from the last snapshot and events. */
  ikeSas?: number;
  /** Events this source lost before they were stamped (announced as agent.gap). */
  eventsDropped?: number;
}

/** Emits one fact; `timeUs` is when it was read (default: now). */
export type Emit = <K extends EventKind>(kind: K, payload: PayloadOf<K>, timeUs?: number) => void;

/**
 * Emits one route change, with the payload built only if it is emitted (in a storm most changes
 * are only counted into a route.summary). `dst` is the route's destination (`route.dst`).
 */
export type EmitRoute = <K extends RouteChangeKind>(kind: K, family: 4 | 6, table: number, dst: string, payload: () => PayloadOf<K>, timeUs?: number) => void;

export interface SourceContext {
  emit: Emit;
  /** Route changes (the rtnetlink adapter): like emit, but lazy about the payload (absent: use emit). */
  emitRoute?: EmitRoute;
  logger: Logger;
  clock: EventClock;
}

export interface SourceAdapter {
  readonly name: SourceName;
  /** Starts reading; must not throw for unreachable daemons (retry and report instead). */
  start(ctx: SourceContext): void;
  /** Sees every stamped envelope, in order (optional). Must not block. */
  observe?(event: RoamwatchEvent): void;
  report(): SourceReport;
  stop(): Promise<void>;
  /** rtnetlink: the mirror's route digest (carried by route.summary events). */
  routeDigest?(): RouteSummary['digest'];
}

export interface AgentSourcesOptions {
  /** Host id stamped into every envelope (and the Kafka key). */
  hostId: string;
  /** Last sequence number already used by this host (read from the spool); default 0. */
  lastSeq?: number;
  /** The sources to run; each can be left out (its status then says `disabled`). */
  sources: SourceAdapter[];
  /** agent.status heartbeat interval; 0 disables heartbeats. Default 30 000. */
  statusIntervalMs?: number;
  /** Sink-side fields of agent.status (spool, sent/dropped, lag); default: no sink. */
  sinkStatus?: () => SinkStatusReport;
  /** Emit agent.started on start and agent.stopping on stop (default true). */
  lifecycleEvents?: boolean;
  /**
   * Storm coalescing of route changes (coalesce.ts; docs/agent.md "Route storms"); undefined =
   * every route change is emitted one by one.
   */
  coalesce?: CoalesceOptions;
  /** Non-secret config summary carried by agent.started. */
  configSummary?: Record<string, unknown>;
  clock?: EventClock;
  logger?: Logger;
}

export interface AgentSources {
  /** Every envelope in sequence order; hot and shared; sources start on the first subscription. */
  readonly events$: Observable<RoamwatchEvent>;
  /** The payload the next agent.status event would carry. */
  status(): AgentStatus;
  /** Stamps an agent-side event (agent.gap, …) into the same stream and sequence. */
  emit<K extends EventKind>(kind: K, payload: PayloadOf<K>): EventOf<K>;
  /** The last sequence number handed out. */
  readonly lastSeq: number;
  /** Stops the sources and timers, emits agent.stopping, completes events$. */
  stop(reason?: string): Promise<void>;
}

const NO_SINK: SinkStatusReport = {
  sink: { kind: 'none', state: 'ok' },
  spool: { bytes: 0, events: 0, limitBytes: 0, droppedEvents: 0 },
  eventsSent: 0,
  eventsDropped: 0,
  lagMs: 0,
};

export function createAgentSources(options: AgentSourcesOptions): AgentSources {
  const clock = options.clock ?? createRealtimeClock();
  const log = options.logger ?? silentLogger();
  const factory = createEventFactory({ host: options.hostId, lastSeq: options.lastSeq ?? 0, clock, validate: true });
  const subject = new Subject<RoamwatchEvent>();
  const sources = options.sources;
  const statusIntervalMs = options.statusIntervalMs ?? 30_000;
  const lifecycle = options.lifecycleEvents ?? true;
  const startedAtMs = Date.now();
  let emitted = 0;
  const invalidLoggedAt = new Map<string, number>();
  const invalidUnannounced = new Map<'rtnetlink' | 'vici' | 'agent', number>();
  let invalid = 0;
  let started = false;
  let stopping = false;
  let stopped = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let emitting = false;
  const queue: Array<() => void> = [];

  /**
   * Stamps and delivers; re-entrant calls (a subscriber or observer that emits) are queued
   * and delivered after the current envelope, so subscribers always see seq order.
   */
  function deliver(make: () => RoamwatchEvent | undefined): void {
    if (emitting) {
      queue.push(() => deliver(make));
      return;
    }
    emitting = true;
    try {
      const ev = make();
      if (ev) {
        emitted += 1;
        peerRoutes?.observe(ev);
        subject.next(ev);
        for (const s of sources) {
          if (!s.observe) continue;
          try {
            s.observe(ev);
          } catch (err) {
            log.error('source observer failed', { source: s.name, error: errorMessage(err) });
          }
        }
      }
    } finally {
      emitting = false;
    }
    const next = queue.shift();
    if (next) next();
  }

  /** Time of the last envelope: no later envelope gets an older time (order at the source). */
  let lastTimeUs = 0;

  function stamp<K extends EventKind>(kind: K, payload: PayloadOf<K>, timeUs?: number): EventOf<K> | undefined {
    if (stopped && kind !== 'agent.stopping') return undefined;
    try {
      const ev = factory.make(kind, payload, { timeUs: Math.max(timeUs ?? clock.nowUs(), lastTimeUs) });
      lastTimeUs = ev.timeUs;
      return ev;
    } catch (err) {
      // A payload that breaks the contract is a bug in an adapter: count it, log it (at most
      // once per kind and 10 s), announce it as agent.gap (one per microtask turn), go on.
      invalid += 1;
      const now = Date.now();
      if (now - (invalidLoggedAt.get(kind) ?? 0) >= 10_000) {
        invalidLoggedAt.set(kind, now);
        log.error('dropped an invalid payload (agent.gap follows; logged at most every 10 s per kind)', { kind, error: errorMessage(err), invalidTotal: invalid });
      }
      if (kind !== 'agent.gap') {
        const source = EVENT_KINDS[kind].source;
        invalidUnannounced.set(source, (invalidUnannounced.get(source) ?? 0) + 1);
        if (invalidUnannounced.size === 1 && invalidUnannounced.get(source) === 1) queueMicrotask(announceInvalid);
      }
      return undefined;
    }
  }

  function announceInvalid(): void {
    const counts = [...invalidUnannounced];
    invalidUnannounced.clear();
    for (const [source, count] of counts) emit('agent.gap', { reason: 'invalid-payload', source, count });
  }

  const coalescer = options.coalesce ? new StormCoalescer(options.coalesce) : undefined;
  const coalesceIntervalMs = options.coalesce?.summaryIntervalMs ?? 0;
  const peerRoutes = coalescer ? new PeerRoutes() : undefined;
  let stormTimer: NodeJS.Timeout | undefined;
  const digest = (): RouteSummary['digest'] => {
    for (const s of sources) if (s.routeDigest) return s.routeDigest();
    return undefined;
  };
  const emitSummary = (summary: RouteSummary | undefined): void => {
    if (!summary) return;
    deliver(() => stamp('route.summary', summary) as RoamwatchEvent | undefined);
    if (summary.final) {
      if (stormTimer) clearInterval(stormTimer);
      stormTimer = undefined;
      log.info('route storm over: route changes are emitted one by one again', { stormStartUs: summary.stormStartUs, summaries: summary.part, coalescedTotal: coalescer!.stats.coalesced });
    }
  };
  /** Before any other event: the storm's changes so far, so the stream stays in time order. */
  const flushStorm = (): void => {
    if (coalescer?.active) emitSummary(coalescer.take(digest()));
  };

  const emitRoute: EmitRoute = (kind, family, table, dst, payload, timeUs) => {
    if (coalescer) {
      const wasActive = coalescer.active;
      if (peerRoutes!.has(dst)) {
        // A route towards an IKE peer: never coalesced (it decides legitimate vs spurious).
        flushStorm();
      } else if (coalescer.offer(kind, family, table, () => (payload() as PayloadOf<'route.added'>).route, timeUs ?? clock.nowUs())) {
        if (!wasActive) {
          log.warn('route storm: coalescing route changes into route.summary events', { thresholdPerS: options.coalesce!.thresholdPerS });
          stormTimer = setInterval(() => emitSummary(coalescer.tick(clock.nowUs(), digest())), coalesceIntervalMs);
          stormTimer.unref();
        }
        if (coalescer.full) flushStorm();
        return;
      }
    }
    deliver(() => stamp(kind, payload(), timeUs) as RoamwatchEvent | undefined);
  };

  const emit: Emit = (kind, payload, timeUs) => {
    if (kind === 'route.added' || kind === 'route.removed' || kind === 'route.replaced') {
      const route = (payload as PayloadOf<'route.added'>).route;
      emitRoute(kind, route.family, route.table, route.dst, () => payload as unknown as PayloadOf<RouteChangeKind>, timeUs);
      return;
    }
    flushStorm();
    deliver(() => stamp(kind, payload, timeUs) as RoamwatchEvent | undefined);
  };

  function status(): AgentStatus {
    const reportOf = (name: SourceName): SourceReport => sources.find((s) => s.name === name)?.report() ?? { state: 'disabled' };
    const vici = reportOf('vici');
    const rt = reportOf('rtnetlink');
    const sink = (options.sinkStatus ?? (() => NO_SINK))();
    const cpu = process.cpuUsage();
    return {
      agentVersion: AGENT_VERSION,
      uptimeS: Math.round((Date.now() - startedAtMs) / 100) / 10,
      sources: {
        rtnetlink: {
          state: rt.state,
          ...(rt.resyncs !== undefined ? { resyncs: rt.resyncs } : {}),
          ...(rt.lastError ? { lastError: rt.lastError.slice(0, 1024) } : {}),
          ...(coalescer ? { storms: coalescer.stats.storms, coalescedChanges: coalescer.stats.coalesced } : {}),
        },
        vici: {
          state: vici.state,
          ...(vici.uri ? { uri: vici.uri } : {}),
          ...(vici.reconnects !== undefined ? { reconnects: vici.reconnects } : {}),
          ...(vici.lastError ? { lastError: vici.lastError.slice(0, 1024) } : {}),
        },
      },
      sink: sink.sink,
      spool: sink.spool,
      eventsEmitted: emitted,
      eventsSent: sink.eventsSent,
      eventsDropped: sink.eventsDropped + invalid + (vici.eventsDropped ?? 0) + (rt.eventsDropped ?? 0),
      lagMs: sink.lagMs,
      ...(vici.ikeSas !== undefined ? { ikeSas: vici.ikeSas } : {}),
      cpuUserS: cpu.user / 1e6,
      cpuSystemS: cpu.system / 1e6,
      rssBytes: process.memoryUsage.rss(),
      streamOrder: 'time',
    };
  }

  function start(): void {
    if (started) return;
    started = true;
    if (lifecycle) {
      emit('agent.started', { agentVersion: AGENT_VERSION, pid: process.pid, ...(options.configSummary ? { config: options.configSummary } : {}), streamOrder: 'time' });
    }
    const ctx: SourceContext = { emit, emitRoute, logger: log, clock };
    for (const s of sources) {
      try {
        s.start({ ...ctx, logger: log.child({ component: s.name }) });
      } catch (err) {
        log.error('source failed to start', { source: s.name, error: errorMessage(err) });
      }
    }
    if (statusIntervalMs > 0) {
      heartbeat = setInterval(() => emit('agent.status', status()), statusIntervalMs);
      heartbeat.unref();
    }
  }

  const events$ = new Observable<RoamwatchEvent>((subscriber) => {
    const sub = subject.subscribe(subscriber);
    // Start after the subscriber is attached, so it sees agent.started and the first events.
    queueMicrotask(start);
    return () => sub.unsubscribe();
  });

  return {
    events$,
    status,
    emit<K extends EventKind>(kind: K, payload: PayloadOf<K>): EventOf<K> {
      flushStorm();
      let out: EventOf<K> | undefined;
      deliver(() => (out = stamp(kind, payload)) as RoamwatchEvent | undefined);
      if (!out && !emitting) throw new Error(`could not emit ${kind}`);
      return out as EventOf<K>;
    },
    get lastSeq() {
      return factory.lastSeq;
    },
    async stop(reason = 'stop requested'): Promise<void> {
      if (stopping) return;
      stopping = true;
      if (heartbeat) clearInterval(heartbeat);
      await Promise.all(
        sources.map((s) =>
          s.stop().catch((err: unknown) => {
            log.warn('source did not stop cleanly', { source: s.name, error: errorMessage(err) });
          }),
        ),
      );
      if (stormTimer) clearInterval(stormTimer);
      if (coalescer?.active) emitSummary(coalescer.finish(clock.nowUs(), digest()));
      stopped = true;
      if (started && lifecycle) emit('agent.stopping', { agentVersion: AGENT_VERSION, pid: process.pid, reason: reason.slice(0, 256) });
      subject.complete();
    },
  };
}
