/**
 * The agent: composition of sources into envelopes (createAgentSources), its configuration
 * (loadAgentConfig) and the composition root behind `roamwatch agent` (runAgent). See docs/agent.md.
 */
export { createAgentSources } from './sources.js';
export type { AgentSources, AgentSourcesOptions, Emit, SourceAdapter, SourceContext, SourceName, SourceReport, SourceState } from './sources.js';
export { CONFIG_KEYS, buildAgentConfig, envName, loadAgentConfig, summarizeConfig, SASL_PASSWORD_ENV } from './config.js';
export type { AgentConfig, AgentSecrets, ConfigKey, LoadConfigInput, LoadedConfig } from './config.js';
export { runAgent, createTransport } from './run.js';
export type { RunAgentOptions, RunningAgent } from './run.js';
export { createSourceAdapters, PathAdapter, RtnetlinkAdapter, ViciAdapter } from './adapters.js';
export { AGENT_VERSION } from './version.js';
export * from './adapters/contract.js';
