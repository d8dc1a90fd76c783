/**
 * @roamwatch/agent/contract: the adapters' mappings from the libraries' own types (VICI typed
 * views, rtnetlink normalized changes) to roamwatch's event contract. Loads neither kafkajs
 * nor the spool.
 */
export { childSaPayload, connectionPayload, ikeSaPayload, ikeUpdatePayload } from './vici-contract.js';
export { toContractEvent, resyncPayload, routePayload, addressPayload, linkPayload, rulePayload } from './rtnetlink-contract.js';
export type { ContractEvent, IfNameOf } from './rtnetlink-contract.js';
