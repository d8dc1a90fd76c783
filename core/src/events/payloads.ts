/**
 * Payload schemas of every event kind. The zod schemas are the single definition: the
 * TypeScript types are inferred from them (`z.infer`), and docs/events.md documents them
 * with examples. Payloads carry raw facts as the agent saw them (routing state, VICI
 * events, the agent's own status); interpretation is the processor's.
 *
 * Conventions: addresses are strings in their canonical text form (IPv6 compressed,
 * lower case), prefixes are `addr/len`; durations and times carry their unit in the
 * field name (`…Us`, `…Ms`, `…S`); optional fields are omitted, never null.
 */
import { z } from 'zod';

const ipAddress = z.string().min(2).max(64).regex(/^[0-9a-fA-F:.]+(%[\w.-]+)?$/, 'expected an IPv4 or IPv6 address');
const prefix = z.string().min(4).max(68).regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'expected a prefix addr/len');
const family = z.union([z.literal(4), z.literal(6)]);
const u32 = z.number().int().min(0).max(0xffffffff);
const ifName = z.string().min(1).max(64);

// ---------------------------------------------------------------------------- rtnetlink

/** One next hop of a multipath route (RTA_MULTIPATH, struct rtnexthop). */
export const NextHop = z.object({
  gateway: ipAddress.optional(),
  /** RTA_VIA: a gateway of another family (e.g. IPv6 next hop for an IPv4 route). */
  via: ipAddress.optional(),
  oif: ifName.optional(),
  oifIndex: u32.optional(),
  /** rtnh_hops + 1, as `ip route` prints it. */
  weight: z.number().int().min(1).max(256),
  flags: z.array(z.string()).optional(),
});

/** A route as in `ip -j route show table all` (struct rtmsg + RTA_* attributes). */
export const Route = z.object({
  family,
  /** Routing table id (RTA_TABLE when present, else rtm_table): 254 main, 255 local, 253 default. */
  table: u32,
  /** Destination prefix; `0.0.0.0/0` or `::/0` for a default route. */
  dst: prefix,
  /** Route type (RTN_*): unicast, local, broadcast, anycast, multicast, blackhole, unreachable, prohibit, throw, nat. */
  type: z.string().min(1).max(32),
  /** Routing protocol (RTPROT_*): kernel, boot, static, ra, dhcp, bgp, ospf, … or the number. */
  protocol: z.string().min(1).max(32),
  /** Scope (RT_SCOPE_*): universe, site, link, host, nowhere, or the number. */
  scope: z.string().min(1).max(32),
  /** RTA_PRIORITY (the metric); absent means 0. */
  priority: u32.optional(),
  /** RTA_PREFSRC: the preferred source address (`src` in iproute2). */
  prefsrc: ipAddress.optional(),
  /** RTA_SRC with rtm_src_len: source prefix (`from` in iproute2). */
  src: prefix.optional(),
  gateway: ipAddress.optional(),
  via: ipAddress.optional(),
  oif: ifName.optional(),
  oifIndex: u32.optional(),
  /** RTA_NH_ID: the route uses a nexthop object. */
  nhId: u32.optional(),
  /** RTA_MARK (used by route lookups, RTM_GETROUTE). */
  mark: u32.optional(),
  /** rtm_tos / dsfield. */
  tos: z.number().int().min(0).max(255).optional(),
  multipath: z.array(NextHop).optional(),
  /** RTM_F_* / RTNH_F_* flags, e.g. `linkdown`, `onlink`. */
  flags: z.array(z.string()).optional(),
});

/** An address as in `ip -j addr` (struct ifaddrmsg + IFA_*). */
export const Address = z.object({
  family,
  ifIndex: u32,
  ifName: ifName.optional(),
  /** IFA_LOCAL when present (the address of this host), else IFA_ADDRESS. */
  address: ipAddress,
  prefixLen: z.number().int().min(0).max(128),
  /** IFA_ADDRESS when it differs from IFA_LOCAL (the peer of a point-to-point link). */
  peer: ipAddress.optional(),
  scope: z.string().min(1).max(32),
  /** IFA_F_* names: permanent, secondary, tentative, dadfailed, deprecated, noprefixroute, … */
  flags: z.array(z.string()),
  label: z.string().max(64).optional(),
});

