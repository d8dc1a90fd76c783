/**
 * roamwatch_path keyed per IKE_SA (docs/metrics.md): a hub connection with many road-warrior
 * SAs gives one series per SA (conn + peer), bounded per host, and an SA that goes away for good
 * stops counting as at risk.
 */
import { describe, expect, it } from 'vitest';
import { from, lastValueFrom, toArray } from 'rxjs';
import { encodeEvent } from '@roamwatch/core';
import { processEvents } from './pipeline.js';
import type { PipelineInput, PipelineOutput, MetricPoint } from './types.js';
import { HostScript } from './synthetic.js';
import type { SaSpec } from './synthetic.js';
import { PEER_OVERFLOW } from './project.js';

type Out = PipelineOutput<number>;
async function run(h: HostScript, opts: Parameters<typeof processEvents>[0] = {}): Promise<Out[]> {
  const inputs: PipelineInput<number>[] = h.events.map((e, i) => ({ type: 'record', value: encodeEvent(e), ref: i }));
  return lastValueFrom(from(inputs).pipe(processEvents<number>(opts), toArray()));
}
const pathPoints = (out: Out[]): MetricPoint[] => out.flatMap((o) => (o.type === 'point' && o.point.measurement === 'roamwatch_path' ? [o.point] : []));
/** The last point of every series, as `peer → verdict`. */
function lastBySeries(out: Out[]): Record<string, string> {
  const last: Record<string, string> = {};
  for (const p of pathPoints(out)) last[`${p.tags['conn']}/${p.tags['peer']}`] = p.strings!['verdict']!;
  return last;
}

const rw = (i: number, uid = String(100 + i)): SaSpec => ({ conn: 'rw', uid, local: '192.0.2.1', remote: `198.51.100.${i}` });
function verdict(s: SaSpec, v: 'at-risk' | 'valid') {
  return { ikeSaName: s.conn, uniqueId: s.uid, localHost: s.local, remoteHost: s.remote, verdict: v, reasonCode: v === 'at-risk' ? 'no-route-leads-to-source' : 'route-with-prefsrc', reason: '', fixes: [] };
}
function hub(n: number): HostScript {
  const h = new HostScript('hub-1').snapshot([], [{ name: 'rw', localAddrs: ['%any'] }]);
  for (let i = 1; i <= n; i++) h.after(10).up(rw(i));
  return h.after(1000);
}

describe('roamwatch_path per IKE_SA', () => {
  it('when one hub connection has three SAs, two at risk and the last one valid, then there are three series and two of them at risk (not one series with the last verdict)', async () => {
    const h = hub(3).emit('path.verdict', verdict(rw(1), 'at-risk')).after(1).emit('path.verdict', verdict(rw(2), 'at-risk')).after(1).emit('path.verdict', verdict(rw(3), 'valid'));
    const out = await run(h);
    expect(lastBySeries(out)).toEqual({ 'rw/198.51.100.1': 'at-risk', 'rw/198.51.100.2': 'at-risk', 'rw/198.51.100.3': 'valid' });
  });

  it('when an SA reauthenticates with the same peer, then its new verdict lands in the same series', async () => {
    const h = hub(1).emit('path.verdict', verdict(rw(1), 'at-risk')).after(100).reauthBreakBeforeMake(rw(1), rw(1, '200')).after(50).emit('path.verdict', verdict(rw(1, '200'), 'at-risk'));
    const pts = pathPoints(await run(h));
    expect(new Set(pts.map((p) => p.tags['peer']))).toEqual(new Set(['198.51.100.1']));
    expect(pts.at(-1)!.strings).toMatchObject({ verdict: 'at-risk', unique_id: '200' });
  });

  it('when an at-risk SA goes down for good, then its series gets verdict gone and at_risk 0', async () => {
    const h = hub(2)
      .emit('path.verdict', verdict(rw(1), 'at-risk'))
      .emit('path.verdict', verdict(rw(2), 'at-risk'))
      .after(5000)
      .emit('vici.ike-updown', { up: false, ikeSa: { name: 'rw', uniqueId: '101', state: 'DELETING', localHost: '192.0.2.1', remoteHost: '198.51.100.1', childSas: [] } })
      .after(60_000)
      .routeAdded('203.0.113.0/24');
    const out = await run(h);
    expect(lastBySeries(out)).toEqual({ 'rw/198.51.100.1': 'gone', 'rw/198.51.100.2': 'at-risk' });
    const gone = pathPoints(out).at(-1)!;
    expect(gone.ints).toEqual({ at_risk: 0 });
    expect(gone.strings).toMatchObject({ reason_code: 'ike-sa-down', unique_id: '101' });
  });

  it('when the old SA of a make-before-break reauth goes down after the new one took over its series, then the series keeps the new verdict', async () => {
    const sa = (s: SaSpec, state: string) => ({ name: s.conn, uniqueId: s.uid, state, localHost: s.local, remoteHost: s.remote, childSas: [] });
    const h = hub(1)
      .emit('path.verdict', verdict(rw(1), 'at-risk'))
      .after(100)
      .emit('vici.ike-updown', { up: true, ikeSa: sa(rw(1, '200'), 'ESTABLISHED') })
      .after(1)
      .emit('path.verdict', verdict(rw(1, '200'), 'at-risk'))
      .after(2)
      .emit('vici.ike-updown', { up: false, ikeSa: sa(rw(1), 'DELETING') });
    const out = await run(h);
    expect(lastBySeries(out)).toEqual({ 'rw/198.51.100.1': 'at-risk' });
    expect(pathPoints(out).at(-1)!.strings!['unique_id']).toBe('200');
  });

  it('when a host has more peers than pathPeersPerHost, then the rest share the _overflow series and are counted', async () => {
    const h = hub(4);
    for (let i = 1; i <= 4; i++) h.after(1).emit('path.verdict', verdict(rw(i), 'at-risk'));
    const out = await run(h, { pathPeersPerHost: 2 });
    expect(Object.keys(lastBySeries(out)).sort()).toEqual(['rw/198.51.100.1', 'rw/198.51.100.2', `rw/${PEER_OVERFLOW}`]);
  });
});
