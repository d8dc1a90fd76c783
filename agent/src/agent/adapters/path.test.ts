import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '@roamwatch/core';
import type { EventKind, PathVerdict, RoamwatchEvent } from '@roamwatch/core';
import { gateway, route, sa, conn } from '../../path/fixtures.js';
import { PathAdapter } from './path.js';

afterEach(() => {
  vi.useRealTimers();
});

function snapshot(charonVersion: string): RoamwatchEvent {
  return {
    v: 1, id: '00000000-0000-7000-8000-000000000001', host: 'gw', seq: 1, timeUs: 1, source: 'vici', kind: 'vici.sa-snapshot',
    payload: { reason: 'connect', ikeSas: [sa()], connections: [conn()], charonVersion },
  } as RoamwatchEvent;
}

/** Runs the adapter over one SA snapshot and returns the path.verdict it emits. */
function verdictFor(charonVersion: string, conf = 'charon {\n}\n'): PathVerdict {
  vi.useFakeTimers();
  const dir = mkdtempSync(join(tmpdir(), 'rw-path-adapter-'));
  writeFileSync(join(dir, 'strongswan.conf'), conf);
  const emitted: { kind: EventKind; payload: unknown }[] = [];
  const a = new PathAdapter({
    strongswanConf: join(dir, 'strongswan.conf'),
    netState: () => gateway([route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 })]),
    debounceMs: 10,
  });
  a.start({ emit: ((kind: EventKind, payload: unknown) => emitted.push({ kind, payload })) as never, logger: silentLogger(), clock: undefined as never });
  a.observe(snapshot(charonVersion));
  vi.advanceTimersByTime(50);
  void a.stop();
  const v = emitted.find((e) => e.kind === 'path.verdict');
  if (!v) throw new Error(`no path.verdict emitted: ${JSON.stringify(emitted)}`);
  return v.payload as PathVerdict;
}

describe('path adapter: the charon version reported over VICI', () => {
  it('when charon 6.0.6 reports itself and strongswan.conf has no make_before_break, then the verdict says make-before-break (6.0 default)', () => {
    // found in the lab: the agent read strongswan.conf before it knew the version, so on 6.0.6
    // it described the reauth as break-before-make while charon made before it broke
    const v = verdictFor('charon 6.0.6');
    expect(v).toMatchObject({ verdict: 'at-risk', consequence: 'reauth' });
    expect(v.reason).toContain('(make-before-break)');
  });

  it('when charon 5.9.8 reports itself, then it is break-before-make', () => {
    expect(verdictFor('charon 5.9.8').reason).toContain('break-before-make: traffic stops');
  });

  it('when strongswan.conf sets make_before_break, then that wins over the version default', () => {
    expect(verdictFor('charon 6.0.6', 'charon {\n  make_before_break = no\n}\n').reason).toContain('break-before-make: traffic stops');
  });
});
