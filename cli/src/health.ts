/**
 * Readiness of a running `roamwatch agent` or `roamwatch processor`, for container healthchecks
 * and supervisors (docs/deploy.md "Healthchecks"). The process writes a small JSON status file
 * every `health.intervalMs` (`health.file`, written atomically: temp file + rename); `roamwatch
 * health` reads it and exits 0 when the file is fresh and every check passed, 1 otherwise,
 * printing one line per check. A process that hangs stops writing, so a stale file is unhealthy
 * too: liveness comes with readiness.
 *
 * What is checked (each a pure function of what the process knows; the edges do the I/O):
 *   processor: kafka   the consumer is in its group (joined, not crashed)
 *              influx  InfluxDB answers /health and the points sink is not failing
 *              lag     the consumer's offset lag is within health.maxOffsetLag
 *   agent:     vici, rtnetlink  connected (or disabled in the configuration)
 *              sink    the sink is ok: Kafka acknowledges, and the oldest unsent event is younger
 *                      than kafka.degradedLagMs (degraded and down are unhealthy)
 *              spool   the disk takes writes (not holding events in memory because it is full)
 */
import fs from 'node:fs';
import path from 'node:path';

export interface HealthCheck {
  name: string;
  ok: boolean;
  /** One line for the operator: what was seen, and on failure why. */
  detail: string;
}

export interface HealthReport {
  component: 'agent' | 'processor';
  pid: number;
  /** Wall-clock time the report was written (ms since the epoch). */
  timeMs: number;
  /** The writer's interval: a reader allows a few of them before it calls the file stale. */
  intervalMs: number;
  checks: HealthCheck[];
}

export interface HealthVerdict {
  healthy: boolean;
  lines: string[];
}

/** Age beyond which a report is stale: three intervals (at least 15 s), unless told otherwise. */
export function staleAfterMs(report: Pick<HealthReport, 'intervalMs'>, maxAgeMs?: number): number {
  return maxAgeMs ?? Math.max(15_000, 3 * report.intervalMs);
}

export function evaluateHealth(report: HealthReport, nowMs: number, maxAgeMs?: number): HealthVerdict {
  const ageMs = Math.max(0, nowMs - report.timeMs);
  const limit = staleAfterMs(report, maxAgeMs);
  const fresh = ageMs <= limit;
  const lines = [`${fresh ? 'ok  ' : 'FAIL'} ${report.component} (pid ${report.pid}) reported ${(ageMs / 1000).toFixed(1)} s ago${fresh ? '' : `: stale (limit ${(limit / 1000).toFixed(0)} s): the process is gone or hangs`}`];
  for (const c of report.checks) lines.push(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return { healthy: fresh && report.checks.length > 0 && report.checks.every((c) => c.ok), lines };
}

export function parseHealthReport(text: string, file: string): HealthReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const r = v as Partial<HealthReport>;
  if (
    !r ||
    (r.component !== 'agent' && r.component !== 'processor') ||
    typeof r.timeMs !== 'number' ||
    typeof r.intervalMs !== 'number' ||
    typeof r.pid !== 'number' ||
    !Array.isArray(r.checks) ||
    !r.checks.every((c) => c && typeof c.name === 'string' && typeof c.ok === 'boolean' && typeof c.detail === 'string')
  ) {
    throw new Error(`${file}: not a roamwatch health report`);
  }
  return r as HealthReport;
}

/** Writes the report atomically (a reader never sees half a file). */
export function writeHealthFile(file: string, report: HealthReport): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(report)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/**
 * Runs `collect` every intervalMs (and once at once) and writes its checks to `file`; errors of
 * `collect` become a failed check, errors writing are logged once per kind. Returns stop().
 */
export function startHealthWriter(opts: {
  file: string;
  component: HealthReport['component'];
  intervalMs: number;
  collect: () => Promise<HealthCheck[]> | HealthCheck[];
  onWriteError: (err: unknown) => void;
}): () => void {
  let stopped = false;
  let lastWriteError = '';
  const once = async (): Promise<void> => {
    let checks: HealthCheck[];
    try {
      checks = await opts.collect();
    } catch (err) {
      checks = [{ name: 'health', ok: false, detail: `collecting the checks failed: ${(err as Error).message}` }];
    }
    if (stopped) return;
    try {
      writeHealthFile(opts.file, { component: opts.component, pid: process.pid, timeMs: Date.now(), intervalMs: opts.intervalMs, checks });
      lastWriteError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== lastWriteError) opts.onWriteError(err);
      lastWriteError = msg;
    }
  };
  void once();
  const timer = setInterval(() => void once(), opts.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    // A stopped process is not ready: its last report must not look fresh to the next check.
    fs.rmSync(opts.file, { force: true });
  };
}

/** GET <url>/health of InfluxDB 2.x (also served by 1.8), within timeoutMs. */
export async function influxReachable(url: string, token: string | undefined, timeoutMs = 3000): Promise<HealthCheck> {
  const target = `${url.replace(/\/+$/, '')}/health`;
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), ...(token ? { headers: { Authorization: `Token ${token}` } } : {}) });
    if (res.ok) return { name: 'influx', ok: true, detail: `${new URL(url).origin} answers /health (${res.status})` };
    return { name: 'influx', ok: false, detail: `${new URL(url).origin} /health answered ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { name: 'influx', ok: false, detail: `${new URL(url).origin} unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message}` };
  }
}

