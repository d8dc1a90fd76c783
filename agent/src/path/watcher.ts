/**
 * Re-evaluates every IKE_SA's path verdict whenever the routing state, the SAs or the
 * connections change, and emits a change when a verdict (or its reason, consequence,
 * route or addresses) differs from the last one emitted for that SA. The agent turns the
 * emissions into `path.verdict` events (toPathVerdict()).
 *
 * Updates are coalesced for `debounceMs` (default 100 ms, charon's own ROAM_DELAY): a
 * route storm costs one evaluation, not one per route. Evaluations never overlap; an
 * update during one schedules another.
 */
import type { Connection, IkeSa, PathVerdict, Verdict } from '@roamwatch/core';
import type { Observable} from 'rxjs';
import { Subject } from 'rxjs';
import { toPathVerdict, type PathAnalysis } from './analyze.js';
import { analyzeAll, type KernelLookupFn } from './evaluate.js';
import type { KernelRouteAnswer, NetState } from './lookup.js';
import type { CharonSettings } from './settings.js';

export interface PathVerdictChange {
  analysis: PathAnalysis;
  /** The core event payload, with `previous` set when this SA had a verdict before. */
  verdict: PathVerdict;
}

export interface PathWatcherOptions {
  settings: CharonSettings;
  charonVersion?: string | undefined;
  mobike?: ReadonlyMap<string, boolean> | undefined;
  kernelLookup?: KernelLookupFn | undefined;
  /** Coalescing window in ms (default 100). 0 evaluates on the next macrotask. */
  debounceMs?: number;
  /** Called when an evaluation throws (default: rethrown on the verdicts stream). */
  onError?: (err: unknown) => void;
}

function signature(a: PathAnalysis): string {
  return JSON.stringify([a.verdict, a.reasonCode, a.consequence, a.route, a.localHost, a.remoteHost, a.fixes.map((f) => f.command)]);
}

export class PathWatcher {
  private net: NetState = { routes: [], addresses: [], links: [] };
  private sas: readonly IkeSa[] = [];
  private conns: readonly Connection[] = [];
  private readonly last = new Map<string, { sig: string; verdict: Verdict; analysis: PathAnalysis }>();
  private readonly subject = new Subject<PathVerdictChange>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  private kernelAnswers = new Map<string, KernelRouteAnswer>();
  private settings: CharonSettings;

  /** Verdict changes (and each SA's first verdict). */
  readonly verdicts$: Observable<PathVerdictChange> = this.subject.asObservable();

  constructor(private readonly opts: PathWatcherOptions) {
    this.settings = opts.settings;
  }

  /** Replaces the routing state (a snapshot of the mirror). */
  updateNet(state: NetState): void {
    this.net = state;
    // kernel answers depend on the routing state: forget them
    this.kernelAnswers = new Map();
    this.schedule();
  }

  /** Replaces the IKE_SAs (list-sas) and, when given, the connections (list-conns). */
  updateSas(sas: readonly IkeSa[], connections?: readonly Connection[]): void {
    this.sas = sas;
    if (connections) this.conns = connections;
    this.schedule();
  }

  updateSettings(settings: CharonSettings): void {
    this.settings = settings;
    this.schedule();
  }

  /** The latest analysis of every known SA. */
  current(): PathAnalysis[] {
    return [...this.last.values()].map((v) => v.analysis);
  }

  /** Evaluates now (skipping the debounce) and resolves when done. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.dirty = true;
    }
    while (this.running || this.dirty) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.subject.complete();
  }

  private schedule(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, this.opts.debounceMs ?? 100);
  }

  private start(): void {
    if (this.running || !this.dirty || this.closed) return;
    this.dirty = false;
    this.running = this.evaluate()
      .catch((err: unknown) => {
        if (this.opts.onError) this.opts.onError(err);
        else this.subject.error(err);
      })
      .finally(() => {
        this.running = undefined;
        if (this.dirty) this.schedule();
      });
  }

  private async evaluate(): Promise<void> {
    const analyses = await analyzeAll({
      state: this.net,
      ikeSas: this.sas,
      connections: this.conns,
      settings: this.settings,
      charonVersion: this.opts.charonVersion,
      mobike: this.opts.mobike,
      kernelLookup: this.opts.kernelLookup,
      kernelAnswers: this.kernelAnswers,
    });
    const seen = new Set<string>();
    for (const a of analyses) {
      const key = a.uniqueId;
      seen.add(key);
      const sig = signature(a);
      const prev = this.last.get(key);
      this.last.set(key, { sig, verdict: a.verdict, analysis: a });
      if (prev?.sig === sig || this.closed) continue;
      this.subject.next({ analysis: a, verdict: toPathVerdict(a, prev?.verdict) });
    }
    for (const k of [...this.last.keys()]) if (!seen.has(k)) this.last.delete(k);
  }
}
