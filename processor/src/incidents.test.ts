// IncidentGrouper: pure, in event time. Findings are built by hand for the rules, and come from
// a recorded charon 5.9.8 scenario replayed as several gateways for the whole chain.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray } from 'rxjs';
import type { RoamwatchEvent } from '@roamwatch/core';
import { IncidentGrouper, groupIncidents, incidentConfig, incidentId, reauthCause, formatIncident } from './incidents.js';
import type { Incident, IncidentInput, IncidentOutput } from './incidents.js';
import { Pipeline } from './pipeline.js';
import type { ReauthFinding, Finding, PipelineOutput } from './types.js';
import { toLineProtocol } from './points.js';

const T0 = 1_795_790_000_000_000;

function reauth(host: string, atMs: number, over: Partial<ReauthFinding> = {}): ReauthFinding {
  const timeUs = T0 + atMs * 1000;
  return {
    type: 'reauth',
    id: `${host}/rw/1/${timeUs}`,
    host,
    conn: 'rw',
    classification: 'spurious',
    reason: 'r',
    order: 'break-before-make',
    time: new Date(timeUs / 1000).toISOString(),
    timeUs,
    oldUniqueId: '1',
    newUniqueId: '2',
    localBefore: '10.0.0.1',
    localAfter: '10.0.0.1',
    remoteBefore: '10.0.1.2',
    remoteAfter: '10.0.1.2',
    latencyMs: 101,
    downtimeMs: 12.5,
    triggers: [
      { kind: 'route', op: 'added', target: '203.0.113.0/24', summary: 'route 203.0.113.0/24 via 10.9.0.1 dev up0 table main proto bird metric 32 added', time: '', timeUs: timeUs - 101_000, eventId: `${host}-e` },
    ],
    moreTriggers: 0,
    evidence: [],
    fix: { rank: 1, kind: 'route-src', command: `ip route add 10.0.1.2/32 dev eth0 src 10.0.0.1`, explanation: '' } as unknown as ReauthFinding['fix'],
    ...over,
  };
}

function run(inputs: IncidentInput[], cfg = {}, flush = true): { out: IncidentOutput[]; g: IncidentGrouper } {
  const g = new IncidentGrouper(cfg);
  const out: IncidentOutput[] = [];
  const emit = (o: IncidentOutput) => out.push(o);
  for (const i of inputs) g.push(i, emit);
  if (flush) g.flush(emit);
  return { out, g };
}
const fin = (f: Finding): IncidentInput => ({ type: 'finding', finding: f });
const incidents = (out: IncidentOutput[]) => out.flatMap((o) => (o.type === 'incident' ? [o.incident] : []));
const closed = (out: IncidentOutput[]) => incidents(out).filter((i) => i.state === 'closed');

