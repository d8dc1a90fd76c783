// The pipeline with the agent's two data-path guarantees (#16 items 1 and 4): a stream declared
// ordered at the source (streamOrder 'time') is released as it arrives, so a reauth's finding
// comes out with the event that completes it, without ticks; and a route storm coalesced by the
// agent (route.summary) is a trigger: a reauth inside the storm is found and names the storm.
import { describe, expect, it } from 'vitest';
import type { RouteSummary } from '@roamwatch/core';
import { Pipeline } from './pipeline.js';
import { HostScript, route } from './synthetic.js';
import type { PipelineOutput, ReauthFinding } from './types.js';

const OLD = { conn: 'dc2', uid: '7', local: '192.0.2.1', remote: '198.51.100.7' };
const NEW = { ...OLD, uid: '8' };

function storm(hs: HostScript, changes: number): RouteSummary {
  const t = hs.nowUs;
  return {
    stormStartUs: t - 3_000_000,
    part: 3,
    firstUs: t - 900_000,
    lastUs: t - 100_000,
    final: false,
    changes,
    tables: [{ family: 4, table: 254, added: 0, removed: changes, replaced: 0 }],
    examples: [{ op: 'removed', route: route('203.0.113.0/24', { protocol: 'bird' }) }],
    digest: { routes: 1_000_000 - changes, hash: '0badc0de' },
  };
}

function run(events: HostScript['events']): { out: PipelineOutput<never>[]; findingAfterSeq: number | undefined } {
  const p = new Pipeline<never>({ allowedLatenessMs: 2000 });
  const out: PipelineOutput<never>[] = [];
  let findingAfterSeq: number | undefined;
  for (const e of events) {
    p.push({ type: 'record', value: JSON.stringify(e) }, (o) => {
      out.push(o);
      if (o.type === 'finding' && o.finding.type === 'reauth' && findingAfterSeq === undefined) findingAfterSeq = e.seq;
    });
  }
  return { out, findingAfterSeq };
}

const reauths = (out: PipelineOutput<never>[]) => out.flatMap((o) => (o.type === 'finding' && o.finding.type === 'reauth' ? [o.finding as ReauthFinding] : []));

describe('order at the source and route storms', () => {
  it('when the agent declares its stream ordered, then the reauth finding comes out with its last event, with no tick and no later event', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(1000).routeAdded('203.0.113.0/24').after(100);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const { out, findingAfterSeq } = run(hs.events);
    expect(reauths(out)).toHaveLength(1);
    expect(findingAfterSeq).toBe(hs.events.at(-1)!.seq);
  });

  it('when the agent does not declare it, then the same stream yields the finding only at the end (flush): the fixed lateness', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(1000).routeAdded('203.0.113.0/24').after(100);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const { out } = run(hs.events);
    expect(reauths(out)).toHaveLength(0);
  });

  it('when a reauth happens inside a route storm the agent coalesced, then it is found, classified spurious, and its trigger names the storm', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    hs.emit('route.summary', storm(hs, 35_000)).after(0.5);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const { out } = run(hs.events);
    const [f] = reauths(out);
    expect(f?.classification).toBe('spurious');
    expect(f?.triggers[0]?.summary).toMatch(/^route storm: 35000 route changes coalesced by the agent \(table main IPv4: −35000\)/);
    expect(f?.latencyMs).toBeGreaterThan(100);
  });

  it('when individual route changes precede the storm summary in the window (the first changes of a storm are never coalesced), then the storm is still the first trigger', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    for (let i = 0; i < 20; i++) hs.routeAdded(`10.200.${i}.0/24`);
    hs.after(100).emit('route.summary', storm(hs, 35_000)).after(0.5);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const [f] = reauths(run(hs.events).out);
    expect(f?.triggers[0]?.summary).toMatch(/^route storm: /);
    expect(f?.triggers).toHaveLength(10);
    expect(f?.moreTriggers).toBe(11);
  });

  it('when a storm summary counts the route towards the peer among its removed examples, then the reauth is legitimate', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    const s = storm(hs, 10);
    s.examples.push({ op: 'removed', route: route('198.51.100.0/24', { protocol: 'bird' }) });
    hs.emit('route.summary', s).after(0.5);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const [f] = reauths(run(hs.events).out);
    expect(f?.classification).toBe('legitimate');
  });

  it('when charon, busy with a storm, reauthenticates later than the attribution window after the last summary, then the reauth is still attributed to the storm in progress', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    hs.emit('route.summary', storm(hs, 20_000)).after(900);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const [f] = reauths(run(hs.events).out);
    expect(f?.classification).toBe('spurious');
    expect(f?.triggers[0]?.summary).toMatch(/^route storm: 20000 /);
  });

  it('when the agent stopped mid-storm (no final summary), then a later reauth is not attributed to that storm', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    hs.emit('route.summary', storm(hs, 20_000)).after(100);
    hs.emit('agent.stopping', { agentVersion: '0.1.0', reason: 'SIGTERM' }).after(2000);
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' }).after(500);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const [f] = reauths(run(hs.events).out);
    expect(f?.triggers).toEqual([]);
  });

  it('when storm summaries arrive, then roamwatch_net_changes counts their exact route changes, not one per summary', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.after(1000).routeAdded('192.0.2.0/24');
    const s = storm(hs, 1500);
    s.tables = [{ family: 4, table: 254, added: 1000, removed: 400, replaced: 0 }, { family: 6, table: 254, added: 0, removed: 0, replaced: 100 }];
    hs.after(200).emit('route.summary', s);
    const p = new Pipeline<never>({});
    const out: PipelineOutput<never>[] = [];
    for (const e of hs.events) p.push({ type: 'record', value: JSON.stringify(e) }, (o) => out.push(o));
    p.flush((o) => out.push(o));
    const counts: Record<string, number> = {};
    for (const o of out) {
      if (o.type !== 'point' || o.point.measurement !== 'roamwatch_net_changes') continue;
      const k = `${o.point.tags.kind}|${o.point.tags.op}`;
      counts[k] = (counts[k] ?? 0) + Number(o.point.ints?.count ?? 0);
    }
    expect(counts).toEqual({ 'route|added': 1001, 'route|removed': 400, 'route|replaced': 100 });
  });

  it('when the storm is over (final summary counting nothing), then it is no trigger', () => {
    const hs = new HostScript('gw-1');
    hs.emit('agent.started', { agentVersion: '0.1.0', streamOrder: 'time' });
    hs.snapshot([OLD], [{ name: 'dc2', localAddrs: ['gw.example.net'] }]);
    hs.after(5000);
    hs.emit('route.summary', { ...storm(hs, 0), final: true, tables: [], examples: [] }).after(0.5);
    hs.reauthBreakBeforeMake(OLD, NEW);
    const [f] = reauths(run(hs.events).out);
    expect(f?.triggers).toEqual([]);
  });
});
