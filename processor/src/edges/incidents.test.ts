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
