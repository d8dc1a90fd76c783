/**
 * The one retry/backoff policy of roamwatch: every reconnect and resend loop (VICI session and
 * adapter, rtnetlink resync, the agent's spooled sink, the processor's sinks and subscription)
 * takes its delays from a `Backoff`.
 *
 * - Exponential: the n-th consecutive failure waits `minMs · factor^(n-1)`, capped at `maxMs`.
 * - Jitter ("equal jitter"): the delay is drawn uniformly from [d·(1-jitter), d], so a fleet of
 *   agents that lost the same broker does not reconnect in lock step, and the delay never falls
 *   below half of the exponential value (jitter ≤ 0.5 by default), so it still grows.
 * - Reset only after health: `succeeded()` does not reset the attempt counter at once. It
 *   remembers when the healthy period began; the counter goes back to zero only if the next
 *   failure comes `resetAfterHealthyMs` or later after that. A peer that accepts a connection and
 *   then fails it at once (garbage on a VICI socket, a broker that drops every request) therefore
 *   meets a growing delay instead of a fixed minimum one.
 * - `sleep(ms, signal)` ends early when the AbortSignal fires (shutdown, flush).
 *
 * The clock and the random source are injectable so that tests check the sequence of delays
 * without waiting for them.
 */

export interface BackoffOptions {
  /** First delay (ms). */
  minMs: number;
  /** Cap on any delay (ms). */
  maxMs: number;
  /** Growth per consecutive failure (default 2). */
  factor?: number;
  /** Fraction of the delay that is randomised, 0…1 (default 0.5; 0 = no jitter). */
  jitter?: number;
  /**
   * How long an attempt must have been healthy (ms since `succeeded()`) before the next failure
   * starts again from `minMs` (default: `maxMs`, at least 1000).
   */
  resetAfterHealthyMs?: number;
  /** Clock (ms), default Date.now. */
  now?: () => number;
  /** Random source in [0, 1), default Math.random. */
  random?: () => number;
}

export class Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly resetAfterHealthyMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private failures = 0;
  private healthySinceMs: number | undefined;

  constructor(o: BackoffOptions) {
    if (!(o.minMs >= 0) || !(o.maxMs >= o.minMs)) throw new RangeError(`backoff: need 0 <= minMs <= maxMs (got ${o.minMs}, ${o.maxMs})`);
    const jitter = o.jitter ?? 0.5;
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff: jitter must be within 0…1 (got ${jitter})`);
    const factor = o.factor ?? 2;
    if (!(factor >= 1)) throw new RangeError(`backoff: factor must be >= 1 (got ${factor})`);
    this.minMs = o.minMs;
    this.maxMs = o.maxMs;
    this.factor = factor;
    this.jitter = jitter;
    this.resetAfterHealthyMs = o.resetAfterHealthyMs ?? Math.max(1000, o.maxMs);
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  /** Consecutive failures counted so far (0 after a long enough healthy period). */
  get attempts(): number {
    return this.failures;
  }

  /**
   * Records a failure and returns how long to wait before the next attempt (ms). If the attempt
   * before had been healthy for `resetAfterHealthyMs`, the count starts again from the minimum.
   */
  fail(): number {
    if (this.healthySinceMs !== undefined && this.now() - this.healthySinceMs >= this.resetAfterHealthyMs) this.failures = 0;
    this.healthySinceMs = undefined;
    this.failures += 1;
    const exp = Math.min(this.maxMs, this.minMs * this.factor ** (this.failures - 1));
    const d = exp * (1 - this.jitter * this.random());
    return Math.max(0, Math.round(d));
  }

  /** Records a success (connected, batch delivered). The counter resets only once it has lasted. */
  succeeded(): void {
    if (this.healthySinceMs === undefined) this.healthySinceMs = this.now();
    if (this.failures > 0 && this.now() - this.healthySinceMs >= this.resetAfterHealthyMs) this.failures = 0;
  }

  /** Forgets every failure at once (a new start, not a recovery). */
  reset(): void {
    this.failures = 0;
    this.healthySinceMs = undefined;
  }
}

/**
 * Waits `ms`, or less if `signal` aborts (then it resolves, it does not reject: the caller checks
 * its own state). The timer keeps the process alive like any retry would (a CLI awaiting a sink
 * that retries must not exit under it); abort it to stop waiting.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether an error says retrying can help: `retriable` when it carries one, else `fallback`. */
export function isRetriable(err: unknown, fallback = true): boolean {
  if (err && typeof err === 'object' && 'retriable' in err && typeof (err as { retriable: unknown }).retriable === 'boolean') {
    return (err as { retriable: boolean }).retriable;
  }
  return fallback;
}
