export * from './analyze.js';
export * from './fixes.js';
export * from './ip.js';
export * from './lookup.js';
export * from './settings.js';
export * from './strongswan-conf.js';
