/**
 * The incident grouping across processor instances (docs/processor.md "Where the grouping state
 * lives"): two members of the incidents group on a real Kafka findings topic. The single-owner
 * assigner gives the topic to one of them; it opens an incident; it stops while the incident is
 * open (nothing committed, by design); the other member takes the topic over, re-reads it from the
 * committed offset and closes the same incident (same id) with every gateway, those that came
 * before and after the takeover.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { startIncidents } from '@roamwatch/processor';
import type { Incident, ReauthFinding, RunningIncidents } from '@roamwatch/processor';
import { servers, uniqueRunId } from '../setup/servers.js';
import { until } from './agent-harness.js';

const RUN = uniqueRunId('incfo');
const TOPIC = `roamwatch.findings.${RUN}`;
const kafka = new Kafka({ clientId: RUN, brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
const members: RunningIncidents[] = [];

function finding(host: string, timeUs: number): ReauthFinding {
  return {
    type: 'reauth', id: `${host}/rw/1/${timeUs}`, host, conn: 'rw', classification: 'spurious', reason: '', order: 'break-before-make',
    time: new Date(timeUs / 1000).toISOString(), timeUs, oldUniqueId: '1', newUniqueId: '2', localBefore: '10.0.0.1', localAfter: '10.0.0.1',
    remoteBefore: '10.0.1.2', remoteAfter: '10.0.1.2', latencyMs: 101, downtimeMs: 12,
    triggers: [{ kind: 'route', op: 'added', target: '203.0.113.0/24', summary: 'route 203.0.113.0/24 … added', time: '', timeUs: timeUs - 101_000, eventId: `${host}-e` }],
    moreTriggers: 0, evidence: [],
  };
}

afterAll(async () => {
  for (const m of members) await m.stop({ drainTimeoutMs: 2000 }).catch(() => {});
});

describe('incident grouping: one owner, failover to another member', () => {
  it('when the owner stops while an incident is open, then the other member closes the same incident with every gateway', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const seen: Array<{ member: number; incident: Incident }> = [];
    const start = (member: number) =>
      startIncidents({
        brokers: servers.kafka.brokers,
        findingsTopic: TOPIC,
        groupId: `${RUN}.incidents`,
        tickMs: 200,
        incidents: { quietPeriodMs: 3000, allowedLatenessMs: 1000 },
        onIncident: (incident) => seen.push({ member, incident }),
      });
    members.push(await start(0));
    await until('member 0 owns the topic', 30_000, () => (members[0]!.stats().owner ? true : undefined));
    members.push(await start(1));
    await until('both members joined, one owner', 60_000, () => {
      const [a, b] = members.map((m) => m.stats());
      return a!.joins >= 2 && b!.joins >= 1 && a!.owner !== b!.owner ? true : undefined;
    });
    const owner = members[0]!.stats().owner ? 0 : 1;
    const other = 1 - owner;

    const producer = kafka.producer();
    await producer.connect();
    const send = (fs: ReauthFinding[]) => producer.send({ topic: TOPIC, messages: fs.map((f) => ({ key: f.host, value: JSON.stringify(f), headers: { 'finding-type': 'reauth', 'finding-id': f.id } })) });
    const t0 = Date.now() * 1000;
    await send(['gw-0', 'gw-1', 'gw-2'].map((h, i) => finding(h, t0 + i * 10_000)));
    const opened = await until('the owner opens the incident', 30_000, () => seen.find((s) => s.member === owner && s.incident.state === 'opened')?.incident);
    expect(seen.some((s) => s.incident.state === 'closed')).toBe(false);

    await members[owner]!.stop({ drainTimeoutMs: 2000 });
    await send(['gw-3', 'gw-4'].map((h, i) => finding(h, t0 + 40_000 + i * 10_000)));
    const closed = await until('the other member closes it', 60_000, () => seen.find((s) => s.member === other && s.incident.state === 'closed')?.incident);
    await producer.disconnect();

    expect(closed.id).toBe(opened.id);
    expect(closed.gateways.map((g) => g.host)).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3', 'gw-4']);
    expect(closed).toMatchObject({ hosts: 5, reauths: 5, downtimeMs: 60 });
    expect(members[other]!.stats().owner).toBe(true);
  });
});
