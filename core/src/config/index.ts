export * from './table.js';
export * from './load.js';
export * from './print.js';
export * from './groups.js';
