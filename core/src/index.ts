export * from './events/index.js';
export * from './errors.js';
export * from './log.js';
export * from './config/index.js';
export * from './redact.js';
export * from './backoff.js';
export * from './terminal.js';
export * from './kafka-errors.js';
