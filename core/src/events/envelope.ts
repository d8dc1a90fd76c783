/**
 * The event envelope: one versioned, validated shape for every fact an agent emits.
 *
 *   { v, id, host, seq, timeUs, source, kind, payload }
 *
 * - `v`       contract version (EVENT_VERSION). See docs/events.md "Evolving the contract".
 * - `id`      UUIDv7, unique per event; a re-sent event keeps its id (consumers dedupe on it).
 * - `host`    the gateway's host id; also the Kafka message key, so one host's events stay
 *             in one partition, in order.
 * - `seq`     per-host sequence number, starting at 1, +1 per event, persisted across agent
 *             restarts. A missing number is a lost event unless an `agent.gap` event covers it.
 * - `timeUs`  event time: µs since the Unix epoch, agent CLOCK_REALTIME when the fact was read
 *             (see clock.ts).
 * - `source`  `rtnetlink`, `vici` or `agent`; fixed by the kind.
 * - `kind`    the payload type (EVENT_KINDS below).
 *
 * The table EVENT_KINDS is the one definition: the zod union, the TypeScript types and the
 * kind/source pairing all derive from it.
 */
import { z } from 'zod';
import * as P from './payloads.js';
import { UUID_V7_RE } from './ids.js';

export const EVENT_VERSION = 1;

export const EVENT_KINDS = {
  'route.added': { source: 'rtnetlink', payload: P.RouteChange },
  'route.removed': { source: 'rtnetlink', payload: P.RouteChange },
  'route.replaced': { source: 'rtnetlink', payload: P.RouteReplaced },
  'address.added': { source: 'rtnetlink', payload: P.AddressChange },
  'address.removed': { source: 'rtnetlink', payload: P.AddressChange },
  'link.added': { source: 'rtnetlink', payload: P.LinkChange },
  'link.removed': { source: 'rtnetlink', payload: P.LinkChange },
  'link.changed': { source: 'rtnetlink', payload: P.LinkChanged },
  'rule.added': { source: 'rtnetlink', payload: P.RuleChange },
  'rule.removed': { source: 'rtnetlink', payload: P.RuleChange },
  'netlink.resync': { source: 'rtnetlink', payload: P.NetlinkResync },
  'route.summary': { source: 'rtnetlink', payload: P.RouteSummary },
  'vici.ike-updown': { source: 'vici', payload: P.IkeUpdown },
  'vici.ike-rekey': { source: 'vici', payload: P.IkeRekey },
  'vici.ike-update': { source: 'vici', payload: P.IkeUpdate },
  'vici.child-updown': { source: 'vici', payload: P.ChildUpdown },
  'vici.child-rekey': { source: 'vici', payload: P.ChildRekey },
  'vici.log': { source: 'vici', payload: P.ViciLog },
  'vici.sa-snapshot': { source: 'vici', payload: P.SaSnapshot },
  'vici.connection': { source: 'vici', payload: P.ViciConnection },
  'path.verdict': { source: 'agent', payload: P.PathVerdict },
  'agent.status': { source: 'agent', payload: P.AgentStatus },
  'agent.started': { source: 'agent', payload: P.AgentLifecycle },
  'agent.stopping': { source: 'agent', payload: P.AgentLifecycle },
  'agent.gap': { source: 'agent', payload: P.AgentGap },
} as const;

type Kinds = typeof EVENT_KINDS;
export type EventKind = keyof Kinds;
export type EventSource = Kinds[EventKind]['source'];
export const EVENT_SOURCES = ['rtnetlink', 'vici', 'agent'] as const;
export const eventKinds = Object.keys(EVENT_KINDS) as EventKind[];

export const HOST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

const base = {
  v: z.literal(EVENT_VERSION),
  id: z.string().regex(UUID_V7_RE, 'expected a UUIDv7'),
  host: z.string().regex(HOST_ID_RE, 'expected a host id: letters, digits, . _ : - (max 253)'),
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  timeUs: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
};

function variant<K extends EventKind>(kind: K) {
  const spec = EVENT_KINDS[kind];
  return z.object({
    ...base,
    source: z.literal(spec.source as Kinds[K]['source']),
    kind: z.literal(kind),
    payload: spec.payload as Kinds[K]['payload'],
  });
}

const variants = eventKinds.map((k) => variant(k)) as unknown as [
  ReturnType<typeof variant<EventKind>>,
  ...ReturnType<typeof variant<EventKind>>[],
];

/** The schema of a whole envelope (discriminated on `kind`). */
export const EventEnvelope = z.discriminatedUnion('kind', variants);

/** The envelope of one kind, with its payload type. */
export type EventOf<K extends EventKind> = {
  v: typeof EVENT_VERSION;
  id: string;
  host: string;
  seq: number;
  timeUs: number;
  source: Kinds[K]['source'];
  kind: K;
  payload: z.infer<Kinds[K]['payload']>;
};

/** Any envelope: a union discriminated on `kind`. */
export type RoamwatchEvent = { [K in EventKind]: EventOf<K> }[EventKind];
export type PayloadOf<K extends EventKind> = z.infer<Kinds[K]['payload']>;
