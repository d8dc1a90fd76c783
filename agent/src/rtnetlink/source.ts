/**
 * The rtnetlink source: runs the rtnl-pipe helper (agent/native/rtnl-pipe.c), keeps the
 * Mirror equal to the kernel and emits normalized changes.
 *
 *   kernel ──netlink──▶ rtnl-pipe ──frames on a pipe──▶ FrameDecoder ─▶ parseDatagram ─▶ Mirror ─▶ 'change'
 *
 * Gaps: an OVERFLOW frame (ENOBUFS on the multicast socket), a TRUNCATED frame, an
 * `invalid` message, or a helper that exits all mean notifications were lost. The source
 * then re-dumps (on the helper's second socket), applies the notifications that arrived
 * during the dump on top of it, diffs the result against the mirror, emits the
 * differences (cause `resync`) and one `resync` report. Another gap during the dump
 * starts another round. See docs/rtnetlink.md.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Backoff } from '@roamwatch/core/backoff';
import { RoamwatchError } from '@roamwatch/core/errors';
import { FRAME, FrameDecoder, type Frame } from './frames.js';
import { Mirror, type MirrorCounts } from './mirror.js';
import { parseDatagram } from './parse.js';
import { NLM_F, type InvalidMessage, type RtnlMessage } from './schema.js';
import type { ResyncReport, StateChange } from './state.js';

/** Default location of the helper binary built by `npm run build:native -w agent`. */
export const DEFAULT_HELPER_PATH = fileURLToPath(new URL('../../native/build/rtnl-pipe', import.meta.url));

export interface RtnetlinkSourceOptions {
  /** Path of the rtnl-pipe binary. Default: agent/native/build/rtnl-pipe. */
  helperPath?: string;
  /** SO_RCVBUFFORCE size of the multicast socket, in bytes (the kernel doubles it). Default 32 MiB. */
  receiveBufferBytes?: number;
  /**
   * Run the helper in this named network namespace (`ip netns exec NAME`). Default: none,
   * the helper runs in the namespace of this process.
   */
  netns?: string;
  /**
   * Wait before restarting a helper that exited unexpectedly, in ms. Default 200. A helper that
   * keeps dying soon after its start waits longer each time (core's Backoff, up to 30 s; back to
   * this delay once a helper ran for 30 s).
   */
  restartDelayMs?: number;
  /** Emit a `change` (cause `resync`, op `added`) for every object of the initial dump. Default false. */
  emitInitialState?: boolean;
  /**
   * While gaps keep coming (a storm), wait between resyncs: 250 ms after the first resync,
   * doubling up to this many ms, so that back-to-back full dumps do not compete with the
   * storm itself. The source knows it is out of date meanwhile. Default 4000.
   */
  resyncBackoffMaxMs?: number;
}

/** The whole environment of the rtnl-pipe helper (and of `ip netns exec` in front of it). */
export const HELPER_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' });

/** Bad options, found before starting (not retriable). */
export class RtnetlinkConfigError extends RoamwatchError {
  override readonly name = 'RtnetlinkConfigError';
  constructor(message: string) {
    super(message, { code: 'RTNETLINK_CONFIG', retriable: false });
  }
}

/** The rtnl-pipe helper failed or reported a kernel error; the source restarts it and resyncs (retriable). */
export class RtnetlinkHelperError extends RoamwatchError {
  override readonly name = 'RtnetlinkHelperError';
  constructor(
    message: string,
    readonly errno?: number,
  ) {
    super(message, { code: 'RTNETLINK_HELPER', retriable: true, ...(errno !== undefined ? { context: { errno } } : {}) });
  }
}

export interface RtnetlinkStats {
  /** Notifications (messages) received from the multicast socket. */
  notifications: number;
  /** Messages received from dumps. */
  dumpMessages: number;
  /** Changes emitted (all causes). */
  changes: number;
  invalid: number;
  overflows: number;
  truncated: number;
  helperRestarts: number;
  resyncs: number;
  changesRecovered: number;
  /** Effective receive buffer of the multicast socket as the kernel reports it. */
  receiveBufferBytes: number;
}

