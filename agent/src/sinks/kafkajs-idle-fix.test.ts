/**
 * The idle-timer patch (kafkajs-idle-fix.ts) replaces one method of kafkajs' private
 * RequestQueue. It is only correct for the exact source it was written against, so kafkajs is
 * pinned (agent/package.json, processor/package.json: "2.2.4", no range) and these tests fail
 * loudly when the installed kafkajs is a different version or its RequestQueue changed: whoever
 * upgrades kafkajs must re-read `scheduleCheckPendingRequests`, `push` and `checkPendingRequests`
 * and then update the fingerprints below (or drop the patch if upstream fixed the busy timer).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { applyKafkajsIdleFix } from './kafkajs-idle-fix.js';

const require = createRequire(import.meta.url);
const PINNED = '2.2.4';
/** sha256 of `RequestQueue.prototype.scheduleCheckPendingRequests.toString()` in kafkajs 2.2.4. */
const SCHEDULE_SHA256 = '04347ea969c6f2e3754427c0cbaee0bd4ce947fbd82f7b6e027506a06dfc581a';

interface QueueProto {
  scheduleCheckPendingRequests(this: Record<string, unknown>): void;
}
const queueSource = (): string => readFileSync(require.resolve('kafkajs/src/network/requestQueue/index.js'), 'utf8');

describe('kafkajs idle-timer patch against the pinned kafkajs', () => {
  it('when the workspace is installed, then kafkajs is exactly the pinned version everywhere it is declared', () => {
    const installed = (require('kafkajs/package.json') as { version: string }).version;
    expect(installed, `kafkajs ${installed} is installed; the idle-timer patch was written for ${PINNED}`).toBe(PINNED);
    for (const pkg of ['../../package.json', '../../../processor/package.json']) {
      const declared = (JSON.parse(readFileSync(new URL(pkg, import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies['kafkajs'];
      expect(declared, `${pkg} must pin kafkajs exactly`).toBe(PINNED);
    }
  });

  it('when the patched method is read from the pinned kafkajs, then it is byte for byte the one the patch was written for', () => {
    // Read the original from a fresh module instance: the patch may already be applied to the cached one.
    const path = require.resolve('kafkajs/src/network/requestQueue/index.js');
    const cached = require.cache[path];
    delete require.cache[path];
    try {
      const fresh = require(path) as { prototype: QueueProto };
      const text = fresh.prototype.scheduleCheckPendingRequests.toString();
      expect(createHash('sha256').update(text).digest('hex'), `kafkajs RequestQueue.scheduleCheckPendingRequests changed:\n${text}`).toBe(SCHEDULE_SHA256);
    } finally {
      if (cached) require.cache[path] = cached;
      else delete require.cache[path];
    }
  });

  it('when a request is queued or answered, then kafkajs itself re-checks the queue (what makes skipping the idle timer safe)', () => {
    const src = queueSource();
    const body = (name: string) => src.slice(src.indexOf(`\n  ${name}(`), src.indexOf('\n  }\n', src.indexOf(`\n  ${name}(`)));
    expect(body('push')).toContain('this.scheduleCheckPendingRequests()');
    expect(body('fulfillRequest')).toContain('this.checkPendingRequests()');
  });

  it('when applied, then an idle queue schedules no timer and a queue with pending requests still does', () => {
    expect(applyKafkajsIdleFix()).toBe(true);
    const proto = (require('kafkajs/src/network/requestQueue/index.js') as { prototype: QueueProto }).prototype;
    const idle: Record<string, unknown> = { pending: [], throttledUntil: -1, throttleCheckTimeoutId: null, checkPendingRequests() {} };
    proto.scheduleCheckPendingRequests.call(idle);
    expect(idle['throttleCheckTimeoutId']).toBeNull();
    const busy: Record<string, unknown> = { pending: [{}], throttledUntil: -1, throttleCheckTimeoutId: null, checkPendingRequests() {} };
    proto.scheduleCheckPendingRequests.call(busy);
    expect(busy['throttleCheckTimeoutId']).not.toBeNull();
    clearTimeout(busy['throttleCheckTimeoutId'] as NodeJS.Timeout);
  });
});
