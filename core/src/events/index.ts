export * from './payloads.js';
export * from './envelope.js';
export * from './validate.js';
export * from './factory.js';
export * from './ids.js';
export * from './clock.js';
export * from './examples.js';
export * from './doc.js';
