import { describe, expect, it } from 'vitest';
import { from, lastValueFrom, toArray } from 'rxjs';
import { encodeEvent } from '@roamwatch/core';
import { processEvents } from './pipeline.js';
import type { PipelineInput, PipelineOutput } from './types.js';
import { HostScript } from './synthetic.js';
import { toLineProtocol } from './points.js';

async function run(h: HostScript): Promise<PipelineOutput<number>[]> {
  const inputs: PipelineInput<number>[] = h.events.map((e, i) => ({ type: 'record', value: encodeEvent(e), ref: i }));
  return lastValueFrom(from(inputs).pipe(processEvents<number>({}), toArray()));
}

describe('remediation progress (path.verdict with remediation)', () => {
  it('when an SA goes from at risk to valid with the fix applied by roamwatch, then one roamwatch_remediation point per transition, tagged by who applied it', async () => {
    const base = { ikeSaName: 'dc2', uniqueId: '7', localHost: '192.0.2.1', remoteHost: '198.51.100.7', reason: '', fixes: [] };
    const h = new HostScript('gw-17')
      .snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }])
      .after(10)
      .emit('path.verdict', { ...base, verdict: 'at-risk', reasonCode: 'no-route-leads-to-source', consequence: 'reauth' })
      .after(5000)
      .emit('path.verdict', {
        ...base,
        verdict: 'valid',
        previous: 'at-risk',
        reasonCode: 'route-with-prefsrc',
        route: '198.51.100.7 dev eth0 src 192.0.2.1',
        remediation: { fix: '198.51.100.7 dev eth0 src 192.0.2.1', appliedBy: 'roamwatch', journalId: '20261130T160102Z-a1b2c3' },
      });
    const out = await run(h);
    const pts = out.flatMap((o) => (o.type === 'point' && o.point.measurement === 'roamwatch_remediation' ? [o.point] : []));
    expect(pts).toHaveLength(1);
    expect(toLineProtocol(pts[0]!)).toMatch(
      /^roamwatch_remediation,applied_by=roamwatch,conn=dc2,host=gw-17 count=1i,fix="198\.51\.100\.7 dev eth0 src 192\.0\.2\.1",journal_id="20261130T160102Z-a1b2c3",unique_id="7" \d+$/,
    );
  });

  it('when an SA goes into and then out of at risk, then roamwatch_path_change says fixed 0 then 1, the latest point giving "fixed since"', async () => {
    const base = { ikeSaName: 'dc2', uniqueId: '7', localHost: '192.0.2.1', remoteHost: '198.51.100.7', reason: '', fixes: [] };
    const h = new HostScript('gw-18')
      .snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }])
      .after(10)
      .emit('path.verdict', { ...base, verdict: 'at-risk', reasonCode: 'no-route-leads-to-source', consequence: 'reauth' })
      .after(5000)
      .emit('path.verdict', { ...base, verdict: 'valid', previous: 'at-risk', reasonCode: 'route-with-prefsrc', remediation: { fix: '198.51.100.7 dev eth0 src 192.0.2.1', appliedBy: 'by-hand' } });
    const out = await run(h);
    const pts = out.flatMap((o) => (o.type === 'point' && o.point.measurement === 'roamwatch_path_change' ? [o.point] : []));
    expect(pts.map((p) => [p.tags, p.ints])).toEqual([
      [{ host: 'gw-18', conn: 'dc2' }, { at_risk: 1, fixed: 0 }],
      [{ host: 'gw-18', conn: 'dc2' }, { at_risk: 0, fixed: 1 }],
    ]);
    expect(BigInt(pts[1]!.timeNs) - BigInt(pts[0]!.timeNs)).toBeGreaterThanOrEqual(5_000_000_000n);
  });
});
