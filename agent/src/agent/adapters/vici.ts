/**
 * VICI source adapter: charon's events and SA snapshots as envelopes.
 *
 * - Subscribes to log, ike-updown, ike-rekey, ike-update, child-updown, child-rekey before
 *   connecting (the session registers them on every (re)connect).
 * - Connecting: the first connect is retried here with backoff (vici.reconnectMinMs …
 *   vici.reconnectMaxMs) for as long as the agent runs; afterwards the session reconnects
 *   by itself. Meanwhile the status says `connecting`/`disconnected` with the last error, and
 *   rtnetlink events keep flowing.
 * - On every (re)connect: `vici.connection` connected, then a snapshot (list-sas + list-conns
 *   + version) as `vici.sa-snapshot` with reason `connect` (first) or `reconnect`.
 * - On a disconnect: `vici.connection` disconnected with the reason.
 *
 * The session delivers events from its own bounded queues (it never blocks its socket reads),
 * and `emit` only appends to the spool: nothing here waits on Kafka.
 *
 * Losses are never silent: events the session's queue dropped (a flood faster than the agent
 * stamps and spools) are counted in `agent.status` (`eventsDropped`) and announced in the stream
 * as `agent.gap` (reason `vici-queue-full`, source `vici`, with the count), at most one gap event
 * per `gapIntervalMs` summing what was dropped meanwhile (and one more at stop). The warning
 * log line is rate-limited the same way (one per 10 s with the totals).
 * Event time: when the event reached this adapter (the session's queue adds well under a
 * millisecond at idle; its receive time has millisecond resolution only).
 */
import { errorMessage } from '@roamwatch/core';
import { Backoff } from '@roamwatch/core/backoff';
import type { Logger } from '@roamwatch/core';
import type { Subscription } from 'rxjs';
import { ViciClient } from '../../vici/client.js';
import type { TypedViciEvent, TypedViciEventName } from '../../vici/types.js';
import type { ViciConnectionEvent } from '../../vici/session.js';
import type { SourceAdapter, SourceContext, SourceReport, SourceState } from '../sources.js';
import { childSaPayload, connectionPayload, ikeSaPayload, ikeUpdatePayload } from './vici-contract.js';

export interface ViciAdapterOptions {
  uri: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  commandTimeoutMs: number;
  /** Per-subscriber VICI event queue length before drops (default: the session's, 10000). */
  eventBufferSize?: number;
  /** Dropped events are summed into one agent.gap at most this often (ms, default 1000). */
  gapIntervalMs?: number;
}

/** At most one "events dropped" warning per this period; the gap events carry every count. */
const DROP_LOG_INTERVAL_MS = 10_000;

const EVENTS: TypedViciEventName[] = ['log', 'ike-updown', 'ike-rekey', 'ike-update', 'child-updown', 'child-rekey'];
export class ViciAdapter implements SourceAdapter {
  readonly name = 'vici' as const;
  private readonly o: ViciAdapterOptions;
  private client: ViciClient | undefined;
  private ctx: SourceContext | undefined;
  private log: Logger | undefined;
  private subs: Subscription[] = [];
  private state: SourceState = 'disconnected';
  private lastError: string | undefined;
  private connects = 0;
  private reconnects = 0;
  private failedAttempts = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ikeSas = new Set<string>();
  private snapshotting: Promise<void> | undefined;
  /** Events lost in the session's queue since start, and not yet announced as agent.gap. */
  private dropped = 0;
  private droppedUnannounced = 0;
  private gapTimer: NodeJS.Timeout | undefined;
  private dropLoggedAtMs = 0;
  private dropLogged = 0;

  constructor(o: ViciAdapterOptions) {
    this.o = o;
  }

  start(ctx: SourceContext): void {
    this.ctx = ctx;
    this.log = ctx.logger;
    const client = new ViciClient({
      uri: this.o.uri,
      commandTimeoutMs: this.o.commandTimeoutMs,
      ...(this.o.eventBufferSize !== undefined ? { eventBufferSize: this.o.eventBufferSize } : {}),
      reconnect: { enabled: true, initialDelayMs: this.o.reconnectMinMs, maxDelayMs: this.o.reconnectMaxMs },
    });
    this.client = client;
    this.subs.push(client.connectionEvents$.subscribe((e) => this.onConnection(e)));
    this.state = 'connecting';
    void this.connectLoop();
  }

