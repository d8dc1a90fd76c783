import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateHealth, parseHealthReport, startHealthWriter, writeHealthFile } from './health.js';
import type { HealthReport } from './health.js';
import { agentHealthChecks } from './commands/agent.js';
import { run } from './commands/health.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-health-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const T = 1_800_000_000_000;
const report = (over: Partial<HealthReport> = {}): HealthReport => ({
  component: 'processor',
  pid: 42,
  timeMs: T,
  intervalMs: 10_000,
  checks: [
    { name: 'kafka', ok: true, detail: 'in consumer group g' },
    { name: 'influx', ok: true, detail: 'answers' },
  ],
  ...over,
});

describe('readiness report', () => {
  it('when fresh and every check passed, then healthy, one line per check', () => {
    const v = evaluateHealth(report(), T + 5_000);
    expect(v.healthy).toBe(true);
    expect(v.lines).toEqual(['ok   processor (pid 42) reported 5.0 s ago', 'ok   kafka: in consumer group g', 'ok   influx: answers']);
  });

  it('when a check failed, then unhealthy and the line says which and why', () => {
    const v = evaluateHealth(report({ checks: [{ name: 'influx', ok: false, detail: 'http://influxdb:8086 unreachable: ECONNREFUSED' }] }), T);
    expect(v.healthy).toBe(false);
    expect(v.lines[1]).toBe('FAIL influx: http://influxdb:8086 unreachable: ECONNREFUSED');
  });

  it('when older than three intervals (the writer hangs or died), then unhealthy as stale; --max-age-s overrides', () => {
    expect(evaluateHealth(report(), T + 30_000).healthy).toBe(true);
    const v = evaluateHealth(report(), T + 31_000);
    expect(v.healthy).toBe(false);
    expect(v.lines[0]).toMatch(/stale \(limit 30 s\): the process is gone or hangs/);
    expect(evaluateHealth(report(), T + 31_000, 60_000).healthy).toBe(true);
  });

  it('when the file is not a report, then parsing names the file', () => {
    expect(() => parseHealthReport('{', 'h.json')).toThrow(/^h\.json: not JSON/);
    expect(() => parseHealthReport('{"component":"x"}', 'h.json')).toThrow('h.json: not a roamwatch health report');
    expect(parseHealthReport(JSON.stringify(report()), 'h.json')).toEqual(report());
  });

  it('when written, then atomically (no temp file left) and read back equal; the writer removes it on stop', async () => {
    const f = path.join(dir, 'a.json');
    writeHealthFile(f, report());
    expect(fs.readdirSync(dir)).toEqual(['a.json']);
    const w = path.join(dir, 'w.json');
    const stop = startHealthWriter({ file: w, component: 'agent', intervalMs: 1000, collect: () => [{ name: 'vici', ok: true, detail: 'connected' }], onWriteError: () => undefined });
    await new Promise((r) => setTimeout(r, 50));
    expect(parseHealthReport(fs.readFileSync(w, 'utf8'), w)).toMatchObject({ component: 'agent', pid: process.pid, checks: [{ name: 'vici', ok: true }] });
    stop();
    expect(fs.existsSync(w)).toBe(false);
  });

  it('when `roamwatch health` reads a healthy, an unhealthy and no report, then it exits 0, 1 and 2', async () => {
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.json');
    writeHealthFile(good, report({ timeMs: Date.now() }));
    writeHealthFile(bad, report({ timeMs: Date.now(), checks: [{ name: 'lag', ok: false, detail: '900000 records behind (limit 500000)' }] }));
    const out = (chunk: string | Uint8Array) => (String(chunk), true);
    const o = process.stdout.write;
    const e = process.stderr.write;
    process.stdout.write = out as typeof process.stdout.write;
    process.stderr.write = out as typeof process.stderr.write;
    try {
      expect(await run({ file: good })).toBe(0);
      expect(await run({ file: bad })).toBe(1);
      expect(await run({ file: path.join(dir, 'none.json') })).toBe(2);
    } finally {
      process.stdout.write = o;
      process.stderr.write = e;
    }
  });
});

describe('agent readiness checks', () => {
  const status = {
    agentVersion: '0.1.0',
    uptimeS: 10,
    sources: { vici: { state: 'connected' as const }, rtnetlink: { state: 'connected' as const } },
    sink: { kind: 'kafka', state: 'ok' as const },
    spool: { bytes: 100, events: 1, limitBytes: 1000, droppedEvents: 0 },
    eventsEmitted: 1,
    eventsSent: 1,
    eventsDropped: 0,
    lagMs: 12,
  };
  it('when the sources are connected (or disabled) and the sink is ok, then every check passes', () => {
    expect(agentHealthChecks(status).every((c) => c.ok)).toBe(true);
    expect(agentHealthChecks({ ...status, sources: { ...status.sources, vici: { state: 'disabled' } } }).every((c) => c.ok)).toBe(true);
  });
  it('when VICI is disconnected, Kafka degraded and the disk full, then those checks fail with the reason', () => {
    const checks = agentHealthChecks({
      ...status,
      sources: { ...status.sources, vici: { state: 'disconnected', lastError: 'connect EACCES /var/run/charon.vici' } },
      sink: { kind: 'kafka', state: 'degraded', lastError: 'Connection timeout' },
      lagMs: 45_000,
      spool: { ...status.spool, holding: true, heldBytes: 2048 },
    });
    expect(Object.fromEntries(checks.map((c) => [c.name, c.ok]))).toEqual({ vici: false, rtnetlink: true, sink: false, spool: false });
    expect(checks[0]!.detail).toBe('disconnected: connect EACCES /var/run/charon.vici');
    expect(checks[2]!.detail).toBe('kafka degraded, oldest unsent event 45000 ms old: Connection timeout');
  });
});