describe('IncidentGrouper', () => {
  it('when one route change makes many gateways reauthenticate, then one incident lists them with counts, downtime, cause and fixes', () => {
    const hosts = ['gw-c', 'gw-a', 'gw-b'];
    const { out } = run([
      ...hosts.map((h, i) => fin(reauth(h, i * 20))),
      fin(reauth('gw-a', 50, { conn: 'rw2', id: 'gw-a/rw2/7/x', downtimeMs: null })),
    ]);
    const c = closed(out);
    expect(c).toHaveLength(1);
    const i = c[0]!;
    expect(i).toMatchObject({ hosts: 3, connections: 4, reauths: 4, downtimeMs: 37.5, downtimeUnknown: 1, startUs: T0, lastReauthUs: T0 + 50_000 });
    expect(i.cause).toMatchObject({ key: 'route added 203.0.113.0/24', kind: 'route', op: 'added', target: '203.0.113.0/24' });
    expect(i.gateways.map((g) => g.host)).toEqual(['gw-a', 'gw-b', 'gw-c']);
    expect(i.gateways[0]).toMatchObject({ conns: ['rw', 'rw2'], reauths: 2, downtimeMs: 12.5, fix: 'ip route add 10.0.1.2/32 dev eth0 src 10.0.0.1' });
    expect(i.closedAtUs).toBe(T0 + 50_000 + 30_000_000);
    expect(i.id).toBe(incidentId('route added 203.0.113.0/24', reauth('gw-c', 0).id));
    expect(incidents(out).map((x) => x.state)).toEqual(['opened', 'closed']);
  });

  it('when gateways reauthenticate inside route storms, then the storm is the common cause: one incident, whatever each storm counted', () => {
    const storm = (host: string, atMs: number, changes: number): ReauthFinding => {
      const f = reauth(host, atMs);
      const t = f.triggers[0]!;
      return { ...f, triggers: [{ kind: 'route', op: 'coalesced', target: 'storm', summary: `route storm: ${changes} route changes coalesced by the agent`, time: '', timeUs: t.timeUs, eventId: `${host}-s` }, t] };
    };
    const c = closed(run([fin(storm('gw-a', 0, 91_000)), fin(storm('gw-b', 30, 120_500))]).out);
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ hosts: 2, reauths: 2, cause: { key: 'route coalesced storm', op: 'coalesced', target: 'storm' } });
  });

  it('when a quiet period passes, then the incident closes on the next finding or tick, not at flush', () => {
    const cfg = { quietPeriodMs: 3000, allowedLatenessMs: 1000 };
    const { out } = run([fin(reauth('gw-a', 0)), fin(reauth('gw-b', 10)), { type: 'tick', nowUs: T0 + 3_900_000 }], cfg, false);
    expect(closed(out)).toHaveLength(0);
    const { out: out2 } = run([fin(reauth('gw-a', 0)), fin(reauth('gw-b', 10)), { type: 'tick', nowUs: T0 + 4_010_000 }], cfg, false);
    expect(closed(out2)).toHaveLength(1);
    expect(closed(out2)[0]!.hosts).toBe(2);
  });

  it('when a second, unrelated flap comes later, then it is a second incident; a different prefix at the same time is its own incident', () => {
    const cfg = { quietPeriodMs: 3000, allowedLatenessMs: 0 };
    const other = (h: string, at: number) =>
      reauth(h, at, { id: `${h}/o/${at}`, triggers: [{ kind: 'route', op: 'removed', target: '198.51.100.0/24', summary: 's', time: '', timeUs: 0, eventId: 'x' }] });
    const { out } = run([fin(reauth('gw-a', 0)), fin(other('gw-b', 5)), fin(reauth('gw-c', 10)), fin(reauth('gw-a', 60_000, { id: 'later-a' })), fin(reauth('gw-b', 60_020, { id: 'later-b' }))], cfg);
    const c = closed(out);
    expect(c.map((i) => [i.cause.key, i.hosts])).toEqual([
      ['route added 203.0.113.0/24', 2],
      ['route removed 198.51.100.0/24', 1],
      ['route added 203.0.113.0/24', 2],
    ]);
    expect(new Set(c.map((i) => i.id)).size).toBe(3);
  });

  it('when findings are not spurious reauths, or are duplicates, then they do not count', () => {
    const a = reauth('gw-a', 0);
    const { out, g } = run([fin(a), fin(a), fin(reauth('gw-b', 1, { classification: 'scheduled' })), fin({ ...reauth('gw-c', 2), type: 'at-risk' } as unknown as Finding)]);
    expect(closed(out)[0]).toMatchObject({ hosts: 1, reauths: 1 });
    expect(g.stats).toMatchObject({ findings: 4, duplicates: 1, ignored: 2, opened: 1, closed: 1, open: 0 });
  });

  it('when findings of other hosts arrive out of event-time order within the lateness, then they join the incident', () => {
    const cfg = { quietPeriodMs: 3000, allowedLatenessMs: 5000 };
    const { out } = run([fin(reauth('gw-b', 2000)), fin(reauth('gw-a', 0)), fin(reauth('gw-c', 4500)), fin(reauth('gw-d', 1000))], cfg);
    const c = closed(out);
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ hosts: 4, startUs: T0, lastReauthUs: T0 + 4_500_000, anchorUs: T0 + 2_000_000 });
    // every report's points sit at the anchor (the first finding's time), so each overwrites the last
    const times = new Set(out.flatMap((o) => (o.type === 'point' ? [o.point.timeNs] : [])));
    expect([...times]).toEqual([`${T0 + 2_000_000}000`]);
  });

  it('when the same findings arrive in another order, then the cause shows the earliest finding\'s wording (live and replay agree)', () => {
    const via = (host: string, atMs: number, hop: string): ReauthFinding => {
      const f = reauth(host, atMs);
      const t = f.triggers[0]!;
      return { ...f, triggers: [{ ...t, summary: `route 203.0.113.0/24 via ${hop} dev up0 table main proto bird metric 32 added` }] };
    };
    const a = via('gw-a', 10, '10.9.0.1');
    const b = via('gw-b', 0, '10.9.4.1');
    const live = closed(run([fin(a), fin(b)]).out)[0]!;
    const replay = closed(run([fin(b), fin(a)]).out)[0]!;
    expect(live.cause).toEqual(replay.cause);
    expect(live.cause.summary).toContain('via 10.9.4.1');
  });

  it('when reauths keep joining, then updates come at most once per updateIntervalMs of event time', () => {
    const inputs = Array.from({ length: 100 }, (_, k) => fin(reauth(`gw-${k}`, k * 100)));
    const { out } = run(inputs, { updateIntervalMs: 2000 });
    expect(incidents(out).map((i) => i.state)).toEqual(['opened', 'updated', 'updated', 'updated', 'updated', 'closed']);
    expect(incidents(out).map((i) => i.revision)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('when reauths have no trigger, then they group as a burst with cause none', () => {
    const { out } = run([fin(reauth('gw-a', 0, { triggers: [] })), fin(reauth('gw-b', 5, { triggers: [] }))]);
    expect(closed(out)[0]!.cause).toEqual({ key: 'none', kind: 'none', op: null, target: null, summary: null });
    expect(formatIncident(closed(out)[0]!)).toContain('no routing event seen');
  });

  it('when a trigger comes from a finding written before op/target existed, then its summary is the key', () => {
    const f = reauth('gw-a', 0, { triggers: [{ kind: 'address', summary: 'address fe80::1/64 dev eth0 scope link added', time: '', timeUs: 0, eventId: 'e' }] });
    expect(reauthCause(f).key).toBe('address fe80::1/64 dev eth0 scope link added');
  });

  it('when the same findings are replayed, then the incidents and points are byte-identical; points carry the start time', async () => {
    const inputs = Array.from({ length: 50 }, (_, k) => fin(reauth(`gw-${k % 7}`, k * 37, { id: `f${k}` })));
    const a = await lastValueFrom(from(inputs).pipe(groupIncidents({ updateIntervalMs: 300 }), toArray()));
    const b = run(inputs, { updateIntervalMs: 300 }).out;
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const lines = a.flatMap((o) => (o.type === 'point' ? [toLineProtocol(o.point)] : []));
    expect(lines.every((l) => l.endsWith(` ${T0}000`))).toBe(true);
    const last = a.filter((o) => o.type === 'point' && o.point.measurement === 'roamwatch_incident').at(-1);
    expect(last?.type === 'point' && last.point).toMatchObject({ tags: { trigger_kind: 'route' }, ints: { hosts: 7, reauths: 50, open: 0 }, strings: { state: 'closed', trigger_target: '203.0.113.0/24' } });
  });

  it('when the configuration names an unknown key or a bad value, then it is refused naming the key', () => {
    expect(() => incidentConfig({ quietMs: 1 } as never)).toThrow(/quietMs/);
    expect(() => incidentConfig({ quietPeriodMs: 0 })).toThrow(/quietPeriodMs/);
    expect(() => incidentConfig({ allowedLatenessMs: -1 })).toThrow(/allowedLatenessMs/);
  });
});

describe('incidents from recorded charon reauths', () => {
  const recorded = readFileSync(fileURLToPath(new URL('../../test/fixtures/scenarios/bug-unrelated-route.jsonl', import.meta.url)), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RoamwatchEvent);

  it('when the spurious-reauth scenario happens on three gateways within a second, then the findings form one incident naming the route', () => {
    const out: PipelineOutput<never>[] = [];
    for (const [k, host] of ['gw-1', 'gw-2', 'gw-3'].entries()) {
      const p = new Pipeline<never>();
      for (const e of recorded) p.push({ type: 'record', value: { ...e, host, id: `${host}-${e.id}`, timeUs: e.timeUs + k * 300_000 } as RoamwatchEvent }, (o) => out.push(o));
      p.flush((o) => out.push(o));
    }
    const findings = out.flatMap((o) => (o.type === 'finding' ? [o.finding] : []));
    const { out: inc } = run(findings.map(fin));
    const c = closed(inc);
    expect(c).toHaveLength(1);
    const i: Incident = c[0]!;
    expect(i.hosts).toBe(3);
    expect(i.reauths).toBe(3);
    expect(i.cause).toMatchObject({ kind: 'route', op: 'added', target: '192.0.2.0/24' });
    expect(i.gateways.every((g) => g.fix?.startsWith('ip route add 10.231.1.2/32'))).toBe(true);
    expect(i.downtimeMs).toBeGreaterThan(0);
  });
});
