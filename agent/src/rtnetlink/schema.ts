/**
 * rtnetlink wire schema, described once.
 *
 * Every number here comes from the kernel UAPI headers:
 *   include/uapi/linux/netlink.h    (struct nlmsghdr, NLMSG_*, NLM_F_*)
 *   include/uapi/linux/rtnetlink.h  (RTM_*, struct rtmsg, RTA_*, RTN_*, RTPROT_*, RT_SCOPE_*,
 *                                    RT_TABLE_*, struct rtnexthop, RTNH_F_*, struct rtvia, RTNLGRP_*)
 *   include/uapi/linux/if_addr.h    (struct ifaddrmsg, IFA_*, IFA_F_*)
 *   include/uapi/linux/if_link.h    (IFLA_*, IF_OPER_*) and linux/if.h (struct ifinfomsg, IFF_*)
 *   include/uapi/linux/fib_rules.h  (struct fib_rule_hdr, FRA_*, FR_ACT_*)
 *
 * The parser (parse.ts) is driven by the MESSAGES table: header fields at fixed offsets
 * and, for each attribute type number, the field it fills and how it is decoded.
 * Attributes not listed are skipped (they are valid, we just do not need them).
 */

/** struct nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid (netlink.h). */
export const NLMSG_HDRLEN = 16;
/** struct nlattr / rtattr: u16 len, u16 type (netlink.h, rtnetlink.h); 4-byte aligned. */
export const NLA_HDRLEN = 4;

/** Netlink control message types (netlink.h). */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** nlmsg_flags bits (netlink.h). On notifications the NEW-request bits are echoed. */
export const NLM_F = {
  REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, ECHO: 0x8, DUMP_INTR: 0x10, DUMP_FILTERED: 0x20,
  REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800,
} as const;

/** rtnetlink message types (rtnetlink.h). */
export const RTM = {
  NEWLINK: 16, DELLINK: 17, NEWADDR: 20, DELADDR: 21,
  NEWROUTE: 24, DELROUTE: 25, NEWRULE: 32, DELRULE: 33,
} as const;

/** Multicast groups the source joins (rtnetlink.h, enum rtnetlink_groups). */
export const RTNLGRP = {
  LINK: 1, IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV4_RULE: 8, IPV6_IFADDR: 9, IPV6_ROUTE: 11, IPV6_RULE: 19,
} as const;

/** Address families (linux/socket.h). */
export const AF = { UNSPEC: 0, INET: 2, INET6: 10 } as const;

