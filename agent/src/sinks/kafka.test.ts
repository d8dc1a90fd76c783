import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyKafkajsIdleFix } from './kafkajs-idle-fix.js';
import { batchEventsOf, splitBatch } from '@roamwatch/core';
import { kafkaTlsConfig, packRecords } from './kafka.js';
import type { SpoolRecord } from './spool.js';

const rec = (seq: number, line = `{"seq":${seq}}`): SpoolRecord => ({ seq, line, timeUs: seq, bytes: Buffer.byteLength(line) });

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

  it('when records are packed, then each Kafka record holds consecutive events within the count and byte bounds, and a reader gets them back in order', () => {
    const records = Array.from({ length: 23 }, (_, i) => rec(i + 1));
    const packed = packRecords(records, 5, 1024);
    expect(packed.map((p) => p.events)).toEqual([5, 5, 5, 5, 3]);
    const back = packed.flatMap((p) => splitBatch(p.value, batchEventsOf(p.headers)!));
    expect(back).toEqual(records.map((r) => r.line));
    // bytes: these lines are 9 bytes; 28 bytes hold 2 lines and their separator, not 3
    expect(packRecords(records.slice(0, 6), 100, 28).map((p) => p.events)).toEqual([2, 2, 2]);
  });

  it('when a record would hold one event, or recordMaxEvents is 1, then it is written as a single-event record (no headers), as before batch records', () => {
    const packed = packRecords([rec(1), rec(2)], 1, 1024);
    expect(packed).toEqual([
      { value: '{"seq":1}', events: 1 },
      { value: '{"seq":2}', events: 1 },
    ]);
    const big = rec(3, `{"seq":3,"x":"${'a'.repeat(2000)}"}`);
    expect(packRecords([rec(1), big, rec(2)], 10, 1024).map((p) => p.events)).toEqual([1, 1, 1]);
    expect(batchEventsOf(packRecords([rec(1)], 10, 1024)[0]!.headers)).toBeUndefined();
  });
});
