export * from './vici/index.js';
export * from './rtnetlink/index.js';
