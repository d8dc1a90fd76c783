// Public surface of the strongSwan lab (see docs/lab.md).
export * from './lab.js';
export { checkLabPrerequisites, labCheck, labPrerequisiteProblems, INSTALL_HINT, LAB_INSTALL_COMMAND } from './prereq.js';
export { cleanupStaleLabs, type CleanupOptions } from './cleanup.js';
export { parseListSas, parsePretty, type ViciMessage, type ViciSection, type ViciValue } from './swanctl-output.js';
export { renderStrongswanConf, renderSwanctlConf } from './config.js';
export { LabExecError, run } from './exec.js';
export { availablePlugins, charonBuildProblems, charonVersion, defaultCharonSpec, labCharons, resolveCharon, strongswanCacheDir } from './charon.js';
export * from './fleet.js';
