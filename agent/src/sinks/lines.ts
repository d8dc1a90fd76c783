/**
 * JSON-lines transports: `stdout` and `file:PATH`. Each envelope is one line, exactly the
 * Kafka message value, so `roamwatch agent --sink stdout | jq` and `roamwatch replay FILE`
 * see what Kafka would. The file is opened for appending (O_APPEND), never through a symlink
 * (O_NOFOLLOW), and is 0640 whatever the umask; a batch
 * counts as delivered once write(2) returned (the file sink does not fsync: the spool is the
 * durable copy).
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { RoamwatchError } from '@roamwatch/core';
import { openAppendNoFollow } from './safe-file.js';
import type { SpoolRecord } from './spool.js';
import type { Transport } from './types.js';

function joinLines(records: readonly SpoolRecord[]): string {
  let s = '';
  for (const r of records) s += r.line + '\n';
  return s;
}

/**
 * stdout's reader went away (EPIPE: `roamwatch agent --sink stdout | head`). Not retriable: like
 * any Unix filter the agent ends, cleanly (exit 0); what was not read stays spooled.
 */
export class ReaderGoneError extends RoamwatchError {
  constructor(cause?: unknown) {
    super('stdout was closed by its reader (EPIPE); stopping', { code: 'SINK_READER_GONE', retriable: false, cause });
    this.name = 'ReaderGoneError';
  }
}

/** Writes to a stream (stdout), waiting for 'drain' when the pipe is full. */
export class StreamTransport implements Transport {
  readonly kind = 'stdout';
  private broken: Error | undefined;
  private readonly onStreamError = (err: Error) => {
    // Kept for the whole life of the transport: an EPIPE reported between two sends must not
    // become an uncaught exception.
    this.broken ??= err;
  };
  constructor(private readonly stream: Writable = process.stdout) {
    stream.on('error', this.onStreamError);
  }
  async connect(): Promise<void> {}
  private failure(err: Error): Error {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET' ? new ReaderGoneError(err) : err;
  }
  send(records: readonly SpoolRecord[]): Promise<void> {
    if (this.broken) return Promise.reject(this.failure(this.broken));
    if (this.stream.destroyed || this.stream.writableEnded) return Promise.reject(new ReaderGoneError());
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        this.stream.off('error', onError);
        this.stream.off('drain', onDrain);
        if (err) reject(this.failure(err));
        else resolve();
      };
      const onError = (err: Error) => done(err);
      const onDrain = () => done();
      this.stream.once('error', onError);
      const ok = this.stream.write(joinLines(records), (err) => {
        if (err) done(err);
        else if (ok) done();
      });
      if (!ok) this.stream.once('drain', onDrain);
    });
  }
  async close(): Promise<void> {}
}

export class FileTransport implements Transport {
  readonly kind = 'file';
  private fd = -1;
  constructor(readonly file: string) {}
  async connect(): Promise<void> {
    // O_NOFOLLOW and 0640 whatever the umask: the agent often runs as root (safe-file.ts).
    if (this.fd < 0) this.fd = openAppendNoFollow(this.file, 0o640);
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
