/**
 * rtnetlink source: routes, addresses, links and rules of the host's network namespace,
 * mirrored and streamed as normalized changes, with overflow-safe resync.
 * See docs/rtnetlink.md. Usable alone: `@roamwatch/agent/rtnetlink`. The mapping of its
 * changes to roamwatch's event contract is the agent adapter's (agent/adapters/rtnetlink-contract.ts).
 */
export { RtnetlinkSource, RtnetlinkConfigError, RtnetlinkHelperError, DEFAULT_HELPER_PATH } from './source.js';
export type { RtnetlinkSourceOptions, RtnetlinkStats, RtnetlinkSourceEvents } from './source.js';
export { Mirror } from './mirror.js';
export type { MirrorCounts } from './mirror.js';
export { parseDatagram, parseAll, formatAddress } from './parse.js';
export { compareWithIp, linkFlagNames } from './compare.js';
export type { IpListings, Comparison } from './compare.js';
export * as rtnl from './schema.js';
export type {
  RouteMessage, AddressMessage, LinkMessage, RuleMessage, InvalidMessage, RtnlMessage, Nexthop,
} from './schema.js';
export type * from './state.js';
