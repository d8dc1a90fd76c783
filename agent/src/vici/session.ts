/**
 * The VICI session: commands, streamed commands, event subscriptions and reconnection over
 * one connection to charon.
 *
 * Protocol rules it follows (strongSwan vici README, "Packet layer"):
 * - There is no request id, so only one request (command or event (de)registration) may be
 *   in flight; the rest wait in a FIFO queue.
 * - Events may arrive at any time, also between a request and its response; they are told
 *   apart by packet type, never by order.
 * - A streamed command (list-sas, list-conns) needs a registration for its stream event
 *   (list-sa, list-conn) before the command and an unregistration after the response; the
 *   session does that, and unregisters in `finally` whatever happened.
 * - charon registers a client once per EVENT_REGISTER it receives, duplicates included, and
 *   sends one copy per registration. The session keeps one registration per event name on the
 *   wire (a reference count over subscribers and running streamed commands), so nobody gets
 *   an event twice.
 *
 * A request that times out while in flight leaves the stream out of step (its late answer would
 * be taken for the next request's), so a timeout resets the connection; reconnection then
 * restores every registration before any queued command runs.
 *
 * Event delivery never blocks the read loop: the socket callback only appends each event to
 * every matching subscriber's bounded queue; queues drain in later macrotasks, at most
 * `deliveryBatch` events per subscriber per turn, so socket reads interleave with slow
 * subscribers. A full queue drops (oldest by default) and counts the drop.
 */
import { Backoff } from '@roamwatch/core/backoff';
import { Observable, Subject } from 'rxjs';
import type { Subscriber } from 'rxjs';
import { encodePacket } from './codec.js';
import type { ViciInputMessage, ViciMessage, ViciPacket } from './codec.js';
import { ViciConnection } from './connection.js';
import type { ViciDisconnectReason } from './connection.js';
import { parseViciUri } from './connection.js';
import {
  DefaultViciUri,
  MaxFrameBytes,
  PktCmdRequest,
  PktCmdResponse,
  PktCmdUnknown,
  PktEvent,
  PktEventConfirm,
  PktEventRegister,
  PktEventUnknown,
  PktEventUnregister,
  packetTypeNames,
  ViciReadOnlyCommands,
} from './constants.js';
import {
  ViciCommandNotAllowedError,
  ViciCommandUnknownError,
  ViciConfigError,
  ViciConnectionError,
  ViciError,
  ViciEventUnknownError,
  ViciProtocolError,
  ViciSessionClosedError,
  ViciTimeoutError,
} from './errors.js';

export interface ViciReconnectOptions {
  /** Reconnect after an unexpected disconnect. Default true. */
  enabled?: boolean;
  /** First delay before reconnecting. Default 100 ms. */
  initialDelayMs?: number;
  /** Upper bound of the exponential backoff. Default 5000 ms. */
  maxDelayMs?: number;
  /** Backoff multiplier per failed attempt. Default 2. */
  factor?: number;
  /** Give up after this many failed attempts in a row (then the session is closed). Default Infinity. */
  maxAttempts?: number;
  /**
   * A connection must stay up this long before the next disconnect starts again from
   * initialDelayMs (a peer that accepts and then fails at once meets a growing delay).
   * Default max(1000, maxDelayMs).
   */
  resetAfterHealthyMs?: number;
}

export interface ViciSessionOptions {
  /** `unix:///path` or `tcp://host:port`. Default unix:///var/run/charon.vici. */
  uri?: string;
  /** Time a call may take from the call to its answer, queueing and reconnect waits included. Default 10000 ms. */
  commandTimeoutMs?: number;
  /** Time to establish the socket connection. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Largest segment accepted from charon. Default 512 KiB, charon's own limit. */
  maxFrameBytes?: number;
  /** Per-subscriber event queue length before drops start. Default 10000. */
  eventBufferSize?: number;
  /** Events handed to one subscriber per macrotask. Default 256. */
  deliveryBatch?: number;
  reconnect?: ViciReconnectOptions;
  /**
   * Commands this session may send. Default ViciReadOnlyCommands (what roamwatch needs);
   * 'any' for tests and tools that control charon on purpose. roamwatch's own code never
   * widens it (a unit test checks that).
   */
  allowedCommands?: readonly string[] | 'any';
}

