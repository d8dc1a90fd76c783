import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { updateEventsDoc } from './doc.js';

describe('docs/events.md', () => {
  it('when the contract changes, then the committed reference must be regenerated (npm run docs:events)', () => {
    const doc = readFileSync(new URL('../../../docs/events.md', import.meta.url), 'utf8');
    expect(updateEventsDoc(doc)).toBe(doc);
  });
});