export interface RtnetlinkSourceEvents {
  change: (c: StateChange) => void;
  resync: (r: ResyncReport) => void;
  invalid: (m: InvalidMessage) => void;
  /** A non-fatal problem (helper stderr, restart); the source keeps going. */
  warning: (e: Error) => void;
}

interface PendingDump {
  id: number;
  fresh: Mirror;
  buffered: RtnlMessage[];
  reason: ResyncReport['reason'];
  detectedAtMs: number;
  overflows: number;
  /** A gap or an interrupted dump during this dump: the result must be dumped again. */
  dirty: boolean;
  resolve: (r: ResyncReport) => void;
  initial: boolean;
  /** The helper sent DUMP_START: notifications from now on are newer than the dump request. */
  started: boolean;
}

type Listener<K extends keyof RtnetlinkSourceEvents> = RtnetlinkSourceEvents[K];

export class RtnetlinkSource {
  readonly mirror = new Mirror();
  readonly stats: RtnetlinkStats = {
    notifications: 0, dumpMessages: 0, changes: 0, invalid: 0, overflows: 0, truncated: 0,
    helperRestarts: 0, resyncs: 0, changesRecovered: 0, receiveBufferBytes: 0,
  };

  private readonly helperPath: string;
  private readonly rcvbuf: number;
  private readonly netns: string | undefined;
  private readonly restartDelayMs: number;
  private readonly emitInitialState: boolean;
  private readonly resyncBackoffMaxMs: number;
  private lastResyncDoneAtMs = 0;
  private backoffMs = 0;
  /** Resync delays while gaps keep coming (a storm); see gap(). */
  private readonly resyncBackoff: Backoff;
  /** Helper restart delays: grow while the helper keeps dying, reset after it ran a while. */
  private readonly restartBackoff: Backoff;
  /** A gap seen while waiting out the backoff: when, why, how many overflows. */
  private pendingGap: { reason: ResyncReport['reason']; detectedAtMs: number; overflows: number; timer: ReturnType<typeof setTimeout> } | undefined;
  private readonly listeners: { [K in keyof RtnetlinkSourceEvents]: Listener<K>[] } = {
    change: [], resync: [], invalid: [], warning: [],
  };
  private child: ChildProcessWithoutNullStreams | undefined;
  private decoder = new FrameDecoder();
  private dump: PendingDump | undefined;
  private queued: { reason: ResyncReport['reason']; detectedAtMs: number; waiters: ((r: ResyncReport) => void)[] } | undefined;
  private nextDumpId = 1;
  private stopping = false;
  private started = false;
  private readyWaiter: ((err?: Error) => void) | undefined;

  /** Validates options (throws RtnetlinkConfigError); start() connects. */
  constructor(opts: RtnetlinkSourceOptions = {}) {
    const {
      helperPath = DEFAULT_HELPER_PATH, receiveBufferBytes = 32 << 20, netns, restartDelayMs = 200, emitInitialState = false,
      resyncBackoffMaxMs = 4000,
    } = opts;
    const known = new Set(['helperPath', 'receiveBufferBytes', 'netns', 'restartDelayMs', 'emitInitialState', 'resyncBackoffMaxMs']);
    for (const k of Object.keys(opts)) if (!known.has(k)) throw new RtnetlinkConfigError(`unknown option ${JSON.stringify(k)}`);
    if (!Number.isInteger(receiveBufferBytes) || receiveBufferBytes < 4096 || receiveBufferBytes > 1 << 30) {
      throw new RtnetlinkConfigError(`receiveBufferBytes must be an integer in [4096, 2^30], got ${receiveBufferBytes}`);
    }
    if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw new RtnetlinkConfigError(`bad netns name ${JSON.stringify(netns)}`);
    if (!Number.isFinite(restartDelayMs) || restartDelayMs < 0) throw new RtnetlinkConfigError(`restartDelayMs must be >= 0, got ${restartDelayMs}`);
    this.helperPath = helperPath;
    this.rcvbuf = receiveBufferBytes;
    this.netns = netns;
    this.restartDelayMs = restartDelayMs;
    this.emitInitialState = emitInitialState;
    if (!Number.isFinite(resyncBackoffMaxMs) || resyncBackoffMaxMs < 0) throw new RtnetlinkConfigError(`resyncBackoffMaxMs must be >= 0, got ${resyncBackoffMaxMs}`);
    this.resyncBackoffMaxMs = resyncBackoffMaxMs;
    this.resyncBackoff = new Backoff({ minMs: Math.min(250, resyncBackoffMaxMs), maxMs: resyncBackoffMaxMs, jitter: 0 });
    this.restartBackoff = new Backoff({ minMs: restartDelayMs, maxMs: Math.max(restartDelayMs, 30_000), resetAfterHealthyMs: 30_000 });
  }