  /**
   * Event subscription, made once the first connect succeeded (a registration queued while
   * charon is absent would time out). If the subscription fails (a registration that charon
   * does not answer), it is made again after a delay; the session restores registrations
   * across reconnects by itself.
   */
  private subscribeEvents(): void {
    const client = this.client;
    if (!client || this.stopped) return;
    const sub = client.events(EVENTS).subscribe({
      next: (e) => this.onEvent(e),
      error: (err: unknown) => {
        this.subs = this.subs.filter((s) => s !== sub);
        if (this.stopped) return;
        this.lastError = errorMessage(err);
        this.log?.warn('VICI event subscription failed; subscribing again', { error: this.lastError });
        this.retryTimer = setTimeout(() => this.subscribeEvents(), this.o.reconnectMaxMs);
      },
    });
    this.subs.push(sub);
  }

  private async connectLoop(): Promise<void> {
    const backoff = new Backoff({ minMs: this.o.reconnectMinMs, maxMs: this.o.reconnectMaxMs });
    while (!this.stopped && this.client) {
      try {
        await this.client.connect();
        this.subscribeEvents();
        return;
      } catch (err) {
        if (this.stopped) return;
        this.failedAttempts += 1;
        const msg = errorMessage(err);
        if (this.failedAttempts === 1) {
          this.log?.warn('charon VICI socket not reachable; retrying (rtnetlink events keep flowing)', { uri: this.o.uri, error: msg });
          this.ctx?.emit('vici.connection', { state: 'disconnected', uri: this.o.uri, reason: msg.slice(0, 1024), attempts: 1 });
        } else if (msg !== this.lastError) this.log?.info('VICI still not reachable', { uri: this.o.uri, error: msg, attempts: this.failedAttempts });
        this.lastError = msg;
        this.state = 'connecting';
        const delay = backoff.fail();
        await new Promise<void>((r) => {
          this.retryTimer = setTimeout(r, delay);
        });
      }
    }
  }

  private onConnection(e: ViciConnectionEvent): void {
    const ctx = this.ctx;
    if (!ctx || this.stopped) return;
    switch (e.type) {
      case 'connected':
      case 'reconnected': {
        const reconnect = this.connects > 0;
        this.connects += 1;
        if (e.type === 'reconnected') this.reconnects += 1;
        const attempts = e.type === 'reconnected' ? e.attempts : this.failedAttempts;
        this.state = 'connected';
        this.lastError = undefined;
        this.failedAttempts = 0;
        this.log?.info(reconnect ? 'VICI reconnected; taking a new SA snapshot' : 'VICI connected; taking an SA snapshot', { uri: this.o.uri, attempts });
        ctx.emit('vici.connection', { state: 'connected', uri: this.o.uri, attempts });
        this.snapshotting = this.snapshot(reconnect ? 'reconnect' : 'connect');
        break;
      }
      case 'disconnected': {
        this.state = 'disconnected';
        this.lastError = e.error ? errorMessage(e.error) : e.reason;
        this.log?.warn('VICI disconnected; reconnecting', { uri: this.o.uri, reason: e.reason, error: this.lastError });
        ctx.emit('vici.connection', { state: 'disconnected', uri: this.o.uri, reason: (this.lastError ?? e.reason).slice(0, 1024) });
        break;
      }
      case 'reconnecting':
        this.state = 'connecting';
        if (e.lastError) this.lastError = errorMessage(e.lastError);
        break;
      case 'events-dropped':
        this.onDropped(e.dropped, e.events);
        break;
      default:
        break;
    }
  }

