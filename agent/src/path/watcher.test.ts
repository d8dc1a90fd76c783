import { describe, expect, it } from 'vitest';
import { PathVerdict } from '@roamwatch/core';
import { conn, gateway, LOCAL4, PEER4, route, sa } from './fixtures.js';
import { defaultCharonSettings } from './settings.js';
import { PathWatcher, type PathVerdictChange } from './watcher.js';

const viaGw = route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 });

describe('PathWatcher', () => {
  it('when the routing state changes the verdict, then one change is emitted with the previous verdict', async () => {
    const w = new PathWatcher({ settings: defaultCharonSettings(), debounceMs: 0 });
    const got: PathVerdictChange[] = [];
    w.verdicts$.subscribe((c) => got.push(c));
    w.updateSas([sa()], [conn()]);
    w.updateNet(gateway([viaGw]));
    await w.flush();
    expect(got.map((c) => c.verdict.verdict)).toEqual(['at-risk']);
    // an unrelated change: same verdict, nothing emitted
    w.updateNet(gateway([viaGw, route('203.0.113.0/24', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 })]));
    await w.flush();
    expect(got).toHaveLength(1);
    // the fix lands
    w.updateNet(gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]));
    await w.flush();
    expect(got.map((c) => [c.verdict.verdict, c.verdict.previous])).toEqual([
      ['at-risk', undefined],
      ['valid', 'at-risk'],
    ]);
    for (const c of got) expect(PathVerdict.safeParse(c.verdict).success).toBe(true);
    w.close();
  });

  it('when updates come in a burst, then they are coalesced into one evaluation', async () => {
    const w = new PathWatcher({ settings: defaultCharonSettings(), debounceMs: 20 });
    const got: PathVerdictChange[] = [];
    w.verdicts$.subscribe((c) => got.push(c));
    w.updateSas([sa()], [conn()]);
    for (let i = 0; i < 50; i++) w.updateNet(gateway(i === 49 ? [{ ...viaGw, prefsrc: LOCAL4 }] : [viaGw]));
    await new Promise((r) => setTimeout(r, 60));
    await w.flush();
    expect(got.map((c) => c.verdict.verdict)).toEqual(['valid']);
    w.close();
  });

  it('when an SA is replaced by a new one (reauth), then the new unique id gets its own first verdict', async () => {
    const w = new PathWatcher({ settings: defaultCharonSettings(), debounceMs: 0 });
    const got: PathVerdictChange[] = [];
    w.verdicts$.subscribe((c) => got.push(c));
    w.updateNet(gateway([viaGw]));
    w.updateSas([sa({ uniqueId: '1' })], [conn()]);
    await w.flush();
    w.updateSas([sa({ uniqueId: '2' })]);
    await w.flush();
    expect(got.map((c) => [c.verdict.uniqueId, c.verdict.previous])).toEqual([
      ['1', undefined],
      ['2', undefined],
    ]);
    expect(w.current().map((a) => a.uniqueId)).toEqual(['2']);
    w.close();
  });
});
