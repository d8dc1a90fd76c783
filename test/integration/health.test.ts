/**
 * `roamwatch health` against the real servers (scripts/servers.sh): a processor with the test
 * Kafka and InfluxDB writes a readiness report whose checks pass (consumer group joined, InfluxDB
 * answers /health, lag bounded), one whose InfluxDB is unreachable is reported unhealthy naming
 * InfluxDB, and a stopped processor leaves no report (so a healthcheck cannot pass on a stale
 * one). The agent's report names a VICI socket it cannot reach. docs/deploy.md "Healthchecks".
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './agent-harness.js';
import { servers, uniqueRunId } from '../setup/servers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-health-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): ChildProcess {
  const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ROAMWATCH_LOG_LEVEL: 'warn' } });
  children.push(c);
  return c;
}
const health = (file: string) => {
  const r = spawnSync(process.execPath, [CLI, 'health', '--file', file], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** Polls `roamwatch health` until `want` says yes (the report is rewritten every 200 ms). */
async function until(file: string, want: (r: ReturnType<typeof health>) => boolean, timeoutMs = 60_000): Promise<ReturnType<typeof health>> {
  const deadline = Date.now() + timeoutMs;
  let r = health(file);
  while (!want(r)) {
    if (Date.now() > deadline) throw new Error(`roamwatch health never got there; last: exit ${r.code}\n${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
    r = health(file);
  }
  return r;
}

function processorArgs(run: string, influxUrl: string, file: string): string[] {
  return [
    'processor', '--brokers', servers.kafka.brokers.join(','), '--topic', `${run}.events`, '--group', `${run}-group`, '--findings-topic', 'none',
    '--influx-url', influxUrl, '--influx-bucket', servers.influx.bucket, '--influx-org', servers.influx.org,
    '--health-file', file, '--health-interval-ms', '200',
  ];
}

describe('roamwatch health', () => {
  it('when the processor has joined its group and InfluxDB answers, then health exits 0 with every check ok; after SIGTERM the report is gone (exit 2)', async () => {
    const run = uniqueRunId('health');
    const file = path.join(dir, 'processor.json');
    const p = start(processorArgs(run, servers.influx.url, file));
    const r = await until(file, (x) => x.code === 0);
    expect(r.stdout).toMatch(/^ok {3}processor \(pid \d+\) reported/m);
    expect(r.stdout).toMatch(new RegExp(`^ok {3}kafka: in consumer group ${run}-group$`, 'm'));
    expect(r.stdout).toMatch(/^ok {3}influx: http:\/\/127\.0\.0\.1:\d+ answers \/health/m);
    expect(r.stdout).toMatch(/^ok {3}lag: \d+ records behind \(limit 500000\)$/m);
    p.kill('SIGTERM');
    await new Promise((res) => p.once('exit', res));
    expect(fs.existsSync(file)).toBe(false);
    expect(health(file).code).toBe(2);
  }, 90_000);

  it('when InfluxDB is unreachable, then health exits 1 and names it', async () => {
    const run = uniqueRunId('health-noinflux');
    const file = path.join(dir, 'processor-noinflux.json');
    // a port nobody listens on: taken from the kernel, then released
    const port = await new Promise<number>((res) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => res(p));
      });
    });
    start(processorArgs(run, `http://127.0.0.1:${port}`, file));
    const r = await until(file, (x) => x.code === 1 && /FAIL influx/.test(x.stdout));
    expect(r.stdout).toMatch(new RegExp(`^FAIL influx: http://127\\.0\\.0\\.1:${port} unreachable: ECONNREFUSED$`, 'm'));
  }, 90_000);

  it('when the agent cannot reach charon\'s VICI socket, then health exits 1 naming vici', async () => {
    const file = path.join(dir, 'agent.json');
    start(['agent', '--sink', 'stdout', '--spool-dir', path.join(dir, 'spool'), '--host-id', 'health-gw', '--rtnetlink-enabled', 'false', '--path-enabled', 'false',
      '--vici', `unix://${path.join(dir, 'no-charon.vici')}`, '--health-file', file, '--health-interval-ms', '200']);
    const r = await until(file, (x) => x.code === 1 && /FAIL vici/.test(x.stdout));
    expect(r.stdout).toMatch(/^FAIL vici: (connecting|disconnected)/m);
    expect(r.stdout).toMatch(/^ok {3}rtnetlink: disabled$/m);
  }, 60_000);
});
