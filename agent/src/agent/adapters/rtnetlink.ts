/**
 * rtnetlink source adapter: the kernel's route, address, link and rule changes as envelopes.
 *
 * The RtnetlinkSource (agent/src/rtnetlink) runs the rtnl-pipe helper, keeps a mirror of the
 * kernel's state and emits normalized changes; `toContractEvent` turns each into its
 * route.* / address.* / link.* / rule.* payload and every resync (start-up, overflow, helper
 * restart) becomes a `netlink.resync` event after the changes it recovered. The initial dump
 * is not emitted change by change (the resync event carries its counts; the path analyzer
 * reads the mirror itself).
 *
 * If the helper cannot start (missing binary, no CAP_NET_ADMIN for the receive buffer), the
 * adapter reports `disconnected` with the error and retries every `retryMs`.
 */
import { errorMessage } from '@roamwatch/core';
import type { Address, Link, Logger, Route } from '@roamwatch/core';
import { RtnetlinkSource } from '../../rtnetlink/source.js';
import type { RtnetlinkSourceOptions } from '../../rtnetlink/source.js';
import { addressPayload, linkPayload, resyncPayload, routePayload, toContractEvent } from './rtnetlink-contract.js';
import type { ResyncReport, StateChange } from '../../rtnetlink/state.js';
import type { SourceAdapter, SourceContext, SourceReport, SourceState } from '../sources.js';

export interface RtnetlinkAdapterOptions {
  receiveBufferBytes: number;
  /** Overrides for the source (helper path, netns) — tests and benchmarks. */
  source?: Omit<RtnetlinkSourceOptions, 'receiveBufferBytes'>;
  retryMs?: number;
}

export class RtnetlinkAdapter implements SourceAdapter {
  readonly name = 'rtnetlink' as const;
  source: RtnetlinkSource;
  private readonly sourceOptions: RtnetlinkSourceOptions;
  private ctx: SourceContext | undefined;
  private log: Logger | undefined;
  private state: SourceState = 'disconnected';
  private lastError: string | undefined;
  private recovered: StateChange[] = [];
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retryMs: number;

  constructor(o: RtnetlinkAdapterOptions) {
    this.sourceOptions = { ...o.source, receiveBufferBytes: o.receiveBufferBytes };
    this.retryMs = o.retryMs ?? 5000;
    this.source = this.makeSource();
  }

  /** A RtnetlinkSource starts once: each start attempt gets a fresh one. */
  private makeSource(): RtnetlinkSource {
    const src = new RtnetlinkSource(this.sourceOptions);
    this.source = src;
    const names = (i: number) => this.source.mirror.link(i)?.ifname;
    src.on('change', (c) => {
      if (c.cause === 'resync') this.recovered.push(c);
      const ctx = this.ctx;
      if (!ctx) return;
      if (c.kind === 'route' && ctx.emitRoute) {
        // Lazy: in a storm most route changes are only counted (route.summary), never built.
        const r = (c.new ?? c.old)!;
        const kind = c.op === 'added' ? 'route.added' : c.op === 'removed' ? 'route.removed' : 'route.replaced';
        ctx.emitRoute(kind, r.family, r.table, r.dst, () => toContractEvent(c, names).payload as never);
        return;
      }
      const ev = toContractEvent(c, names);
      ctx.emit(ev.kind, ev.payload as never);
    });
    src.on('resync', (r: ResyncReport) => {
      const recovered = this.recovered;
      this.recovered = [];
      if (r.reason !== 'initial') this.log?.warn('rtnetlink resync', { reason: r.reason, changesRecovered: r.changesRecovered, overflows: r.overflows });
      this.ctx?.emit('netlink.resync', resyncPayload(r, recovered, src.counts()));
    });
    src.on('invalid', (m) => this.log?.warn('invalid netlink message (a resync follows)', { message: String((m as { reason?: unknown }).reason ?? 'invalid') }));
    src.on('warning', (e) => {
      this.lastError = e.message;
      this.log?.warn('rtnetlink', { warning: e.message });
    });
    return src;
  }

  start(ctx: SourceContext): void {
    this.ctx = ctx;
    this.log = ctx.logger;
    void this.tryStart();
  }

  private async tryStart(): Promise<void> {
    if (this.stopped) return;
    this.state = 'connecting';
    const t0 = Date.now();
    try {
      await this.source.start();
      this.state = 'connected';
      this.lastError = undefined;
      // The source reports later resyncs itself; the initial dump is announced here.
      const report: ResyncReport = { kind: 'resync', reason: 'initial', detectedAtMs: t0, completedAtMs: Date.now(), changesRecovered: 0, overflows: 0 };
      this.ctx?.emit('netlink.resync', resyncPayload(report, [], this.source.counts()));
    } catch (err) {
      this.state = 'disconnected';
      this.lastError = errorMessage(err);
      this.log?.error('rtnetlink source failed to start; retrying', { error: this.lastError, retryMs: this.retryMs });
      await this.source.stop().catch(() => undefined);
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => {
          this.makeSource();
          void this.tryStart();
        }, this.retryMs);
      }
    }
  }

  /** The mirrored routing state as contract types (the path analyzer's input). */
  netState(): { routes: Route[]; addresses: Address[]; links: Link[] } {
    const m = this.source.mirror;
    const names = (i: number) => m.link(i)?.ifname;
    return {
      routes: [...m.routeStates()].map((r) => routePayload(r, names)),
      addresses: [...m.addressStates()].map((a) => addressPayload(a, names)),
      links: [...m.linkStates()].map((l) => linkPayload(l, names)),
    };
  }

  /** The mirror's route digest (route.summary events carry it). */
  routeDigest(): { routes: number; hash: string } {
    return this.source.mirror.digest();
  }

  report(): SourceReport {
    return { state: this.state, resyncs: this.source.stats.resyncs, ...(this.lastError && this.state !== 'connected' ? { lastError: this.lastError } : {}) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.source.stop();
    this.state = 'disconnected';
  }
}