/** An event as received: name, decoded message, receive time (ms since the epoch). */
export interface ViciEvent {
  name: string;
  message: ViciMessage;
  receivedAt: number;
}

export type ViciOverflowPolicy = 'drop-oldest' | 'drop-newest';

export interface ViciSubscribeOptions {
  /** Queue length for this subscriber. Default: the session's eventBufferSize. */
  bufferSize?: number;
  /** What a full queue drops. Default drop-oldest (keep the latest state). */
  overflow?: ViciOverflowPolicy;
}

/** Connection state changes, in order. `disconnected` always precedes `reconnected`. */
export type ViciConnectionEvent =
  | { type: 'connected'; uri: string }
  | { type: 'disconnected'; uri: string; reason: ViciDisconnectReason; error?: Error }
  | { type: 'reconnecting'; uri: string; attempt: number; delayMs: number; lastError?: Error }
  | { type: 'reconnected'; uri: string; attempts: number; downtimeMs: number; reregistered: string[] }
  | { type: 'reregister-failed'; uri: string; event: string; error: Error }
  | { type: 'events-dropped'; events: string[]; dropped: number; totalDropped: number }
  | { type: 'closed'; uri: string; reason: 'closed-by-client' | 'reconnect-gave-up' };

export interface ViciSessionCounters {
  /** Requests written (commands and (de)registrations). */
  requestsSent: number;
  eventsReceived: number;
  eventsDelivered: number;
  eventsDropped: number;
  disconnects: number;
  reconnects: number;
  timeouts: number;
  bytesReceived: number;
}

export interface ViciCallOptions {
  /** Overrides commandTimeoutMs for this call. */
  timeoutMs?: number;
}

type SessionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

interface OpBase {
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}
interface CommandOp extends OpBase {
  kind: 'command';
  command: string;
  frame: Buffer;
  streamEvent: string | undefined;
  collected: ViciMessage[];
  resolve(result: { response: ViciMessage; streamed: ViciMessage[] }): void;
  reject(err: Error): void;
}
/** Brings charon's registration for `event` in line with the reference count. */
interface SyncOp extends OpBase {
  kind: 'sync';
  event: string;
  sent: 'register' | 'unregister' | undefined;
  resolve(): void;
  reject(err: Error): void;
}
type Op = CommandOp | SyncOp;

interface EventSubscriber {
  names: ReadonlySet<string>;
  subscriber: Subscriber<ViciEvent>;
  queue: ViciEvent[];
  head: number;
  bufferSize: number;
  overflow: ViciOverflowPolicy;
  dropped: number;
  droppedSinceReport: number;
  scheduled: boolean;
  active: boolean;
}

const knownOptionKeys = new Set([
  'uri',
  'commandTimeoutMs',
  'connectTimeoutMs',
  'maxFrameBytes',
  'eventBufferSize',
  'deliveryBatch',
  'reconnect',
  'allowedCommands',
]);
const knownReconnectKeys = new Set(['enabled', 'initialDelayMs', 'maxDelayMs', 'factor', 'maxAttempts', 'resetAfterHealthyMs']);

