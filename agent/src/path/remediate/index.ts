// Guided remediation (roamwatch doctor --apply/--undo/--persist): docs/path-analysis.md.
export * from './route-spec.js';
export * from './journal.js';
export * from './apply.js';
export * from './persist.js';
export * from './config-edit.js';
