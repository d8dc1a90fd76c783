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
 * Event time: when the event reached this adapter (the session's queue adds well under a
 * millisecond at idle; its receive time has millisecond resolution only).
 */
import { errorMessage } from '@roamwatch/core';
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
}

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

  constructor(o: ViciAdapterOptions) {
    this.o = o;
  }

  start(ctx: SourceContext): void {
    this.ctx = ctx;
    this.log = ctx.logger;
    const client = new ViciClient({
      uri: this.o.uri,
      commandTimeoutMs: this.o.commandTimeoutMs,
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
    let delay = this.o.reconnectMinMs;
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
        await new Promise<void>((r) => {
          this.retryTimer = setTimeout(r, delay);
        });
        delay = Math.min(delay * 2, this.o.reconnectMaxMs);
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
        this.log?.warn('VICI events dropped by a full subscriber queue', { events: e.events, dropped: e.dropped, totalDropped: e.totalDropped });
        break;
      default:
        break;
    }
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
      ...(this.lastError && this.state !== 'connected' ? { lastError: this.lastError } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.client?.close();
    await this.snapshotting?.catch(() => undefined);
    this.state = 'disconnected';
  }
}
