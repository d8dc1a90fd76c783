// The incidents edge's pure parts: the single-owner partition assigner and the findings-topic message filter.
import { describe, expect, it } from 'vitest';
import { AssignerProtocol } from 'kafkajs';
import type { Cluster } from 'kafkajs';
import { SingleOwnerAssigner, parseFindingMessage } from './incidents.js';

const cluster = { findTopicPartitionMetadata: (t: string) => (t === 'f' ? [0, 1, 2] : [0]).map((partitionId) => ({ partitionId })) } as unknown as Cluster;
const decode = (b: Buffer) => AssignerProtocol.MemberAssignment.decode(b)?.assignment ?? {};

describe('SingleOwnerAssigner', () => {
  it('when three members join, then the first by member id gets every partition of every topic and the others nothing', async () => {
    const a = SingleOwnerAssigner({ cluster, groupId: 'g', logger: undefined as never });
    const out = await a.assign({ members: [{ memberId: 'm-b' }, { memberId: 'm-a' }, { memberId: 'm-c' }].map((m) => ({ ...m, memberMetadata: Buffer.alloc(0) })), topics: ['f', 'g'] });
    const by = Object.fromEntries(out.map((o) => [o.memberId, decode(o.memberAssignment)]));
    expect(by).toEqual({ 'm-a': { f: [0, 1, 2], g: [0] }, 'm-b': {}, 'm-c': {} });
  });

  it('when the owner leaves, then the next member by id takes everything', async () => {
    const a = SingleOwnerAssigner({ cluster, groupId: 'g', logger: undefined as never });
    const out = await a.assign({ members: [{ memberId: 'm-c', memberMetadata: Buffer.alloc(0) }, { memberId: 'm-b', memberMetadata: Buffer.alloc(0) }], topics: ['f'] });
    expect(Object.fromEntries(out.map((o) => [o.memberId, decode(o.memberAssignment)]))).toEqual({ 'm-b': { f: [0, 1, 2] }, 'm-c': {} });
  });
});

describe('parseFindingMessage', () => {
  const reauth = { type: 'reauth', id: 'h/c/1/5', host: 'h', timeUs: 5 };
  it('when the message is a reauth finding, then it is returned', () => {
    expect(parseFindingMessage(Buffer.from(JSON.stringify(reauth)), { 'finding-type': Buffer.from('reauth') })).toEqual(reauth);
    expect(parseFindingMessage(Buffer.from(JSON.stringify(reauth)), undefined)).toEqual(reauth);
  });
  it('when it is an incident, an at-risk finding, not JSON or empty, then it is skipped (the grouping lives on)', () => {
    expect(parseFindingMessage(Buffer.from(JSON.stringify({ ...reauth, type: 'incident' })), { 'finding-type': Buffer.from('incident') })).toBeUndefined();
    expect(parseFindingMessage(Buffer.from(JSON.stringify({ ...reauth, type: 'at-risk' })), undefined)).toBeUndefined();
    expect(parseFindingMessage(Buffer.from('{not json'), undefined)).toBeUndefined();
    expect(parseFindingMessage(null, undefined)).toBeUndefined();
    expect(parseFindingMessage(Buffer.from(JSON.stringify({ type: 'reauth' })), undefined)).toBeUndefined();
  });
});

describe('incidents read back from InfluxDB rows', async () => {
  const { usOf, incidentFromRow, gatewayFromRow } = await import('./incidents-query.js');
  it('when Flux gives RFC 3339 times with up to 9 digits, then µs are exact', () => {
    expect(usOf('2026-11-30T18:40:50.163139Z')).toBe(Date.parse('2026-11-30T18:40:50Z') * 1000 + 163_139);
    expect(usOf('2026-11-30T18:40:50.163139123Z')).toBe(Date.parse('2026-11-30T18:40:50Z') * 1000 + 163_139);
    expect(usOf('2026-11-30T18:40:50Z')).toBe(Date.parse('2026-11-30T18:40:50Z') * 1000);
  });
  it('when a pivoted roamwatch_incident row is read, then it is the incident that wrote it (gateways from their own rows)', () => {
    const i = incidentFromRow({
      _time: '2026-11-30T18:40:50.180377Z', incident_id: 'inc-1', trigger_kind: 'route', state: 'closed', cause: 'route added 198.51.100.0/24', trigger_op: 'added',
      trigger_target: '198.51.100.0/24', trigger: 'route 198.51.100.0/24 … added', start: '2026-11-30T18:40:50.163139Z', last_reauth: '2026-11-30T18:40:50.180377Z',
      closed_at: '2026-11-30T18:40:53.180377Z', hosts: 3, connections: 3, reauths: 3, downtime_ms: 150.749, downtime_unknown: 0, revision: 2,
    });
    expect(i).toMatchObject({ id: 'inc-1', state: 'closed', hosts: 3, reauths: 3, downtimeMs: 150.749, start: '2026-11-30T18:40:50.163139Z', cause: { kind: 'route', op: 'added', target: '198.51.100.0/24' } });
    expect(i.anchorUs - i.startUs).toBe(17_238);
    expect(i.closedAtUs! - i.lastReauthUs).toBe(3_000_000);
    expect(gatewayFromRow({ host: 'gw0', conns: 'rw,rw2', reauths: 2, downtime_ms: 10, fix: '' })).toMatchObject({ host: 'gw0', conns: ['rw', 'rw2'], fix: null });
  });
});