/** A link as in `ip -j link` (struct ifinfomsg + IFLA_*). */
export const Link = z.object({
  ifIndex: u32,
  ifName,
  /** IFF_* names: UP, LOWER_UP, LOOPBACK, NOARP, … */
  flags: z.array(z.string()),
  /** IFLA_OPERSTATE: UNKNOWN, NOTPRESENT, DOWN, LOWERLAYERDOWN, TESTING, DORMANT, UP. */
  operstate: z.string().min(1).max(32),
  mtu: u32.optional(),
  /** IFLA_INFO_KIND: veth, dummy, bridge, vrf, …; absent for physical and loopback. */
  kind: z.string().max(32).optional(),
  linkType: z.string().max(32).optional(),
  address: z.string().max(64).optional(),
  master: ifName.optional(),
});

/** A policy routing rule as in `ip -j rule` (struct fib_rule_hdr + FRA_*). */
export const Rule = z.object({
  family,
  priority: u32,
  table: u32.optional(),
  /** FR_ACT_*: to_tbl, goto, nop, blackhole, unreachable, prohibit. */
  action: z.string().min(1).max(32),
  src: prefix.optional(),
  dst: prefix.optional(),
  iif: ifName.optional(),
  oif: ifName.optional(),
  fwmark: u32.optional(),
  fwmask: u32.optional(),
  tos: z.number().int().min(0).max(255).optional(),
  invert: z.boolean().optional(),
  suppressPrefixLen: z.number().int().min(-1).max(128).optional(),
});

export const RouteChange = z.object({ route: Route });
export const RouteReplaced = z.object({ old: Route, route: Route });
export const AddressChange = z.object({ address: Address });
export const LinkChange = z.object({ link: Link });
export const LinkChanged = z.object({ old: Link, link: Link });
export const RuleChange = z.object({ rule: Rule });

/**
 * A routing storm, coalesced at the source: past `rtnetlink.coalesce.thresholdPerS` route
 * changes a second, the agent stops emitting route.added/removed/replaced one by one and emits
 * one of these every `rtnetlink.coalesce.summaryIntervalMs` (and just before any other event, so
 * the stream stays in time order), until the rate falls below the threshold: then a last one with
 * `final: true`, and individual route events resume. Counts are exact; the routes themselves are
 * only sampled (`examples`). Addresses, links and rules are never coalesced.
 */
export const RouteSummary = z.object({
  /** Time of the storm's first coalesced change (the same in every summary of one storm). */
  stormStartUs: z.number().int().positive(),
  /** 1 for the storm's first summary, +1 for each next one. */
  part: z.number().int().positive(),
  /** Time span of the changes this summary counts (µs since epoch); equal when it counts none. */
  firstUs: z.number().int().positive(),
  lastUs: z.number().int().positive(),
  /** The storm is over: route changes are emitted one by one again after this event. */
  final: z.boolean(),
  /** Route changes this summary counts, all tables and families. */
  changes: z.number().int().nonnegative(),
  /** Exact counts per routing table and family (mirroring the route.* kinds). */
  tables: z
    .array(
      z.object({
        family,
        table: u32,
        added: z.number().int().nonnegative(),
        removed: z.number().int().nonnegative(),
        replaced: z.number().int().nonnegative(),
      }),
    )
    .max(1024),
  /** The first `rtnetlink.coalesce.examples` changes this summary counts, in order. */
  examples: z.array(z.object({ op: z.enum(['added', 'removed', 'replaced']), route: Route })).max(100),
  /** The agent's mirror after these changes: route count and order-independent hash (docs/rtnetlink.md). */
  digest: z.object({ routes: z.number().int().nonnegative(), hash: z.string().regex(/^[0-9a-f]{8}$/) }).optional(),
});

/** The mirror was (re)built from a dump: at start-up, or after lost messages. */
export const NetlinkResync = z.object({
  reason: z.enum(['startup', 'overflow', 'sequence-gap', 'socket-reset', 'manual']),
  /** When the gap was noticed (µs since epoch); absent at start-up. */
  gapDetectedAtUs: z.number().int().nonnegative().optional(),
  /** Changes found by diffing the dump against the mirror, each also emitted as its own event. */
  recovered: z.object({
    added: z.number().int().nonnegative(),
    removed: z.number().int().nonnegative(),
    replaced: z.number().int().nonnegative(),
  }),
  /** State size after the resync. */
  counts: z.object({
    routes: z.number().int().nonnegative(),
    addresses: z.number().int().nonnegative(),
    links: z.number().int().nonnegative(),
    rules: z.number().int().nonnegative(),
  }),
  durationMs: z.number().nonnegative().optional(),
});