  on<K extends keyof RtnetlinkSourceEvents>(event: K, listener: Listener<K>): this {
    (this.listeners[event] as Listener<K>[]).push(listener);
    return this;
  }

  off<K extends keyof RtnetlinkSourceEvents>(event: K, listener: Listener<K>): this {
    const l = this.listeners[event] as Listener<K>[];
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
    return this;
  }

  counts(): MirrorCounts {
    return this.mirror.counts();
  }

  /** Process id of the rtnl-pipe helper while it runs (for CPU accounting). */
  get helperPid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the mirror is known to be out of date: a gap was seen and its resync has not completed. */
  get resyncPending(): boolean {
    return this.dump !== undefined || this.pendingGap !== undefined || this.queued !== undefined;
  }

  /** Starts the helper and resolves once the initial dump is in the mirror. */
  async start(): Promise<void> {
    if (this.started) throw new RtnetlinkConfigError('already started');
    if (!existsSync(this.helperPath)) {
      throw new RtnetlinkConfigError(`rtnl-pipe helper not found at ${this.helperPath}: run \`npm run build:native -w agent\``);
    }
    this.started = true;
    this.stopping = false;
    await this.spawnHelper();
    await this.requestDump('initial', Date.now(), true);
  }

  /** Stops the helper. The mirror keeps its last state. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pendingGap !== undefined) clearTimeout(this.pendingGap.timer);
    this.pendingGap = undefined;
    const c = this.child;
    this.child = undefined;
    if (c === undefined) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.stdin.end();
      setTimeout(() => c.kill('SIGKILL'), 1000).unref();
    });
  }

  /** Forces a re-dump and diff (reason `requested`). */
  resync(): Promise<ResyncReport> {
    return this.requestDump('requested', Date.now(), false);
  }

  // ------------------------------------------------------------------ helper process

