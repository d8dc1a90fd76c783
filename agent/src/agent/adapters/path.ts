/**
 * Path analyzer adapter: `path.verdict` events, one per IKE_SA whose verdict changed (or was
 * computed for the first time).
 *
 * It observes the envelope stream: SA state comes from vici.sa-snapshot and the SA events,
 * configured connections from the snapshot, and any routing change (route.*, address.*,
 * link.*, rule.*, netlink.resync) schedules a re-analysis of every SA `debounceMs` later
 * (charon itself coalesces roam events for 100 ms), throttled so that the analyzer uses at most
 * ~10 % of a core. During a route storm the agent coalesces (route.summary events): the
 * analysis then waits for the storm's final summary. The routing state is the rtnetlink mirror, read
 * directly. Analysis runs in a timer callback, never inside a source's read loop.
 */
import { errorMessage } from '@roamwatch/core';
import type { Connection, IkeSa, Logger, PathVerdict, Remediation, RoamwatchEvent, Verdict } from '@roamwatch/core';
import { analyze, toPathVerdict, type PathAnalysis } from '../../path/analyze.js';
import { ipEquals } from '../../path/ip.js';
import { DEFAULT_REMEDIATION_DIR, RemediationJournal } from '../../path/remediate/journal.js';
import { loadCharonSettings } from '../../path/settings.js';
import { readSwanctlMobike } from '../../path/evaluate.js';
import type { CharonSettings } from '../../path/settings.js';
import type { NetState } from '../../path/lookup.js';
import type { SourceAdapter, SourceContext, SourceReport } from '../sources.js';

/** The analyzer waits this many times its last run's duration before running again. */
const DUTY_FACTOR = 9;

export interface PathAdapterOptions {
  strongswanConf: string;
  /** swanctl.conf: each connection's `mobike` setting is the analyzer's best MOBIKE evidence. */
  swanctlConf?: string;
  /** The routing state (the rtnetlink adapter's mirror). */
  netState: () => NetState;
  debounceMs?: number;
  /** `roamwatch doctor --apply`'s journal, read on an at-risk → valid transition to say who fixed it (default /var/lib/roamwatch/remediation). */
  remediationDir?: string;
}

export class PathAdapter implements SourceAdapter {
  readonly name = 'path' as const;
  private readonly o: PathAdapterOptions;
  private ctx: SourceContext | undefined;
  private log: Logger | undefined;
  private settings: CharonSettings | undefined;
  private readonly sas = new Map<string, IkeSa>();
  private conns = new Map<string, Connection>();
  private charonVersion: string | undefined;
  /** The charon version the settings were resolved for. */
  private settingsVersion: string | undefined;
  private readonly verdicts = new Map<string, Verdict>();
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private stopped = false;
  private nextAllowedAtMs = 0;
  /** A route storm is in progress (a route.summary that is not final): analysis waits for its end. */
  private inStorm = false;
  /** mobike per connection from swanctl.conf (re-read at each SA snapshot: configs get reloaded). */
  private mobike = new Map<string, boolean>();
  /** Why swanctl.conf could not be read last time (logged once per distinct reason). */
  private swanctlProblem: string | undefined;

  constructor(o: PathAdapterOptions) {
    this.o = o;
  }

  start(ctx: SourceContext): void {
    this.ctx = ctx;
    this.log = ctx.logger;
    this.loadSettings();
    this.readMobike();
  }

  /**
   * Reads strongswan.conf with the defaults of the charon version VICI reported (until it
   * did, the analyzer's default version): some defaults depend on it (make_before_break is
   * yes since 6.0), so the settings are read again when the version becomes known or changes.
   */
  private loadSettings(): void {
    const log = this.log;
    const version = this.charonVersion ? { charonVersion: this.charonVersion } : {};
    try {
      this.settings = loadCharonSettings({ path: this.o.strongswanConf, ...version });
      for (const w of this.settings.warnings) log?.warn('strongswan.conf', { warning: w });
    } catch (err) {
      this.lastError = errorMessage(err);
      log?.error('cannot read strongswan.conf; path verdicts use charon defaults', { file: this.o.strongswanConf, error: this.lastError });
      this.settings = loadCharonSettings({ path: '/nonexistent/strongswan.conf', ...version });
    }
    this.settingsVersion = this.charonVersion;
  }

  private readMobike(): void {
    const file = this.o.swanctlConf;
    if (!file) return;
    try {
      this.mobike = readSwanctlMobike(file);
      this.swanctlProblem = undefined;
    } catch (err) {
      this.lastError = errorMessage(err);
      this.mobike = new Map();
      // Re-read at every snapshot: say it once, and again only when the reason changes.
      const missing = (err as { code?: unknown }).code === 'ENOENT';
      const problem = missing ? 'missing' : this.lastError;
      if (problem === this.swanctlProblem) return;
      this.swanctlProblem = problem;
      if (missing) {
        this.log?.warn(`${file} does not exist: each connection's mobike setting is unknown, so MOBIKE stays unknown unless the ports tell (set --swanctl-conf or path.swanctlConf)`, { file });
      } else {
        this.log?.warn('cannot read swanctl.conf; MOBIKE stays unknown unless the ports tell', { file, error: this.lastError });
      }
    }
  }