// ---------------------------------------------------------------------------- vici

/** A CHILD_SA as VICI reports it inside an IKE_SA section (keys renamed to camelCase). */
export const ChildSa = z.object({
  name: z.string().min(1).max(255),
  uniqueId: z.string().min(1).max(32),
  reqId: z.string().max(32).optional(),
  state: z.string().min(1).max(32),
  mode: z.string().max(32).optional(),
  protocol: z.string().max(16).optional(),
  spiIn: z.string().max(16).optional(),
  spiOut: z.string().max(16).optional(),
  localTs: z.array(z.string().max(128)).optional(),
  remoteTs: z.array(z.string().max(128)).optional(),
  installTimeS: z.number().int().nonnegative().optional(),
  rekeyTimeS: z.number().int().nonnegative().optional(),
  lifeTimeS: z.number().int().nonnegative().optional(),
});

/** An IKE_SA as VICI reports it (list-sas, ike-updown, …; keys renamed to camelCase). */
export const IkeSa = z.object({
  /** The connection name (the section name in VICI). */
  name: z.string().min(1).max(255),
  uniqueId: z.string().min(1).max(32),
  version: z.number().int().min(1).max(2).optional(),
  state: z.string().min(1).max(32),
  localHost: ipAddress.optional(),
  localPort: z.number().int().min(0).max(65535).optional(),
  localId: z.string().max(512).optional(),
  remoteHost: ipAddress.optional(),
  remotePort: z.number().int().min(0).max(65535).optional(),
  remoteId: z.string().max(512).optional(),
  /** True when this host is the original initiator of the IKE_SA (VICI `initiator = yes`). */
  initiator: z.boolean().optional(),
  initiatorSpi: z.string().max(16).optional(),
  responderSpi: z.string().max(16).optional(),
  natLocal: z.boolean().optional(),
  natRemote: z.boolean().optional(),
  establishedS: z.number().int().nonnegative().optional(),
  rekeyTimeS: z.number().int().nonnegative().optional(),
  reauthTimeS: z.number().int().nonnegative().optional(),
  tasksQueued: z.array(z.string().max(64)).optional(),
  tasksActive: z.array(z.string().max(64)).optional(),
  tasksPassive: z.array(z.string().max(64)).optional(),
  childSas: z.array(ChildSa),
});

/** A configured connection (list-conns), the parts that decide roaming behaviour. */
export const Connection = z.object({
  name: z.string().min(1).max(255),
  /** local_addrs exactly as configured: literal IPs, hostnames, %any, ranges or subnets. */
  localAddrs: z.array(z.string().max(255)),
  remoteAddrs: z.array(z.string().max(255)),
  version: z.string().max(16).optional(),
  reauthTimeS: z.number().int().nonnegative().optional(),
  rekeyTimeS: z.number().int().nonnegative().optional(),
  unique: z.string().max(16).optional(),
  children: z.array(z.string().max(255)).optional(),
});

export const IkeUpdown = z.object({ up: z.boolean(), ikeSa: IkeSa });
export const IkeRekey = z.object({ old: IkeSa, new: IkeSa });
/** ike-update: the addresses of an IKE_SA change (MOBIKE or NAT); new endpoints given. */
export const IkeUpdate = z.object({
  ikeSa: IkeSa,
  newLocalHost: ipAddress.optional(),
  newLocalPort: z.number().int().min(0).max(65535).optional(),
  newRemoteHost: ipAddress.optional(),
  newRemotePort: z.number().int().min(0).max(65535).optional(),
});
export const ChildUpdown = z.object({ up: z.boolean(), ikeSa: IkeSa });
export const ChildRekey = z.object({ ikeSa: IkeSa, old: ChildSa.optional(), new: ChildSa.optional() });
/** A charon log line (VICI delivers levels 0–1 only). */
export const ViciLog = z.object({
  group: z.string().min(1).max(16),
  level: z.number().int().min(-1).max(4),
  thread: z.number().int().nonnegative(),
  ikeSaName: z.string().max(255).optional(),
  ikeSaUniqueId: z.string().max(32).optional(),
  msg: z.string().max(65535),
});
/** The state of every IKE_SA and every configured connection, read with list-sas and list-conns. */
export const SaSnapshot = z.object({
  reason: z.enum(['connect', 'reconnect', 'periodic', 'request']),
  ikeSas: z.array(IkeSa),
  connections: z.array(Connection),
  charonVersion: z.string().max(128).optional(),
});
/** The agent's VICI session changed state. */
export const ViciConnection = z.object({
  state: z.enum(['connected', 'disconnected']),
  uri: z.string().max(1024),
  reason: z.string().max(1024).optional(),
  /** Consecutive failed attempts so far (disconnected), or before this success (connected). */
  attempts: z.number().int().nonnegative().optional(),
});

