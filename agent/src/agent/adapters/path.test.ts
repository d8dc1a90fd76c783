import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, createManualClock } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { PathAdapter } from './path.js';

const snapshot = { kind: 'vici.sa-snapshot', source: 'vici', payload: { ikeSas: [], connections: [] } } as unknown as RoamwatchEvent;

describe('PathAdapter and swanctl.conf', () => {
  it('when swanctl.conf does not exist, then it warns once that mobike is unknown, and again only after the file came and went', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-path-adapter-'));
    const strongswanConf = join(dir, 'strongswan.conf');
    writeFileSync(strongswanConf, 'charon {\n}\n');
    const swanctlConf = join(dir, 'swanctl.conf');
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (c: Buffer) => lines.push(...c.toString().trim().split('\n')));
    const logger = createLogger({ format: 'json', level: 'warn', stream });
    const warnings = async () => {
      await new Promise((r) => setImmediate(r));
      return lines.map((l) => JSON.parse(l) as { message: string; file?: string }).filter((o) => o.file === swanctlConf);
    };
    const adapter = new PathAdapter({ strongswanConf, swanctlConf, netState: () => ({ links: [], addresses: [], routes: [] }) });
    try {
      adapter.start({ emit: () => undefined, logger, clock: createManualClock(1_800_000_000_000_000) });
      adapter.observe(snapshot);
      adapter.observe(snapshot);
      expect((await warnings()).map((w) => w.message)).toEqual([
        `${swanctlConf} does not exist: each connection's mobike setting is unknown, so MOBIKE stays unknown unless the ports tell (set --swanctl-conf or path.swanctlConf)`,
      ]);
      writeFileSync(swanctlConf, 'connections {\n  site {\n    mobike = no\n  }\n}\n');
      adapter.observe(snapshot);
      rmSync(swanctlConf);
      adapter.observe(snapshot);
      expect(await warnings()).toHaveLength(2);
    } finally {
      await adapter.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
