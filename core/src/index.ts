export * from './events/index.js';
export * from './errors.js';
export * from './log.js';
export * from './terminal.js';
