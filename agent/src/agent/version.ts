import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** The agent's version (from agent/package.json), carried by agent.status and agent.started. */
export const AGENT_VERSION: string = (require('../../package.json') as { version: string }).version;