// ---------------------------------------------------------------------------- path analyzer

export const Fix = z.object({
  /** 1 = changes the least. */
  rank: z.number().int().min(1),
  kind: z.enum(['route', 'setting', 'config']),
  /** The exact command or setting line, e.g. `ip route add 198.51.100.7/32 via 10.0.0.1 dev eth0 src 192.0.2.1`. */
  command: z.string().min(1).max(2048),
  why: z.string().max(2048),
  sideEffects: z.string().max(2048).optional(),
});

export const Verdict = z.enum(['immune', 'valid', 'at-risk', 'unknown']);

/**
 * An IKE_SA went from at risk to valid. `fix` is the route that now keeps the path (`ip
 * route` syntax); `appliedBy` is `roamwatch` when a `roamwatch doctor --apply` journal entry
 * in place made this change for these addresses (`journalId`), `by-hand` when there is none,
 * `unknown` when the journal could not be read.
 */
export const Remediation = z.object({
  fix: z.string().min(1).max(1024),
  appliedBy: z.enum(['roamwatch', 'by-hand', 'unknown']),
  journalId: z.string().max(64).optional(),
});

/** The path analyzer's verdict for one IKE_SA changed (or was computed for the first time). */
export const PathVerdict = z.object({
  ikeSaName: z.string().min(1).max(255),
  uniqueId: z.string().min(1).max(32),
  localHost: ipAddress.optional(),
  remoteHost: ipAddress.optional(),
  verdict: Verdict,
  previous: Verdict.optional(),
  /** Machine-readable reason code, e.g. `static-local-address`, `route-with-prefsrc`, `no-route-leads-to-source`. */
  reasonCode: z.string().min(1).max(64),
  reason: z.string().max(4096),
  /** What charon will do on the next roam event when at risk: reauth, mobike-update, stale, none. */
  consequence: z.enum(['reauth', 'mobike-update', 'mark-stale', 'none']).optional(),
  /** The route that keeps the path valid (or that charon would pick), in `ip route` syntax. */
  route: z.string().max(1024).optional(),
  fixes: z.array(Fix),
  /** Set on an at-risk → valid transition: what made the path valid, and who applied it. */
  remediation: Remediation.optional(),
});

// ---------------------------------------------------------------------------- agent

const sourceState = z.enum(['connected', 'connecting', 'disconnected', 'disabled']);

/**
 * `streamOrder: 'time'` (on agent.started and agent.status): this agent stamps its events in
 * event-time order — a larger `seq` never has a smaller `timeUs` — so a reader may release the
 * host's events as they arrive instead of waiting a fixed lateness. Absent: no such promise
 * (agents before this field); readers fall back to their allowed lateness.
 */
export const StreamOrder = z.literal('time');

export const AgentStatus = z.object({
  agentVersion: z.string().max(64),
  uptimeS: z.number().nonnegative(),
  sources: z.object({
    rtnetlink: z.object({
      state: sourceState,
      resyncs: z.number().int().nonnegative().optional(),
      lastError: z.string().max(1024).optional(),
      /** Route storms coalesced since start, and the route changes counted into their summaries instead of emitted. */
      storms: z.number().int().nonnegative().optional(),
      coalescedChanges: z.number().int().nonnegative().optional(),
    }),
    vici: z.object({ state: sourceState, uri: z.string().max(1024).optional(), reconnects: z.number().int().nonnegative().optional(), lastError: z.string().max(1024).optional() }),
  }),
  sink: z.object({
    kind: z.string().max(32),
    state: z.enum(['ok', 'degraded', 'down']),
    lastError: z.string().max(1024).optional(),
  }),
  spool: z.object({
    bytes: z.number().int().nonnegative(),
    events: z.number().int().nonnegative(),
    limitBytes: z.number().int().nonnegative(),
    /** Events dropped at the spool bound since start (see `agent.gap`). */
    droppedEvents: z.number().int().nonnegative(),
    /** The disk refuses writes (full): new events are held in memory only, `heldBytes` of them. */
    holding: z.boolean().optional(),
    heldBytes: z.number().int().nonnegative().optional(),
    /** The bound in force when below limitBytes (the filesystem is nearly full: spool.minFreeBytes). */
    effectiveLimitBytes: z.number().int().nonnegative().optional(),
  }),
  eventsEmitted: z.number().int().nonnegative(),
  eventsSent: z.number().int().nonnegative(),
  eventsDropped: z.number().int().nonnegative(),
  /** Age of the oldest event not yet acknowledged by the sink. */
  lagMs: z.number().nonnegative(),
  ikeSas: z.number().int().nonnegative().optional(),
  cpuUserS: z.number().nonnegative().optional(),
  cpuSystemS: z.number().nonnegative().optional(),
  rssBytes: z.number().int().nonnegative().optional(),
  streamOrder: StreamOrder.optional(),
});

