export * from './vici/index.js';