/** rtm_table values (rtnetlink.h, enum rt_class_t). Tables >= 256 arrive as COMPAT + RTA_TABLE. */
export const RT_TABLE = { UNSPEC: 0, COMPAT: 252, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;

/** rtm_type (rtnetlink.h, RTN_*). */
export const RTN = {
  UNSPEC: 0, UNICAST: 1, LOCAL: 2, BROADCAST: 3, ANYCAST: 4, MULTICAST: 5, BLACKHOLE: 6,
  UNREACHABLE: 7, PROHIBIT: 8, THROW: 9, NAT: 10, XRESOLVE: 11,
} as const;

/** rtm_protocol (rtnetlink.h, RTPROT_*; the common ones). */
export const RTPROT = {
  UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4, RA: 9, DHCP: 16, BGP: 186, ISIS: 187,
  OSPF: 188, RIP: 189, EIGRP: 192,
} as const;

/** rtm_scope (rtnetlink.h, enum rt_scope_t). */
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;

/** rtm_flags (rtnetlink.h). */
export const RTM_F = { NOTIFY: 0x100, CLONED: 0x200, EQUALIZE: 0x400, PREFIX: 0x800 } as const;

/** rtnh_flags (rtnetlink.h). */
export const RTNH_F = { DEAD: 1, PERVASIVE: 2, ONLINK: 4, OFFLOAD: 8, LINKDOWN: 16, UNRESOLVED: 32, TRAP: 64 } as const;

/** ifa_flags (if_addr.h). */
export const IFA_F = {
  SECONDARY: 0x1, NODAD: 0x2, OPTIMISTIC: 0x4, DADFAILED: 0x8, HOMEADDRESS: 0x10, DEPRECATED: 0x20,
  TENTATIVE: 0x40, PERMANENT: 0x80, MANAGETEMPADDR: 0x100, NOPREFIXROUTE: 0x200, MCAUTOJOIN: 0x400,
  STABLE_PRIVACY: 0x800,
} as const;

/** ifi_flags (linux/if.h, enum net_device_flags). */
export const IFF = {
  UP: 0x1, BROADCAST: 0x2, DEBUG: 0x4, LOOPBACK: 0x8, POINTOPOINT: 0x10, NOTRAILERS: 0x20,
  RUNNING: 0x40, NOARP: 0x80, PROMISC: 0x100, ALLMULTI: 0x200, MASTER: 0x400, SLAVE: 0x800,
  MULTICAST: 0x1000, PORTSEL: 0x2000, AUTOMEDIA: 0x4000, DYNAMIC: 0x8000, LOWER_UP: 0x10000,
  DORMANT: 0x20000, ECHO: 0x40000,
} as const;

/** IFLA_OPERSTATE values (if_link.h / linux/if.h, IF_OPER_*), indexed by number. */
export const OPERSTATE = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'] as const;
export type OperState = (typeof OPERSTATE)[number];

/** fib_rule_hdr action (fib_rules.h, FR_ACT_*). */
export const FR_ACT = { UNSPEC: 0, TO_TBL: 1, GOTO: 2, NOP: 3, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8 } as const;

/** How an attribute payload is decoded. */
export type AttrCodec =
  | 'u8' | 'u32' | 'addr' | 'string' | 'multipath' | 'via';

/** One attribute: its number in the kernel enum, the field it fills, how it decodes. */
export interface AttrSpec {
  readonly type: number;
  readonly name: string;
  readonly field: string;
  readonly codec: AttrCodec;
}

export interface HeaderField {
  readonly field: string;
  readonly offset: number;
  readonly size: 1 | 2 | 4;
}

export interface MessageSpec {
  readonly kind: 'route' | 'address' | 'link' | 'rule';
  readonly struct: string;
  readonly header: string;
  /** Size of the family header that follows nlmsghdr. */
  readonly headerLen: number;
  readonly fields: readonly HeaderField[];
  readonly attrs: readonly AttrSpec[];
}

/** struct rtmsg (rtnetlink.h) and the RTA_* attributes that matter. */
export const ROUTE_SPEC: MessageSpec = {
  kind: 'route', struct: 'rtmsg', header: 'include/uapi/linux/rtnetlink.h', headerLen: 12,
  fields: [
    { field: 'family', offset: 0, size: 1 }, { field: 'dstLen', offset: 1, size: 1 },
    { field: 'srcLen', offset: 2, size: 1 }, { field: 'tos', offset: 3, size: 1 },
    { field: 'table', offset: 4, size: 1 }, { field: 'protocol', offset: 5, size: 1 },
    { field: 'scope', offset: 6, size: 1 }, { field: 'type', offset: 7, size: 1 },
    { field: 'rtmFlags', offset: 8, size: 4 },
  ],
  attrs: [
    { type: 1, name: 'RTA_DST', field: 'dst', codec: 'addr' },
    { type: 2, name: 'RTA_SRC', field: 'src', codec: 'addr' },
    { type: 4, name: 'RTA_OIF', field: 'oif', codec: 'u32' },
    { type: 5, name: 'RTA_GATEWAY', field: 'gateway', codec: 'addr' },
    { type: 6, name: 'RTA_PRIORITY', field: 'priority', codec: 'u32' },
    { type: 7, name: 'RTA_PREFSRC', field: 'prefsrc', codec: 'addr' },
    { type: 9, name: 'RTA_MULTIPATH', field: 'nexthops', codec: 'multipath' },
    { type: 15, name: 'RTA_TABLE', field: 'table', codec: 'u32' },
    { type: 16, name: 'RTA_MARK', field: 'mark', codec: 'u32' },
    { type: 18, name: 'RTA_VIA', field: 'via', codec: 'via' },
    { type: 20, name: 'RTA_PREF', field: 'pref', codec: 'u8' },
    { type: 30, name: 'RTA_NH_ID', field: 'nhId', codec: 'u32' },
  ],
};

/** Attributes inside one struct rtnexthop (u16 len, u8 flags, u8 hops, i32 ifindex). */
export const RTNEXTHOP_LEN = 8;
export const NEXTHOP_ATTRS: readonly AttrSpec[] = [
  { type: 5, name: 'RTA_GATEWAY', field: 'gateway', codec: 'addr' },
  { type: 18, name: 'RTA_VIA', field: 'via', codec: 'via' },
];

/** struct ifaddrmsg (if_addr.h) and IFA_* attributes. */
export const ADDRESS_SPEC: MessageSpec = {
  kind: 'address', struct: 'ifaddrmsg', header: 'include/uapi/linux/if_addr.h', headerLen: 8,
  fields: [
    { field: 'family', offset: 0, size: 1 }, { field: 'prefixLen', offset: 1, size: 1 },
    { field: 'flags', offset: 2, size: 1 }, { field: 'scope', offset: 3, size: 1 },
    { field: 'index', offset: 4, size: 4 },
  ],
  attrs: [
    { type: 1, name: 'IFA_ADDRESS', field: 'address', codec: 'addr' },
    { type: 2, name: 'IFA_LOCAL', field: 'local', codec: 'addr' },
    { type: 3, name: 'IFA_LABEL', field: 'label', codec: 'string' },
    { type: 4, name: 'IFA_BROADCAST', field: 'broadcast', codec: 'addr' },
    { type: 8, name: 'IFA_FLAGS', field: 'flags', codec: 'u32' },
    { type: 9, name: 'IFA_RT_PRIORITY', field: 'rtPriority', codec: 'u32' },
  ],
};

/** struct ifinfomsg (linux/if_link.h via rtnetlink.h) and IFLA_* attributes. */
export const LINK_SPEC: MessageSpec = {
  kind: 'link', struct: 'ifinfomsg', header: 'include/uapi/linux/if_link.h', headerLen: 16,
  fields: [
    { field: 'family', offset: 0, size: 1 }, { field: 'linkType', offset: 2, size: 2 },
    { field: 'index', offset: 4, size: 4 }, { field: 'flags', offset: 8, size: 4 },
    { field: 'change', offset: 12, size: 4 },
  ],
  attrs: [
    { type: 3, name: 'IFLA_IFNAME', field: 'ifname', codec: 'string' },
    { type: 4, name: 'IFLA_MTU', field: 'mtu', codec: 'u32' },
    { type: 10, name: 'IFLA_MASTER', field: 'master', codec: 'u32' },
    { type: 16, name: 'IFLA_OPERSTATE', field: 'operstate', codec: 'u8' },
  ],
};

/** struct fib_rule_hdr (fib_rules.h) and FRA_* attributes. */
export const RULE_SPEC: MessageSpec = {
  kind: 'rule', struct: 'fib_rule_hdr', header: 'include/uapi/linux/fib_rules.h', headerLen: 12,
  fields: [
    { field: 'family', offset: 0, size: 1 }, { field: 'dstLen', offset: 1, size: 1 },
    { field: 'srcLen', offset: 2, size: 1 }, { field: 'tos', offset: 3, size: 1 },
    { field: 'table', offset: 4, size: 1 }, { field: 'action', offset: 7, size: 1 },
    { field: 'ruleFlags', offset: 8, size: 4 },
  ],
  attrs: [
    { type: 1, name: 'FRA_DST', field: 'dst', codec: 'addr' },
    { type: 2, name: 'FRA_SRC', field: 'src', codec: 'addr' },
    { type: 3, name: 'FRA_IIFNAME', field: 'iifname', codec: 'string' },
    { type: 4, name: 'FRA_GOTO', field: 'goto', codec: 'u32' },
    { type: 6, name: 'FRA_PRIORITY', field: 'priority', codec: 'u32' },
    { type: 10, name: 'FRA_FWMARK', field: 'fwmark', codec: 'u32' },
    { type: 15, name: 'FRA_TABLE', field: 'table', codec: 'u32' },
    { type: 16, name: 'FRA_FWMASK', field: 'fwmask', codec: 'u32' },
    { type: 17, name: 'FRA_OIFNAME', field: 'oifname', codec: 'string' },
  ],
};

/** Which spec handles which nlmsg_type, and whether it is a NEW or a DEL. */
export const MESSAGE_TYPES: ReadonlyMap<number, { spec: MessageSpec; op: 'new' | 'del' }> = new Map([
  [RTM.NEWROUTE, { spec: ROUTE_SPEC, op: 'new' as const }],
  [RTM.DELROUTE, { spec: ROUTE_SPEC, op: 'del' as const }],
  [RTM.NEWADDR, { spec: ADDRESS_SPEC, op: 'new' as const }],
  [RTM.DELADDR, { spec: ADDRESS_SPEC, op: 'del' as const }],
  [RTM.NEWLINK, { spec: LINK_SPEC, op: 'new' as const }],
  [RTM.DELLINK, { spec: LINK_SPEC, op: 'del' as const }],
  [RTM.NEWRULE, { spec: RULE_SPEC, op: 'new' as const }],
  [RTM.DELRULE, { spec: RULE_SPEC, op: 'del' as const }],
]);

// ---- Typed results: a discriminated union on `kind`. ----

export interface Nexthop {
  /** rtnh_ifindex */
  oif: number;
  /** rtnh_hops + 1, as `ip route` prints it. */
  weight: number;
  /** rtnh_flags (RTNH_F_*). */
  flags: number;
  gateway: string | undefined;
  via: string | undefined;
}

interface Common {
  op: 'new' | 'del';
  /** nlmsg_flags of the message (NLM_F_REPLACE etc. on notifications). */
  nlFlags: number;
  /** nlmsg_seq and nlmsg_pid: who caused the change (0 for the kernel). */
  seq: number;
  pid: number;
}

export interface RouteMessage extends Common {
  kind: 'route';
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** rtm_table, replaced by RTA_TABLE when present (tables >= 256). */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  rtmFlags: number;
  dst: string | undefined;
  src: string | undefined;
  oif: number | undefined;
  gateway: string | undefined;
  priority: number | undefined;
  prefsrc: string | undefined;
  nexthops: Nexthop[] | undefined;
  mark: number | undefined;
  via: string | undefined;
  pref: number | undefined;
  nhId: number | undefined;
}

export interface AddressMessage extends Common {
  kind: 'address';
  family: number;
  prefixLen: number;
  /** IFA_FLAGS when present (32 bits), else ifa_flags (8 bits). */
  flags: number;
  scope: number;
  index: number;
  address: string | undefined;
  local: string | undefined;
  label: string | undefined;
  broadcast: string | undefined;
  rtPriority: number | undefined;
}

export interface LinkMessage extends Common {
  kind: 'link';
  family: number;
  linkType: number;
  index: number;
  flags: number;
  change: number;
  ifname: string | undefined;
  mtu: number | undefined;
  master: number | undefined;
  operstate: number | undefined;
}

export interface RuleMessage extends Common {
  kind: 'rule';
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  action: number;
  ruleFlags: number;
  dst: string | undefined;
  src: string | undefined;
  iifname: string | undefined;
  oifname: string | undefined;
  goto: number | undefined;
  priority: number | undefined;
  fwmark: number | undefined;
  fwmask: number | undefined;
}

/** NLMSG_DONE ends a dump. */
export interface DoneMessage { kind: 'done'; seq: number; flags: number }
/** NLMSG_ERROR: errno is negative as the kernel sends it (0 is an ACK). */
export interface ErrorMessage { kind: 'error'; seq: number; errno: number }
/** A message type this source does not handle (e.g. RTM_NEWNEIGH); not an error. */
export interface OtherMessage { kind: 'other'; type: number }
/** A message that could not be parsed; `bytes` holds the whole message as received. */
export interface InvalidMessage { kind: 'invalid'; reason: string; bytes: Uint8Array }

export type RtnlMessage =
  | RouteMessage | AddressMessage | LinkMessage | RuleMessage
  | DoneMessage | ErrorMessage | OtherMessage | InvalidMessage;
