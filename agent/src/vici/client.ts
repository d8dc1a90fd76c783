/**
 * ViciClient: the typed API roamwatch uses, on top of ViciSession. One method per command
 * roamwatch needs (version, stats, list-sas, list-conns; initiate/terminate/rekey for tests
 * and tools) and a typed event stream. Commands that answer `success = no` reject with
 * ViciCommandFailedError carrying charon's errmsg.
 */
import { map } from 'rxjs';
import type { Observable } from 'rxjs';
import type { ViciInputMessage, ViciMessage } from './codec.js';
import { ViciCommandFailedError } from './errors.js';
import { ViciSession } from './session.js';
import type { ViciConnectionEvent, ViciEvent, ViciSessionCounters, ViciSessionOptions, ViciSubscribeOptions } from './session.js';
import { parseConn, parseIkeSa, parseStats, parseVersion, toTypedEvent } from './types.js';
import type { Conn, IkeSa, Stats, TypedViciEvent, TypedViciEventName, VersionInfo } from './types.js';

export interface ListSasFilter {
  /** Only IKE_SAs of this connection name. */
  ike?: string;
  /** Only the IKE_SA with this unique id. */
  ikeId?: number;
  /** Do not wait for IKE_SAs that are busy (charon's `noblock`). */
  noblock?: boolean;
  timeoutMs?: number;
}

export interface InitiateOptions {
  child: string;
  ike?: string;
  /** charon's own timeout; 0 waits until done. Default 10000 ms. */
  timeoutMs?: number;
  initLimits?: boolean;
}

export interface TerminateOptions {
  ike?: string;
  child?: string;
  ikeId?: number;
  childId?: number;
  /** Delete without waiting for the peer (charon's `force`). */
  force?: boolean;
  /** charon's own timeout; default 10000 ms. */
  timeoutMs?: number;
}

export interface RekeyOptions {
  ike?: string;
  child?: string;
  ikeId?: number;
  childId?: number;
  /** Reauthenticate instead of rekeying (IKE_SAs only). */
  reauth?: boolean;
}

export interface CommandResult {
  /** How many SAs matched (terminate, rekey). */
  matches: number | undefined;
  terminated: number | undefined;
  raw: ViciMessage;
}

function checkSuccess(command: string, res: ViciMessage): CommandResult {
  if (res['success'] !== 'yes') throw new ViciCommandFailedError(command, typeof res['errmsg'] === 'string' ? res['errmsg'] : undefined);
  const n = (k: string): number | undefined => (typeof res[k] === 'string' ? Number(res[k]) : undefined);
  return { matches: n('matches'), terminated: n('terminated'), raw: res };
}

/** Margin between charon's own timeout and how long we wait for its answer. */
const replyMarginMs = 5000;

export class ViciClient {
  readonly session: ViciSession;

  /** Validates options (ViciConfigError); does not connect. */
  constructor(options: ViciSessionOptions = {}) {
    this.session = new ViciSession(options);
  }

  get connectionEvents$(): Observable<ViciConnectionEvent> {
    return this.session.connectionEvents$;
  }

  get counters(): ViciSessionCounters {
    return this.session.counters;
  }

  connect(): Promise<void> {
    return this.session.connect();
  }

  close(): Promise<void> {
    return this.session.close();
  }

  async version(): Promise<VersionInfo> {
    return parseVersion(await this.session.call('version'));
  }

  async stats(): Promise<Stats> {
    return parseStats(await this.session.call('stats'));
  }

  /** All IKE_SAs with their CHILD_SAs (streamed list-sa events). */
  async listSas(filter: ListSasFilter = {}): Promise<IkeSa[]> {
    const req: ViciInputMessage = { ike: filter.ike, 'ike-id': filter.ikeId, noblock: filter.noblock ? 'yes' : undefined };
    const { streamed } = await this.session.callStreaming('list-sas', 'list-sa', req, filter.timeoutMs !== undefined ? { timeoutMs: filter.timeoutMs } : undefined);
    const out: IkeSa[] = [];
    // One IKE_SA per event in practice; tolerate several sections per event.
    for (const m of streamed) for (const [name, body] of Object.entries(m)) if (typeof body === 'object' && !Array.isArray(body)) out.push(parseIkeSa(name, body, 'list-sa'));
    return out;
  }

  /** Loaded connections (streamed list-conn events). */
  async listConns(filter: { ike?: string; timeoutMs?: number } = {}): Promise<Conn[]> {
    const { streamed } = await this.session.callStreaming('list-conns', 'list-conn', { ike: filter.ike }, filter.timeoutMs !== undefined ? { timeoutMs: filter.timeoutMs } : undefined);
    const out: Conn[] = [];
    for (const m of streamed) for (const [name, body] of Object.entries(m)) if (typeof body === 'object' && !Array.isArray(body)) out.push(parseConn(name, body));
    return out;
  }

  async initiate(opts: InitiateOptions): Promise<CommandResult> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const res = await this.session.call(
      'initiate',
      { child: opts.child, ike: opts.ike, timeout: timeoutMs, 'init-limits': opts.initLimits },
      { timeoutMs: (timeoutMs <= 0 ? 60_000 : timeoutMs) + replyMarginMs },
    );
    return checkSuccess('initiate', res);
  }

  async terminate(opts: TerminateOptions): Promise<CommandResult> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const res = await this.session.call(
      'terminate',
      { ike: opts.ike, child: opts.child, 'ike-id': opts.ikeId, 'child-id': opts.childId, force: opts.force ? 'yes' : undefined, timeout: timeoutMs },
      { timeoutMs: (timeoutMs <= 0 ? 60_000 : timeoutMs) + replyMarginMs },
    );
    return checkSuccess('terminate', res);
  }

  async rekey(opts: RekeyOptions): Promise<CommandResult> {
    const res = await this.session.call('rekey', { ike: opts.ike, child: opts.child, 'ike-id': opts.ikeId, 'child-id': opts.childId, reauth: opts.reauth ? 'yes' : undefined });
    return checkSuccess('rekey', res);
  }

  /** Raw events (see ViciSession.events). */
  rawEvents(names: string | readonly string[], options?: ViciSubscribeOptions): Observable<ViciEvent> {
    return this.session.events(names, options);
  }

  /** Typed events; a malformed payload arrives as `{ type: 'invalid' }`, the stream goes on. */
  events(names: TypedViciEventName | readonly TypedViciEventName[], options?: ViciSubscribeOptions): Observable<TypedViciEvent> {
    return this.session.events(names, options).pipe(map((e) => toTypedEvent(e.name, e.message, e.receivedAt)));
  }
}