function positive(name: string, v: unknown, integer: boolean): void {
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v) && v !== Infinity)) {
    throw new ViciConfigError(`vici option ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
}

interface ResolvedOptions {
  uri: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxFrameBytes: number;
  eventBufferSize: number;
  deliveryBatch: number;
  reconnect: Required<ViciReconnectOptions>;
  allowedCommands: ReadonlySet<string> | 'any';
}

/** Validates options up front (fail fast, exact messages); connecting is separate. */
export function resolveViciSessionOptions(options: ViciSessionOptions = {}): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!knownOptionKeys.has(key)) throw new ViciConfigError(`unknown vici option "${key}"`);
  }
  for (const key of Object.keys(options.reconnect ?? {})) {
    if (!knownReconnectKeys.has(key)) throw new ViciConfigError(`unknown vici option "reconnect.${key}"`);
  }
  const r: ResolvedOptions = {
    uri: options.uri ?? DefaultViciUri,
    commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    maxFrameBytes: options.maxFrameBytes ?? MaxFrameBytes,
    eventBufferSize: options.eventBufferSize ?? 10_000,
    deliveryBatch: options.deliveryBatch ?? 256,
    reconnect: {
      enabled: options.reconnect?.enabled ?? true,
      initialDelayMs: options.reconnect?.initialDelayMs ?? 100,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 5_000,
      factor: options.reconnect?.factor ?? 2,
      maxAttempts: options.reconnect?.maxAttempts ?? Infinity,
      resetAfterHealthyMs: options.reconnect?.resetAfterHealthyMs ?? Math.max(1000, options.reconnect?.maxDelayMs ?? 5_000),
    },
    allowedCommands: options.allowedCommands === 'any' ? 'any' : new Set(options.allowedCommands ?? ViciReadOnlyCommands),
  };
  parseViciUri(r.uri);
  positive('commandTimeoutMs', r.commandTimeoutMs, false);
  positive('connectTimeoutMs', r.connectTimeoutMs, false);
  positive('maxFrameBytes', r.maxFrameBytes, true);
  if (r.maxFrameBytes > MaxFrameBytes) throw new ViciConfigError(`vici option maxFrameBytes must be at most ${MaxFrameBytes}, got ${r.maxFrameBytes}`);
  positive('eventBufferSize', r.eventBufferSize, true);
  positive('deliveryBatch', r.deliveryBatch, true);
  if (typeof r.reconnect.enabled !== 'boolean') throw new ViciConfigError(`vici option reconnect.enabled must be a boolean, got ${String(r.reconnect.enabled)}`);
  positive('reconnect.initialDelayMs', r.reconnect.initialDelayMs, false);
  positive('reconnect.maxDelayMs', r.reconnect.maxDelayMs, false);
  positive('reconnect.maxAttempts', r.reconnect.maxAttempts, true);
  positive('reconnect.resetAfterHealthyMs', r.reconnect.resetAfterHealthyMs, false);
  if (r.reconnect.maxDelayMs < r.reconnect.initialDelayMs) {
    throw new ViciConfigError(`vici option reconnect.maxDelayMs (${r.reconnect.maxDelayMs}) must be >= reconnect.initialDelayMs (${r.reconnect.initialDelayMs})`);
  }
  if (typeof r.reconnect.factor !== 'number' || !(r.reconnect.factor >= 1)) {
    throw new ViciConfigError(`vici option reconnect.factor must be a number >= 1, got ${String(r.reconnect.factor)}`);
  }
  return r;
}

export class ViciSession {
  readonly options: ResolvedOptions;
  private state: SessionState = 'idle';
  private conn: ViciConnection | undefined;
  private readonly queue: Op[] = [];
  private inflight: Op | undefined;
  /** Wanted registrations: event name → number of users (subscribers + streamed commands). */
  private readonly refs = new Map<string, number>();
  /** Registrations confirmed by charon on the current connection. */
  private readonly registered = new Set<string>();
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly stateSubject = new Subject<ViciConnectionEvent>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private disconnectedAt = 0;
  /** Reconnect delays: grows per failed or short-lived connection, resets after a healthy one. */
  private readonly backoff: Backoff;
  private bytesFromClosedConnections = 0;
  private readonly counterValues: Omit<ViciSessionCounters, 'bytesReceived'> = {
    requestsSent: 0,
    eventsReceived: 0,
    eventsDelivered: 0,
    eventsDropped: 0,
    disconnects: 0,
    reconnects: 0,
    timeouts: 0,
  };

  /** Connection state changes (hot; subscribe before connect() to see `connected`). */
  readonly connectionEvents$: Observable<ViciConnectionEvent> = this.stateSubject.asObservable();

  /** Validates the options; throws ViciConfigError. Does not connect. */
  constructor(options: ViciSessionOptions = {}) {
    this.options = resolveViciSessionOptions(options);
    const r = this.options.reconnect;
    this.backoff = new Backoff({ minMs: r.initialDelayMs, maxMs: r.maxDelayMs, factor: r.factor, resetAfterHealthyMs: r.resetAfterHealthyMs });
  }

  get uri(): string {
    return this.options.uri;
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  get counters(): ViciSessionCounters {
    return { ...this.counterValues, bytesReceived: this.bytesFromClosedConnections + (this.conn?.bytesIn ?? 0) };
  }

  /**
   * Opens the first connection. Rejects with ViciConnectionError when charon is not reachable
   * (no automatic retry for the first connection: the caller decides). Later disconnects are
   * handled by reconnection.
   */
  async connect(): Promise<void> {
    if (this.state === 'closed') throw new ViciSessionClosedError('connect');
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    try {
      await this.openConnection();
    } catch (err) {
      if (this.state === 'connecting') this.state = 'idle';
      throw err;
    }
    if (this.state !== 'connecting') return; // closed meanwhile
    this.state = 'connected';
    this.backoff.succeeded();
    this.stateSubject.next({ type: 'connected', uri: this.uri });
    // Subscriptions made before connect() are registered now, ahead of queued commands.
    this.reregisterAll();
    this.pump();
  }

  /**
   * Sends a command and resolves with charon's response message. Rejects with
   * ViciCommandUnknownError (CMD_UNKNOWN), ViciTimeoutError, ViciConnectionError (the
   * connection broke while it was in flight: it may or may not have run) or
   * ViciSessionClosedError.
   */
  async call(command: string, message: ViciInputMessage = {}, options?: ViciCallOptions): Promise<ViciMessage> {
    const { response } = await this.enqueueCommand(command, message, undefined, options);
    return response;
  }

  /**
   * Runs a streamed command: registers `streamEvent`, sends the command, collects every
   * `streamEvent` event until the response, unregisters (in `finally`). Resolves with the
   * collected messages and the final response.
   */
  async callStreaming(
    command: string,
    streamEvent: string,
    message: ViciInputMessage = {},
    options?: ViciCallOptions,
  ): Promise<{ response: ViciMessage; streamed: ViciMessage[] }> {
    try {
      await this.acquire(streamEvent, options?.timeoutMs);
      return await this.enqueueCommand(command, message, streamEvent, options);
    } finally {
      this.release(streamEvent);
    }
  }

  /**
   * Events named `names`, as a cold Observable: subscribing registers with charon (once per
   * name, shared with other subscribers), unsubscribing unregisters when the last user goes.
   * The subscriber errors with ViciEventUnknownError if charon has no such event, and completes
   * when the session is closed. Registrations survive reconnects.
   */
  events(names: string | readonly string[], options: ViciSubscribeOptions = {}): Observable<ViciEvent> {
    const nameSet = new Set(typeof names === 'string' ? [names] : names);
    if (nameSet.size === 0) throw new ViciConfigError('events(): at least one event name is needed');
    for (const n of nameSet) {
      if (n.length === 0 || Buffer.byteLength(n) > 255) throw new ViciConfigError(`events(): invalid event name "${n}"`);
    }
    const bufferSize = options.bufferSize ?? this.options.eventBufferSize;
    positive('bufferSize', bufferSize, true);
    const overflow = options.overflow ?? 'drop-oldest';
    if (overflow !== 'drop-oldest' && overflow !== 'drop-newest') throw new ViciConfigError(`events(): overflow must be drop-oldest or drop-newest, got ${String(overflow)}`);
    return new Observable<ViciEvent>((subscriber) => {
      if (this.state === 'closed') {
        subscriber.error(new ViciSessionClosedError('events'));
        return undefined;
      }
      const sub: EventSubscriber = {
        names: nameSet,
        subscriber,
        queue: [],
        head: 0,
        bufferSize,
        overflow,
        dropped: 0,
        droppedSinceReport: 0,
        scheduled: false,
        active: true,
      };
      this.subscribers.add(sub);
      for (const name of nameSet) {
        this.acquire(name).catch((err: unknown) => {
          // A registration cut short by close() is not an error: close() completes subscribers.
          if (sub.active && this.state !== 'closed') subscriber.error(err);
        });
      }
      return () => {
        sub.active = false;
        this.subscribers.delete(sub);
        for (const name of nameSet) this.release(name);
      };
    });
  }

  /**
   * Closes the session: pending and queued calls reject with ViciSessionClosedError, event
   * subscribers complete, the socket is ended gracefully. Idempotent.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    await this.shutdown('closed-by-client');
  }

  // ------------------------------------------------------------------------------------
  // Internals

  private async shutdown(reason: 'closed-by-client' | 'reconnect-gave-up', lastError?: Error): Promise<void> {
    this.state = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const err =
      reason === 'closed-by-client' ? new ViciSessionClosedError('call') : new ViciConnectionError(this.uri, 'reconnect gave up', { cause: lastError });
    const pending = [...(this.inflight ? [this.inflight] : []), ...this.queue.splice(0)];
    this.inflight = undefined;
    for (const op of pending) this.settle(op, err);
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      this.bytesFromClosedConnections += conn.bytesIn;
      await conn.end();
    }
    for (const sub of [...this.subscribers]) {
      sub.active = false;
      if (reason === 'closed-by-client') sub.subscriber.complete();
      else sub.subscriber.error(err);
    }
    this.subscribers.clear();
    this.stateSubject.next({ type: 'closed', uri: this.uri, reason });
    this.stateSubject.complete();
  }

  private openConnection(): Promise<void> {
    return ViciConnection.open(
      { uri: this.uri, connectTimeoutMs: this.options.connectTimeoutMs, maxFrameBytes: this.options.maxFrameBytes },
      {
        onPacket: (p) => this.onPacket(p),
        onClose: (reason, error) => this.onConnectionClosed(reason, error),
      },
    ).then((conn) => {
      if (this.state === 'closed') {
        void conn.end();
        return;
      }
      this.conn = conn;
    });
  }

  private enqueueCommand(
    command: string,
    message: ViciInputMessage,
    streamEvent: string | undefined,
    options: ViciCallOptions | undefined,
  ): Promise<{ response: ViciMessage; streamed: ViciMessage[] }> {
    if (this.state === 'closed') return Promise.reject(new ViciSessionClosedError(command));
    const allowed = this.options.allowedCommands;
    if (allowed !== 'any' && !allowed.has(command)) return Promise.reject(new ViciCommandNotAllowedError(command, [...allowed]));
    // Encoding errors (limits) surface here, synchronously with the call.
    let frame: Buffer;
    try {
      frame = encodePacket({ type: PktCmdRequest, name: command, message }, { maxFrameBytes: this.options.maxFrameBytes });
    } catch (err) {
      return Promise.reject(err);
    }
    const timeoutMs = options?.timeoutMs ?? this.options.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const op: CommandOp = {
        kind: 'command',
        command,
        frame,
        streamEvent,
        collected: [],
        resolve,
        reject,
        deadline: Date.now() + timeoutMs,
        timer: undefined,
        done: false,
      };
      op.timer = setTimeout(() => this.onTimeout(op, timeoutMs), timeoutMs);
      this.queue.push(op);
      this.pump();
    });
  }

  private enqueueSync(event: string, timeoutMs: number, front: boolean): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ViciSessionClosedError(`register ${event}`));
    return new Promise((resolve, reject) => {
      const op: SyncOp = { kind: 'sync', event, sent: undefined, resolve, reject, deadline: Date.now() + timeoutMs, timer: undefined, done: false };
      op.timer = setTimeout(() => this.onTimeout(op, timeoutMs), timeoutMs);
      if (front) this.queue.unshift(op);
      else this.queue.push(op);
      this.pump();
    });
  }

  /** True while a (de)registration of `event` waits or is in flight. */
  private syncPending(event: string): boolean {
    return (this.inflight?.kind === 'sync' && this.inflight.event === event) || this.queue.some((op) => op.kind === 'sync' && op.event === event);
  }

  /**
   * Adds a user of `event` (synchronously) and resolves once charon confirmed the registration.
   * The caller must `release` once, whether this resolves or rejects.
   */
  private acquire(event: string, timeoutMs?: number): Promise<void> {
    this.refs.set(event, (this.refs.get(event) ?? 0) + 1);
    if (this.registered.has(event) && !this.syncPending(event)) return Promise.resolve();
    // Not connected (before connect(), or reconnecting): nothing to wait for now. Every wanted
    // event is registered when the connection comes up, ahead of queued commands, so no
    // timeout can fire for a registration that had no connection to go over; an
    // EVENT_UNKNOWN then errors the subscribers (reregisterAll).
    if (this.state !== 'connected') return Promise.resolve();
    return this.enqueueSync(event, timeoutMs ?? this.options.commandTimeoutMs, false);
  }

  /** Removes a user of `event`; unregisters when it was the last one. Never throws. */
  private release(event: string): void {
    const n = (this.refs.get(event) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(event, n);
      return;
    }
    this.refs.delete(event);
    if (this.state === 'closed') return;
    if (!this.registered.has(event) && !this.syncPending(event)) return;
    // An unregistration that fails (EVENT_UNKNOWN, disconnect) leaves nothing to clean up.
    this.enqueueSync(event, this.options.commandTimeoutMs, false).catch(() => undefined);
  }

  /** Sends the next queued request if none is in flight. */
  private pump(): void {
    while (!this.inflight && this.state === 'connected' && this.conn) {
      const op = this.queue.shift();
      if (!op) return;
      if (op.done) continue;
      if (op.kind === 'sync') {
        const want = (this.refs.get(op.event) ?? 0) > 0;
        const have = this.registered.has(op.event);
        if (want === have) {
          this.settle(op);
          continue;
        }
        op.sent = want ? 'register' : 'unregister';
        this.inflight = op;
        this.counterValues.requestsSent++;
        this.conn.send(encodePacket({ type: want ? PktEventRegister : PktEventUnregister, name: op.event }));
      } else {
        this.inflight = op;
        this.counterValues.requestsSent++;
        this.conn.send(op.frame);
      }
    }
  }

  private settle(op: Op, err?: Error, value?: { response: ViciMessage; streamed: ViciMessage[] }): void {
    if (op.done) return;
    op.done = true;
    if (op.timer) clearTimeout(op.timer);
    if (err) op.reject(err);
    else if (op.kind === 'command') op.resolve(value ?? { response: Object.create(null) as ViciMessage, streamed: op.collected });
    else op.resolve();
  }

  private onTimeout(op: Op, timeoutMs: number): void {
    if (op.done) return;
    this.counterValues.timeouts++;
    const what = op.kind === 'command' ? op.command : `${op.sent ?? 'register'} ${op.event}`;
    const err = new ViciTimeoutError(what, timeoutMs);
    if (this.inflight === op) {
      // The answer may still come and would be taken for the next request's: resynchronise by
      // dropping the connection. Reconnection restores registrations.
      this.settle(op, err);
      this.inflight = undefined;
      this.conn?.destroy('command-timeout', err);
    } else {
      const i = this.queue.indexOf(op);
      if (i >= 0) this.queue.splice(i, 1);
      this.settle(op, err);
    }
  }

  private onPacket(p: ViciPacket): void {
    if (p.type === PktEvent) {
      this.onEvent(p.name ?? '', p.message ?? (Object.create(null) as ViciMessage));
      return;
    }
    const op = this.inflight;
    const unexpected = (): void => {
      this.conn?.destroy('protocol-error', new ViciProtocolError(`unexpected ${packetTypeNames[p.type]} from charon with ${op ? `${op.kind} in flight` : 'no request in flight'}`));
    };
    switch (p.type) {
      case PktCmdResponse:
      case PktCmdUnknown:
        if (op?.kind !== 'command') return unexpected();
        this.inflight = undefined;
        if (p.type === PktCmdResponse) this.settle(op, undefined, { response: p.message ?? (Object.create(null) as ViciMessage), streamed: op.collected });
        else this.settle(op, new ViciCommandUnknownError(op.command));
        break;
      case PktEventConfirm:
      case PktEventUnknown:
        if (op?.kind !== 'sync') return unexpected();
        this.inflight = undefined;
        if (op.sent === 'register') {
          if (p.type === PktEventConfirm) {
            this.registered.add(op.event);
            this.settle(op);
          } else {
            this.settle(op, new ViciEventUnknownError(op.event, 'register'));
          }
        } else {
          // EVENT_UNKNOWN on unregister means charon had no registration: same end state.
          this.registered.delete(op.event);
          this.settle(op);
        }
        break;
      default:
        // charon never sends requests to clients.
        return unexpected();
    }
    this.pump();
  }

  private onEvent(name: string, message: ViciMessage): void {
    this.counterValues.eventsReceived++;
    const op = this.inflight;
    if (op?.kind === 'command' && op.streamEvent === name) op.collected.push(message);
    if (this.subscribers.size === 0) return;
    const event: ViciEvent = { name, message, receivedAt: Date.now() };
    for (const sub of this.subscribers) {
      if (!sub.active || !sub.names.has(name)) continue;
      const queued = sub.queue.length - sub.head;
      if (queued >= sub.bufferSize) {
        sub.dropped++;
        sub.droppedSinceReport++;
        this.counterValues.eventsDropped++;
        if (sub.overflow === 'drop-newest') continue;
        sub.head++;
      }
      sub.queue.push(event);
      if (!sub.scheduled) {
        sub.scheduled = true;
        setImmediate(() => this.drain(sub));
      }
    }
  }

  private drain(sub: EventSubscriber): void {
    sub.scheduled = false;
    if (!sub.active) return;
    if (sub.droppedSinceReport > 0) {
      const dropped = sub.droppedSinceReport;
      sub.droppedSinceReport = 0;
      this.stateSubject.next({ type: 'events-dropped', events: [...sub.names], dropped, totalDropped: sub.dropped });
    }
    let n = this.options.deliveryBatch;
    while (n-- > 0 && sub.head < sub.queue.length && sub.active) {
      const ev = sub.queue[sub.head]!;
      sub.head++;
      this.counterValues.eventsDelivered++;
      sub.subscriber.next(ev);
    }
    if (sub.head >= sub.queue.length) {
      sub.queue = [];
      sub.head = 0;
    } else {
      if (sub.head > 4096) {
        sub.queue = sub.queue.slice(sub.head);
        sub.head = 0;
      }
      if (sub.active && !sub.scheduled) {
        sub.scheduled = true;
        setImmediate(() => this.drain(sub));
      }
    }
  }

  private onConnectionClosed(reason: ViciDisconnectReason, error: Error | undefined): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) this.bytesFromClosedConnections += conn.bytesIn;
    this.registered.clear();
    if (this.state === 'closed' || reason === 'closed-by-client') return;
    this.counterValues.disconnects++;
    const err = new ViciConnectionError(this.uri, `connection lost (${reason})${error ? `: ${error.message}` : ''}`, { cause: error });
    const op = this.inflight;
    this.inflight = undefined;
    if (op) {
      // A command may or may not have run: tell the caller. A (de)registration is redone by
      // the re-registration after reconnecting, so it goes back to the queue.
      if (op.kind === 'command') this.settle(op, err);
      else {
        op.sent = undefined;
        this.queue.unshift(op);
      }
    }
    this.stateSubject.next({ type: 'disconnected', uri: this.uri, reason, ...(error ? { error } : {}) });
    if (!this.options.reconnect.enabled) {
      void this.shutdown('reconnect-gave-up', err);
      return;
    }
    this.state = 'reconnecting';
    this.disconnectedAt = Date.now();
    // No reset of the attempt counter here: a connection that failed soon after it was made
    // (garbage, an immediate close) counts as one more failed attempt (Backoff.succeeded).
    this.scheduleReconnect(undefined);
  }

  private scheduleReconnect(lastError: Error | undefined): void {
    const r = this.options.reconnect;
    const delayMs = this.backoff.fail();
    const attempt = this.backoff.attempts;
    if (attempt > r.maxAttempts) {
      void this.shutdown('reconnect-gave-up', lastError);
      return;
    }
    this.stateSubject.next({ type: 'reconnecting', uri: this.uri, attempt, delayMs, ...(lastError ? { lastError } : {}) });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'reconnecting') return;
      this.openConnection().then(
        () => this.onReconnected(attempt),
        (err: unknown) => {
          if (this.state === 'reconnecting') this.scheduleReconnect(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }, delayMs);
  }

  private onReconnected(attempts: number): void {
    if (this.state !== 'reconnecting' || !this.conn) return;
    this.state = 'connected';
    this.backoff.succeeded();
    this.counterValues.reconnects++;
    const downtimeMs = Date.now() - this.disconnectedAt;
    const names = this.reregisterAll();
    void Promise.allSettled(names.map((n) => n.done)).then(() => {
      this.stateSubject.next({ type: 'reconnected', uri: this.uri, attempts, downtimeMs, reregistered: names.map((n) => n.event) });
    });
    this.pump();
  }

  /** Queues a registration for every wanted event, ahead of everything else. */
  private reregisterAll(): { event: string; done: Promise<void> }[] {
    const out: { event: string; done: Promise<void> }[] = [];
    for (const event of [...this.refs.keys()].reverse()) {
      if (this.registered.has(event)) continue;
      const done = this.enqueueSync(event, this.options.commandTimeoutMs, true).catch((err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.stateSubject.next({ type: 'reregister-failed', uri: this.uri, event, error });
        if (err instanceof ViciError && err.code === 'event-unknown') {
          for (const sub of [...this.subscribers]) if (sub.active && sub.names.has(event)) sub.subscriber.error(err);
        }
      });
      out.unshift({ event, done });
    }
    return out;
  }
}