  observe(ev: RoamwatchEvent): void {
    switch (ev.kind) {
      case 'vici.sa-snapshot':
        this.sas.clear();
        for (const s of ev.payload.ikeSas) this.sas.set(s.uniqueId, s);
        this.conns = new Map(ev.payload.connections.map((c) => [c.name, c]));
        this.readMobike();
        if (ev.payload.charonVersion) this.charonVersion = /(\d+\.\d+\.\d+)/.exec(ev.payload.charonVersion)?.[1];
        if (this.ctx && this.charonVersion !== this.settingsVersion) this.loadSettings();
        for (const id of [...this.verdicts.keys()]) if (!this.sas.has(id)) this.verdicts.delete(id);
        this.schedule();
        break;
      case 'vici.ike-updown':
        if (ev.payload.up) this.sas.set(ev.payload.ikeSa.uniqueId, ev.payload.ikeSa);
        else {
          this.sas.delete(ev.payload.ikeSa.uniqueId);
          this.verdicts.delete(ev.payload.ikeSa.uniqueId);
        }
        this.schedule();
        break;
      case 'vici.ike-rekey':
        this.sas.delete(ev.payload.old.uniqueId);
        this.verdicts.delete(ev.payload.old.uniqueId);
        this.sas.set(ev.payload.new.uniqueId, ev.payload.new);
        this.schedule();
        break;
      case 'vici.ike-update':
        this.sas.set(ev.payload.ikeSa.uniqueId, {
          ...ev.payload.ikeSa,
          ...(ev.payload.newLocalHost ? { localHost: ev.payload.newLocalHost } : {}),
          ...(ev.payload.newRemoteHost ? { remoteHost: ev.payload.newRemoteHost } : {}),
        });
        this.schedule();
        break;
      case 'route.summary':
        // A route storm (coalesced by the agent): the routing state is in flux and re-analysing
        // every SA against a table of up to a million changing routes costs what the storm
        // budget cannot spare; the analysis waits for the storm's final summary.
        this.inStorm = !ev.payload.final;
        if (this.inStorm && this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
        if (!this.inStorm) this.schedule();
        break;
      default:
        if (ev.source === 'rtnetlink') this.schedule();
    }
  }

  private schedule(): void {
    if (this.timer || this.stopped || this.inStorm || this.sas.size === 0) return;
    // Debounced, and throttled to a duty cycle: after an analysis that took d ms the next one
    // waits at least DUTY_FACTOR × d, so a route storm (tens of thousands of routes, every SA
    // re-checked against all of them) costs the analyzer at most ~1/(1+DUTY_FACTOR) of a core.
    const delay = Math.max(this.o.debounceMs ?? 150, this.nextAllowedAtMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const t0 = Date.now();
      this.run();
      this.nextAllowedAtMs = Date.now() + (Date.now() - t0) * DUTY_FACTOR;
    }, delay);
  }

  private run(): void {
    const ctx = this.ctx;
    if (!ctx || !this.settings || this.stopped) return;
    let net: NetState;
    try {
      net = this.o.netState();
    } catch (err) {
      this.lastError = errorMessage(err);
      return;
    }
    for (const [id, sa] of this.sas) {
      try {
        const a = analyze(net, sa, this.conns.get(sa.name), this.settings, this.charonVersion, { mobikeConfigured: this.mobike.get(sa.name) });
        const prev = this.verdicts.get(id);
        if (prev === a.verdict) continue;
        this.verdicts.set(id, a.verdict);
        const v: PathVerdict = toPathVerdict(a, prev);
        if (prev === 'at-risk' && a.verdict === 'valid') v.remediation = this.remediation(a);
        ctx.emit('path.verdict', v);
      } catch (err) {
        this.lastError = errorMessage(err);
        this.log?.warn('path analysis failed for an IKE_SA', { ikeSa: sa.name, uniqueId: id, error: this.lastError });
      }
    }
  }

  /**
   * Who made an at-risk SA valid: a change of `roamwatch doctor --apply` still in place for
   * the same local and remote address (its journal entry), or someone else (by hand, a
   * network configuration reload, a routing daemon).
   */
  private remediation(a: PathAnalysis): Remediation {
    const fix = (a.route ?? a.reasonCode).slice(0, 1024);
    try {
      const entry = new RemediationJournal({ dir: this.o.remediationDir ?? DEFAULT_REMEDIATION_DIR })
        .active()
        .reverse()
        .find((e) => ipEquals(e.sa.localHost, a.localHost) && ipEquals(e.sa.remoteHost, a.remoteHost));
      return entry ? { fix, appliedBy: 'roamwatch', journalId: entry.id } : { fix, appliedBy: 'by-hand' };
    } catch (err) {
      this.log?.warn('cannot read the remediation journal', { dir: this.o.remediationDir ?? DEFAULT_REMEDIATION_DIR, error: errorMessage(err) });
      return { fix, appliedBy: 'unknown' };
    }
  }

  report(): SourceReport {
    return { state: 'connected', ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
