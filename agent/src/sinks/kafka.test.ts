import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyKafkajsIdleFix } from './kafkajs-idle-fix.js';
import { kafkaTlsConfig } from './kafka.js';

describe('kafka transport options', () => {
  it('when TLS files are given, then CA, certificate and key are read and verification stays on by default', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-tls-'));
    try {
      for (const f of ['ca', 'cert', 'key']) fs.writeFileSync(path.join(d, `${f}.pem`), `-----BEGIN ${f}-----\n`);
      const tls = kafkaTlsConfig({ caFile: path.join(d, 'ca.pem'), certFile: path.join(d, 'cert.pem'), keyFile: path.join(d, 'key.pem'), serverName: 'kafka.example' });
      expect(tls).toEqual({ ca: ['-----BEGIN ca-----\n'], cert: '-----BEGIN cert-----\n', key: '-----BEGIN key-----\n', servername: 'kafka.example', rejectUnauthorized: true });
      expect(kafkaTlsConfig(undefined)).toBeUndefined();
      expect(kafkaTlsConfig({ rejectUnauthorized: false })).toEqual({ rejectUnauthorized: false });
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('when the kafkajs idle fix is applied, then an idle request queue schedules no timer', async () => {
    expect(applyKafkajsIdleFix()).toBe(true);
    const { createRequire } = await import('node:module');
    const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
      prototype: { scheduleCheckPendingRequests(this: object): void };
    };
    const idle = { pending: [] as unknown[], throttledUntil: -1, throttleCheckTimeoutId: null as unknown, checkPendingRequests() {} };
    RequestQueue.prototype.scheduleCheckPendingRequests.call(idle);
    expect(idle.throttleCheckTimeoutId).toBeNull();
    const busy = { ...idle, pending: [1] };
    RequestQueue.prototype.scheduleCheckPendingRequests.call(busy);
    expect(busy.throttleCheckTimeoutId).not.toBeNull();
    clearTimeout(busy.throttleCheckTimeoutId as NodeJS.Timeout);
  });
});