  private spawnHelper(): Promise<void> {
    const args = ['--rcvbuf', String(this.rcvbuf)];
    const [cmd, argv] = this.netns === undefined
      ? [this.helperPath, args]
      : ['ip', ['netns', 'exec', this.netns, this.helperPath, ...args]];
    // A minimal environment: the helper needs nothing of the agent's, and the agent's may hold
    // secrets (ROAMWATCH_KAFKA_SASL_PASSWORD…) that would show in /proc/<helper>/environ.
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: HELPER_ENV });
    this.child = child;
    this.decoder = new FrameDecoder();
    const ready = new Promise<void>((resolve, reject) => {
      this.readyWaiter = (err) => (err ? reject(err) : resolve());
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) return;
      try {
        this.decoder.push(chunk, (f) => this.onFrame(f));
      } catch (e) {
        this.warn(e as Error);
        child.kill('SIGKILL'); // exit handler restarts and resyncs
      }
    });
    child.stderr.on('data', (d: Buffer) => this.warn(new RtnetlinkHelperError(`rtnl-pipe: ${d.toString('utf8').trim()}`)));
    child.on('error', (e) => {
      this.readyWaiter?.(e);
      this.readyWaiter = undefined;
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      const err = new RtnetlinkHelperError(`rtnl-pipe exited (code ${code}, signal ${signal})`);
      if (this.readyWaiter) {
        this.readyWaiter(err);
        this.readyWaiter = undefined;
      }
      if (this.stopping) return;
      this.warn(err);
      this.stats.helperRestarts++;
      const detectedAtMs = Date.now();
      const pending = this.dump;
      this.dump = undefined;
      const delay = this.restartBackoff.fail();
      setTimeout(() => {
        if (this.stopping) return;
        this.spawnHelper()
          .then(() => this.requestDump('helper-restart', detectedAtMs, false))
          .then((r) => pending?.resolve(r))
          .catch((e: Error) => this.warn(e));
      }, delay).unref?.();
    });
    return ready;
  }

  private warn(e: Error): void {
    for (const l of this.listeners.warning) l(e);
  }

  private emitChange(c: StateChange): void {
    this.stats.changes++;
    for (const l of this.listeners.change) l(c);
  }

  // ------------------------------------------------------------------ frames

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FRAME.EVENT:
        parseDatagram(f.datagram, this.onNotification);
        break;
      case FRAME.DUMP: {
        const d = this.dump;
        if (d === undefined || d.id !== f.dumpId) break;
        parseDatagram(f.datagram, (m) => this.onDumpMessage(d, m));
        break;
      }
      case FRAME.DUMP_START:
        if (this.dump !== undefined && this.dump.id === f.dumpId) this.dump.started = true;
        break;
      case FRAME.DUMP_DONE:
        if (this.dump !== undefined && this.dump.id === f.dumpId) this.finishDump(this.dump);
        break;
      case FRAME.OVERFLOW:
        this.stats.overflows++;
        this.gap('overflow');
        break;
      case FRAME.TRUNCATED:
        this.stats.truncated++;
        this.gap('truncated');
        break;
      case FRAME.READY:
        this.stats.receiveBufferBytes = f.rcvbufBytes;
        this.restartBackoff.succeeded();
        this.readyWaiter?.();
        this.readyWaiter = undefined;
        break;
      case FRAME.ERROR:
        this.warn(new RtnetlinkHelperError(`rtnl-pipe: ${f.message}`, f.errno));
        break;
    }
  }

  private readonly onNotification = (m: RtnlMessage): void => {
    this.stats.notifications++;
    if (m.kind === 'invalid') {
      this.stats.invalid++;
      for (const l of this.listeners.invalid) l(m);
      this.gap('invalid');
      return;
    }
    if (this.dump !== undefined && this.dump.started) {
      this.dump.buffered.push(m);
      return;
    }
    // Before DUMP_START: older than the dump (possibly from before the gap); it is a real
    // change, so it updates the mirror and is emitted; the diff corrects what follows.
    this.apply(this.mirror, m, true);
  };

  private apply(target: Mirror, m: RtnlMessage, emit: boolean): void {
    switch (m.kind) {
      case 'route': {
        const c = target.applyRoute(m, emit ? 'event' : 'resync');
        if (c && emit) this.emitChange(c);
        break;
      }
      case 'address': {
        const cs = target.applyAddress(m, emit ? 'event' : 'resync');
        if (emit) for (const c of cs) this.emitChange(c);
        break;
      }
      case 'link': {
        const cs = target.applyLink(m, emit ? 'event' : 'resync');
        if (emit) for (const c of cs) this.emitChange(c);
        break;
      }
      case 'rule': {
        const c = target.applyRule(m, emit ? 'event' : 'resync');
        if (c && emit) this.emitChange(c);
        break;
      }
      default:
        break;
    }
  }

  private onDumpMessage(d: PendingDump, m: RtnlMessage): void {
    this.stats.dumpMessages++;
    if (m.kind === 'invalid') {
      this.stats.invalid++;
      for (const l of this.listeners.invalid) l(m);
      d.dirty = true;
      return;
    }
    if (m.kind === 'done') {
      if ((m.flags & NLM_F.DUMP_INTR) !== 0) d.dirty = true;
      return;
    }
    if (m.kind === 'error') {
      if (m.errno !== 0) {
        this.warn(new RtnetlinkHelperError(`dump failed with errno ${-m.errno}`, -m.errno));
        d.dirty = true;
      }
      return;
    }
    if (m.kind === 'route' || m.kind === 'address' || m.kind === 'link' || m.kind === 'rule') {
      // NLM_F_DUMP_INTR: the kernel's state changed under the dump; it may be inconsistent.
      if ((m.nlFlags & NLM_F.DUMP_INTR) !== 0) d.dirty = true;
    }
    this.apply(d.fresh, m, false);
  }

  // ------------------------------------------------------------------ gaps and dumps

  private gap(reason: ResyncReport['reason'], overflows = reason === 'overflow' ? 1 : 0, detectedAtMs = Date.now()): void {
    if (this.dump !== undefined) {
      // A gap before DUMP_START is covered by the pending dump; one after it is not.
      if (this.dump.started) this.dump.dirty = true;
      this.dump.overflows += overflows;
      return;
    }
    if (this.pendingGap !== undefined) {
      this.pendingGap.overflows += overflows;
      return;
    }
    const now = Date.now();
    const sinceLast = now - this.lastResyncDoneAtMs;
    // Gaps right after a resync mean a storm is going on: back off (250 ms, doubling up to
    // resyncBackoffMaxMs). After a calm spell (no gap for max(1 s, twice the last delay)) the
    // next gap is resynced at once and the delays start again from the bottom.
    if (sinceLast < Math.max(1000, 2 * this.backoffMs)) this.backoffMs = this.resyncBackoff.fail();
    else {
      this.resyncBackoff.reset();
      this.backoffMs = 0;
    }
    const delay = Math.max(0, this.backoffMs - sinceLast);
    const start = (): void => {
      const g = this.pendingGap;
      this.pendingGap = undefined;
      if (g === undefined || this.stopping) return;
      void this.requestDump(g.reason, g.detectedAtMs, false, g.overflows);
    };
    this.pendingGap = { reason, detectedAtMs, overflows, timer: setTimeout(start, delay) };
  }

  private requestDump(reason: ResyncReport['reason'], detectedAtMs: number, initial: boolean, overflows = 0): Promise<ResyncReport> {
    return new Promise((resolve) => {
      if (this.dump !== undefined) {
        // One more round after the current one covers this request too.
        if (this.queued === undefined) this.queued = { reason, detectedAtMs, waiters: [] };
        this.queued.waiters.push(resolve);
        this.dump.dirty = true;
        return;
      }
      this.beginDump(reason, detectedAtMs, initial, resolve, overflows);
    });
  }

  private beginDump(reason: ResyncReport['reason'], detectedAtMs: number, initial: boolean, resolve: (r: ResyncReport) => void, overflows = 0): void {
    const id = this.nextDumpId++;
    this.dump = { id, fresh: new Mirror({ changes: false }), buffered: [], reason, detectedAtMs, overflows, dirty: false, resolve, initial, started: false };
    this.child?.stdin.write(`dump ${id}\n`);
  }

  private finishDump(d: PendingDump): void {
    this.dump = undefined;
    // Notifications that arrived while dumping are newer than (or as new as) what the dump
    // saw for the same object; applying them in order converges on the current state.
    for (const m of d.buffered) this.apply(d.fresh, m, false);
    const changes = this.mirror.adopt(d.fresh);
    if (!d.initial || this.emitInitialState) for (const c of changes) this.emitChange(c);
    const report: ResyncReport = {
      kind: 'resync', reason: d.reason, detectedAtMs: d.detectedAtMs, completedAtMs: Date.now(),
      changesRecovered: d.initial ? 0 : changes.length, overflows: d.overflows,
    };
    if (!d.initial) {
      this.stats.resyncs++;
      this.stats.changesRecovered += changes.length;
      for (const l of this.listeners.resync) l(report);
    }
    this.lastResyncDoneAtMs = Date.now();
    d.resolve(report);
    const q = this.queued;
    if (q !== undefined) {
      // Explicit requests (resync(), helper restart) go at once.
      this.queued = undefined;
      this.beginDump(q.reason, q.detectedAtMs, false, (r) => { for (const w of q.waiters) w(r); });
    } else if (d.dirty) {
      // Lost messages after DUMP_START: the result may be stale already. Dump again (with backoff).
      this.gap(d.overflows > 0 ? 'overflow' : 'invalid', 0);
    }
  }
}
