/**
 * The path analyzer: charon's route lookup re-implemented, verdicts and fixes
 * (docs/path-analysis.md). Usable alone: `@roamwatch/agent/path` (takes the contract's
 * IkeSa/Connection types; loads neither kafkajs nor the spool nor the VICI client).
 */
export * from './analyze.js';
export * from './fixes.js';
export * from './ip.js';
export * from './lookup.js';
export * from './settings.js';
export * from './strongswan-conf.js';
export * from './evaluate.js';
export * from './ip-json.js';
export * from './watcher.js';
export * from './triggers.js';
export * from './remediate/index.js';
export * from './version-rules.js';
