// `roamwatch replay --incidents` and `roamwatch incidents` without a server: the grouping is
// deterministic (the same recording replayed twice gives the same incident, byte for byte), and
// usage errors exit 2 naming what is wrong.
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  try {
    const code = await main(['node', 'roamwatch', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** The recorded charon 5.9.8 spurious-reauth scenario, as three gateways 300 ms apart (one upstream route change). */
function fleetRecording(): string {
  const lines = readFileSync(fileURLToPath(new URL('../../test/fixtures/scenarios/bug-unrelated-route.jsonl', import.meta.url)), 'utf8').split('\n').filter(Boolean);
  const events = ['gw-1', 'gw-2', 'gw-3'].flatMap((host, k) =>
    lines.map((l) => {
      // ids stay (UUIDv7; the processor dedupes per host)
      const e = JSON.parse(l) as { id: string; host: string; timeUs: number };
      return { ...e, host, timeUs: e.timeUs + k * 300_000 };
    }),
  );
  events.sort((a, b) => a.timeUs - b.timeUs);
  const file = join(mkdtempSync(join(tmpdir(), 'rw-replay-inc-')), 'fleet.jsonl');
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return file;
}

describe('roamwatch replay --incidents', () => {
  it('when a recording with one route change on three gateways is replayed twice, then both runs print the same single incident', async () => {
    const file = fleetRecording();
    const a = await run(['replay', file, '--incidents', '--format', 'json', '--no-progress']);
    const b = await run(['replay', file, '--incidents', '--format', 'json', '--no-progress']);
    expect(a.code, a.stderr).toBe(0);
    const incidents = a.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; hosts: number; cause: { target: string } }).filter((x) => x.type === 'incident');
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ hosts: 3, cause: { target: '192.0.2.0/24' } });
    expect(b.stdout).toBe(a.stdout);
    expect(a.stderr).toContain('1 incidents');
  });
});

describe('roamwatch incidents (usage)', () => {
  it('when no action, an unknown one, or show without an id is given, then it exits 2 saying so', async () => {
    const flags = ['--influx-url', 'http://127.0.0.1:1', '--influx-bucket', 'b'];
    expect(await run(['incidents', ...flags])).toMatchObject({ code: 2, stderr: expect.stringMatching(/say list or show ID/) });
    expect(await run(['incidents', 'delete', ...flags])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown action 'delete'/) });
    expect(await run(['incidents', 'show', ...flags])).toMatchObject({ code: 2, stderr: expect.stringMatching(/show needs an incident id/) });
    expect(await run(['incidents', 'list', 'x', ...flags])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unexpected argument 'x'/) });
  });
  it('when InfluxDB is not configured or a bad --since is given, then it exits 2 naming the key', async () => {
    expect(await run(['incidents', 'list'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/influx\.url/) });
    expect(await run(['incidents', 'list', '--since', 'yesterday', '--influx-url', 'http://127.0.0.1:1', '--influx-bucket', 'b'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/since/) });
  });
  it('when InfluxDB cannot be reached, then it exits 2 with the masked URL', async () => {
    const r = await run(['incidents', 'list', '--influx-url', 'http://127.0.0.1:1', '--influx-bucket', 'b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/reading InfluxDB at http:\/\/127\.0\.0\.1:1 failed/);
  });
});
