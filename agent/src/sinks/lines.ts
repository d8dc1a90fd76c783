/**
 * JSON-lines transports: `stdout` and `file:PATH`. Each envelope is one line, exactly the
 * Kafka message value, so `roamwatch agent --sink stdout | jq` and `roamwatch replay FILE`
 * see what Kafka would. The file is opened for appending (O_APPEND) and created 0640; a batch
 * counts as delivered once write(2) returned (the file sink does not fsync: the spool is the
 * durable copy).
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { SpoolRecord } from './spool.js';
import type { Transport } from './types.js';

function joinLines(records: readonly SpoolRecord[]): string {
  let s = '';
  for (const r of records) s += r.line + '\n';
  return s;
}

/** Writes to a stream (stdout), waiting for 'drain' when the pipe is full. */
export class StreamTransport implements Transport {
  readonly kind = 'stdout';
  constructor(private readonly stream: Writable = process.stdout) {}
  async connect(): Promise<void> {}
  send(records: readonly SpoolRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.stream.once('error', onError);
      const ok = this.stream.write(joinLines(records), (err) => {
        this.stream.off('error', onError);
        if (err) reject(err);
        else if (ok) resolve();
      });
      if (!ok) this.stream.once('drain', () => resolve());
    });
  }
  async close(): Promise<void> {}
}

export class FileTransport implements Transport {
  readonly kind = 'file';
  private fd = -1;
  constructor(readonly file: string) {}
  async connect(): Promise<void> {
    if (this.fd < 0) this.fd = fs.openSync(this.file, 'a', 0o640);
  }
  async send(records: readonly SpoolRecord[]): Promise<void> {
    const buf = Buffer.from(joinLines(records), 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off);
  }
  async close(): Promise<void> {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
