/**
 * rtnetlink source: routes, addresses, links and rules of the host's network namespace,
 * mirrored and streamed as normalized changes, with overflow-safe resync.
 * See docs/rtnetlink.md.
 */
export { RtnetlinkSource, RtnetlinkConfigError, RtnetlinkHelperError, DEFAULT_HELPER_PATH } from './source.js';
export type { RtnetlinkSourceOptions, RtnetlinkStats, RtnetlinkSourceEvents } from './source.js';
export { Mirror } from './mirror.js';
export type { MirrorCounts } from './mirror.js';
export { parseDatagram, parseAll, formatAddress } from './parse.js';
export { compareWithIp, linkFlagNames } from './compare.js';
export type { IpListings, Comparison } from './compare.js';
export { toContractEvent, resyncPayload, routePayload, addressPayload, linkPayload, rulePayload } from './contract.js';
export type { ContractEvent, IfNameOf } from './contract.js';
export * as rtnl from './schema.js';
export type {
  RouteMessage, AddressMessage, LinkMessage, RuleMessage, InvalidMessage, RtnlMessage, Nexthop,
} from './schema.js';
export type * from './state.js';
