/**
 * One VICI transport connection: a unix or TCP stream socket, segment framing and packet
 * decoding. It knows nothing of commands or subscriptions (session.ts does); it hands every
 * decoded packet to `onPacket` synchronously from the socket's data callback and reports its
 * end exactly once through `onClose`.
 *
 * A malformed segment cannot be skipped safely (there is no resynchronisation marker in the
 * stream), so any decode error ends the connection with reason `protocol-error`.
 */
import net from 'node:net';
import { FrameDecoder, decodePacket } from './codec.js';
import type { ViciPacket } from './codec.js';
import { MaxFrameBytes } from './constants.js';
import { ViciConfigError, ViciConnectionError } from './errors.js';

export type ViciEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parses `unix:///path/to/socket` or `tcp://host:port` (IPv6 hosts in brackets), the URI forms
 * charon's `charon.plugins.vici.socket` option takes.
 */
export function parseViciUri(uri: string): ViciEndpoint {
  if (uri.startsWith('unix://')) {
    const path = uri.slice('unix://'.length);
    if (!path.startsWith('/')) throw new ViciConfigError(`vici uri "${uri}": unix:// needs an absolute path (unix:///run/charon.vici)`);
    return { kind: 'unix', path };
  }
  if (uri.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ViciConfigError(`vici uri "${uri}": not a valid tcp://host:port`);
    }
    const port = Number(url.port);
    if (!url.hostname || !Number.isInteger(port) || port < 1 || port > 65535 || url.pathname.replace(/^\/$/, '') !== '') {
      throw new ViciConfigError(`vici uri "${uri}": expected tcp://host:port with a port in 1..65535`);
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { kind: 'tcp', host, port };
  }
  throw new ViciConfigError(`vici uri "${uri}": the scheme must be unix:// or tcp://`);
}

/** Why a connection ended. Bounded set, usable as a metric label. */
export type ViciDisconnectReason =
  | 'socket-closed'
  | 'socket-error'
  | 'protocol-error'
  | 'command-timeout'
  | 'closed-by-client';

export interface ConnectionHandlers {
  onPacket(packet: ViciPacket): void;
  onClose(reason: ViciDisconnectReason, error: Error | undefined): void;
}

export interface ConnectOptions {
  uri: string;
  connectTimeoutMs: number;
  maxFrameBytes?: number;
}

export class ViciConnection {
  readonly uri: string;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly handlers: ConnectionHandlers;
  private ended = false;
  /** Bytes received, for the session's counters. */
  bytesIn = 0;

  private constructor(uri: string, socket: net.Socket, handlers: ConnectionHandlers, maxFrameBytes: number) {
    this.uri = uri;
    this.socket = socket;
    this.handlers = handlers;
    this.decoder = new FrameDecoder({ maxFrameBytes });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.finish('socket-error', err));
    socket.on('close', () => this.finish('socket-closed', undefined));
  }

  /** Opens a connection; rejects with ViciConnectionError (retriable) when it cannot. */
  static open(options: ConnectOptions, handlers: ConnectionHandlers): Promise<ViciConnection> {
    const endpoint = parseViciUri(options.uri);
    return new Promise((resolve, reject) => {
      const socket =
        endpoint.kind === 'unix' ? net.createConnection({ path: endpoint.path }) : net.createConnection({ host: endpoint.host, port: endpoint.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ViciConnectionError(options.uri, `connect timed out after ${options.connectTimeoutMs} ms`));
      }, options.connectTimeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ViciConnectionError(options.uri, `cannot connect: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (endpoint.kind === 'tcp') socket.setNoDelay(true);
        resolve(new ViciConnection(options.uri, socket, handlers, options.maxFrameBytes ?? MaxFrameBytes));
      });
    });
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  send(frame: Buffer): void {
    if (this.ended) return;
    this.socket.write(frame);
  }

  /** Ends the connection now, reporting `reason` to onClose (once). */
  destroy(reason: ViciDisconnectReason, error?: Error): void {
    this.finish(reason, error);
  }

  /** Graceful end: half-close, then wait (bounded) for the socket to close. */
  end(timeoutMs = 1000): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.finish('closed-by-client', undefined, false);
      this.socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.bytesIn += chunk.length;
    try {
      this.decoder.push(chunk, (frame) => {
        if (this.ended) return;
        this.handlers.onPacket(decodePacket(frame));
      });
    } catch (err) {
      this.finish('protocol-error', err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finish(reason: ViciDisconnectReason, error: Error | undefined, destroySocket = true): void {
    if (this.ended) return;
    this.ended = true;
    if (destroySocket) this.socket.destroy();
    this.handlers.onClose(reason, error);
  }
}
