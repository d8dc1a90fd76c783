/**
 * Normalized kernel state records and change events of the rtnetlink source.
 * These are what the mirror holds (conceptually) and what consumers receive; they are
 * independent of the wire (see schema.ts) and of the event contract in @roamwatch/core
 * (see contract.ts for the conversion).
 */

export interface NexthopState {
  oif: number | undefined;
  gateway: string | undefined;
  via: string | undefined;
  weight: number;
}

export interface RouteState {
  family: 4 | 6;
  /** Full table id (RTA_TABLE when present), e.g. 254 main, 255 local. */
  table: number;
  /** Destination as CIDR, always with a prefix length: "0.0.0.0/0", "10.1.2.3/32". */
  dst: string;
  /** Source selector (RTA_SRC) as CIDR, IPv6 "from"; undefined when absent. */
  src: string | undefined;
  tos: number;
  /** RTA_PRIORITY (the metric); 0 when absent. */
  priority: number;
  /** RTN_* route type, protocol RTPROT_*, scope RT_SCOPE_* (numbers, see schema.ts). */
  type: number;
  protocol: number;
  scope: number;
  oif: number | undefined;
  gateway: string | undefined;
  via: string | undefined;
  /** RTA_PREFSRC: the source address charon's lookup finds for this route. */
  prefsrc: string | undefined;
  mark: number | undefined;
  nhId: number | undefined;
  /** RTA_PREF (IPv6 router preference), raw value. */
  pref: number | undefined;
  /** RTA_MULTIPATH nexthops, undefined for single-nexthop routes. */
  nexthops: readonly NexthopState[] | undefined;
}

export interface AddressState {
  family: 4 | 6;
  index: number;
  /** IFA_LOCAL (or IFA_ADDRESS when there is no IFA_LOCAL, as for IPv6). */
  local: string;
  prefixLen: number;
  /** IFA_ADDRESS when it differs from local (the peer of a point-to-point address). */
  peer: string | undefined;
  scope: number;
  /** IFA_F_* flags (32-bit, from IFA_FLAGS). */
  flags: number;
  label: string | undefined;
  broadcast: string | undefined;
}

export interface LinkState {
  index: number;
  ifname: string;
  /** IFF_* flags. */
  flags: number;
  /** IF_OPER_* number (see OPERSTATE in schema.ts). */
  operstate: number;
  mtu: number | undefined;
  master: number | undefined;
  linkType: number;
}

export interface RuleState {
  family: 4 | 6;
  priority: number;
  table: number;
  /** FR_ACT_* */
  action: number;
  src: string | undefined;
  dst: string | undefined;
  tos: number;
  fwmark: number | undefined;
  fwmask: number | undefined;
  iifname: string | undefined;
  oifname: string | undefined;
  goto: number | undefined;
  /** FIB_RULE_* flags (e.g. FIB_RULE_INVERT for `not`). */
  flags: number;
}

export type ChangeOp = 'added' | 'removed' | 'replaced';
/**
 * Why a change was emitted:
 * - `event`: a multicast notification from the kernel said so;
 * - `implied`: the kernel changed this without a notification (IPv4 routes flushed when
 *   their link goes down or away) and the mirror applied the kernel's rule;
 * - `resync`: found by diffing a fresh dump against the mirror after a gap.
 */
export type ChangeCause = 'event' | 'implied' | 'resync';

interface ChangeBase<K extends string, S> {
  kind: K;
  op: ChangeOp;
  cause: ChangeCause;
  /** Present for removed and replaced. */
  old: S | undefined;
  /** Present for added and replaced. */
  new: S | undefined;
}

export type RouteChange = ChangeBase<'route', RouteState>;
export type AddressChange = ChangeBase<'address', AddressState>;
export type LinkChange = ChangeBase<'link', LinkState>;
export type RuleChange = ChangeBase<'rule', RuleState>;
export type StateChange = RouteChange | AddressChange | LinkChange | RuleChange;

/** One per recovered gap: what was detected and how much the re-dump corrected. */
export interface ResyncReport {
  kind: 'resync';
  /** What revealed the gap. */
  reason: 'overflow' | 'truncated' | 'invalid' | 'helper-restart' | 'initial' | 'requested';
  /** Wall-clock ms when the gap was detected. */
  detectedAtMs: number;
  /** Wall-clock ms when the mirror was equal to the dump again. */
  completedAtMs: number;
  /** Number of changes the diff emitted (the events that had been lost). */
  changesRecovered: number;
  /** How many overflow frames (ENOBUFS) were seen while this resync was pending. */
  overflows: number;
}
