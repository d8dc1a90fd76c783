export * from './vici/index.js';
export * from './rtnetlink/index.js';
export * from './path/index.js';
export * from './agent/index.js';
export * from './sinks/index.js';