/**
 * `count` events are lost for good; here is why.
 *
 * - Losses of stamped events (the spool: `spool-full`, `spool-corrupt`, `disk-full`) name the
 *   lost sequence numbers [fromSeq, toSeq].
 * - Losses before stamping (`vici-queue-full`: charon's events dropped by a full VICI queue;
 *   `invalid-payload`: an adapter produced a payload that breaks the contract) never had sequence numbers: fromSeq/toSeq are absent, `source` says where, and the loss
 *   happened between the previous event of that source and this gap event.
 */
export const AGENT_GAP_REASONS = ['spool-full', 'spool-corrupt', 'disk-full', 'buffer-overflow', 'vici-queue-full', 'invalid-payload'] as const;
export const AgentGap = z
  .object({
    fromSeq: z.number().int().positive().optional(),
    toSeq: z.number().int().positive().optional(),
    reason: z.enum(AGENT_GAP_REASONS),
    count: z.number().int().positive(),
    /** Where the events were lost (default: the spool). */
    source: z.enum(['spool', 'vici', 'rtnetlink', 'agent']).optional(),
  })
  .refine((g) => (g.fromSeq === undefined) === (g.toSeq === undefined) && (g.fromSeq === undefined || g.toSeq! >= g.fromSeq), {
    message: 'fromSeq and toSeq come together, with fromSeq <= toSeq',
  })
  .refine((g) => (g.source !== undefined && g.source !== 'spool') || g.fromSeq !== undefined, {
    message: 'a spool gap names its sequence numbers (fromSeq, toSeq)',
  });

export const AgentLifecycle = z.object({
  agentVersion: z.string().max(64),
  pid: z.number().int().positive().optional(),
  /** Why the agent stops (stopping events only). */
  reason: z.string().max(256).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  streamOrder: StreamOrder.optional(),
});

export type Route = z.infer<typeof Route>;
export type NextHop = z.infer<typeof NextHop>;
export type Address = z.infer<typeof Address>;
export type Link = z.infer<typeof Link>;
export type Rule = z.infer<typeof Rule>;
export type NetlinkResync = z.infer<typeof NetlinkResync>;
export type RouteSummary = z.infer<typeof RouteSummary>;
export type ChildSa = z.infer<typeof ChildSa>;
export type IkeSa = z.infer<typeof IkeSa>;
export type Connection = z.infer<typeof Connection>;
export type IkeUpdown = z.infer<typeof IkeUpdown>;
export type IkeRekey = z.infer<typeof IkeRekey>;
export type IkeUpdate = z.infer<typeof IkeUpdate>;
export type ChildUpdown = z.infer<typeof ChildUpdown>;
export type ChildRekey = z.infer<typeof ChildRekey>;
export type ViciLog = z.infer<typeof ViciLog>;
export type SaSnapshot = z.infer<typeof SaSnapshot>;
export type ViciConnection = z.infer<typeof ViciConnection>;
export type Fix = z.infer<typeof Fix>;
export type Verdict = z.infer<typeof Verdict>;
export type Remediation = z.infer<typeof Remediation>;
export type PathVerdict = z.infer<typeof PathVerdict>;
export type AgentStatus = z.infer<typeof AgentStatus>;
export type AgentGap = z.infer<typeof AgentGap>;
export type AgentLifecycle = z.infer<typeof AgentLifecycle>;