  /** Counts a loss, schedules its agent.gap and logs at most once per DROP_LOG_INTERVAL_MS. */
  private onDropped(count: number, events: string[]): void {
    this.dropped += count;
    this.droppedUnannounced += count;
    const now = Date.now();
    if (now - this.dropLoggedAtMs >= DROP_LOG_INTERVAL_MS) {
      this.log?.warn('VICI events dropped by a full queue (agent.gap events follow; this line repeats at most every 10 s)', {
        events,
        droppedSinceLastLine: this.dropped - this.dropLogged,
        totalDropped: this.dropped,
      });
      this.dropLoggedAtMs = now;
      this.dropLogged = this.dropped;
    }
    if (!this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        this.announceDrops();
      }, this.o.gapIntervalMs ?? 1000);
    }
  }

  private announceDrops(): void {
    const count = this.droppedUnannounced;
    if (count === 0 || !this.ctx) return;
    this.droppedUnannounced = 0;
    this.ctx.emit('agent.gap', { reason: 'vici-queue-full', source: 'vici', count });
  }

  private async snapshot(reason: 'connect' | 'reconnect'): Promise<void> {
    const client = this.client;
    const ctx = this.ctx;
    if (!client || !ctx) return;
    try {
      const [sas, conns, version] = await Promise.all([client.listSas(), client.listConns(), client.version().catch(() => undefined)]);
      this.ikeSas.clear();
      for (const s of sas) this.ikeSas.add(String(s.uniqueId));
      const charonVersion = version ? [version.daemon, version.version].filter(Boolean).join(' ').slice(0, 128) : undefined;
      ctx.emit('vici.sa-snapshot', {
        reason,
        ikeSas: sas.map(ikeSaPayload),
        connections: conns.map(connectionPayload),
        ...(charonVersion ? { charonVersion } : {}),
      });
    } catch (err) {
      if (this.stopped) return;
      this.lastError = errorMessage(err);
      this.log?.warn('SA snapshot failed (the next reconnect takes another)', { error: this.lastError });
    }
  }

  private onEvent(e: TypedViciEvent): void {
    const ctx = this.ctx;
    if (!ctx || this.stopped) return;
    switch (e.type) {
      case 'log':
        ctx.emit('vici.log', {
          group: e.payload.group.slice(0, 16) || '?',
          level: e.payload.level,
          thread: e.payload.thread,
          ...(e.payload.ikeSaName ? { ikeSaName: e.payload.ikeSaName.slice(0, 255) } : {}),
          ...(e.payload.ikeSaUniqueId !== undefined ? { ikeSaUniqueId: String(e.payload.ikeSaUniqueId) } : {}),
          msg: e.payload.msg.slice(0, 65535),
        });
        break;
      case 'ike-updown': {
        const id = String(e.payload.ikeSa.uniqueId);
        if (e.payload.up) this.ikeSas.add(id);
        else this.ikeSas.delete(id);
        ctx.emit('vici.ike-updown', { up: e.payload.up, ikeSa: ikeSaPayload(e.payload.ikeSa) });
        break;
      }
      case 'ike-rekey':
        this.ikeSas.delete(String(e.payload.old.uniqueId));
        this.ikeSas.add(String(e.payload.new.uniqueId));
        ctx.emit('vici.ike-rekey', { old: ikeSaPayload(e.payload.old), new: ikeSaPayload(e.payload.new) });
        break;
      case 'ike-update':
        ctx.emit('vici.ike-update', ikeUpdatePayload(e.payload));
        break;
      case 'child-updown':
        ctx.emit('vici.child-updown', { up: e.payload.up, ikeSa: ikeSaPayload(e.payload.ikeSa) });
        break;
      case 'child-rekey':
        ctx.emit('vici.child-rekey', { ikeSa: ikeSaPayload(e.payload.ikeSa), old: childSaPayload(e.payload.old), new: childSaPayload(e.payload.new) });
        break;
      case 'invalid':
        this.log?.warn('malformed VICI event skipped', { event: e.name, error: e.error.message });
        break;
      default:
        break;
    }
  }

  report(): SourceReport {
    return {
      state: this.state,
      uri: this.o.uri,
      reconnects: this.reconnects,
      ikeSas: this.ikeSas.size,
      eventsDropped: this.dropped,
      ...(this.lastError && this.state !== 'connected' ? { lastError: this.lastError } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.announceDrops();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.client?.close();
    await this.snapshotting?.catch(() => undefined);
    this.state = 'disconnected';
  }
}
