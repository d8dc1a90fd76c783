#!/usr/bin/env node
// Regenerates the per-kind reference in docs/events.md from the built contract (core/dist).
import { readFileSync, writeFileSync } from 'node:fs';
import { updateEventsDoc } from '../core/dist/index.js';

const path = new URL('../docs/events.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = updateEventsDoc(before);
if (after !== before) {
  writeFileSync(path, after);
  console.log('docs/events.md updated');
} else {
  console.log('docs/events.md is current');
}
