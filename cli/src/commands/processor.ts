import { notBuilt } from './not-built.js';

export const { configure, run } = notBuilt('processor', 'processor');
