/**
 * An in-process fake of charon's vici endpoint, for tests: a net.Server on a unix socket that
 * speaks the VICI packet layer the way vici_dispatcher.c does (CMD_UNKNOWN for unknown
 * commands; EVENT_CONFIRM / EVENT_UNKNOWN for (de)registrations; one registration per
 * EVENT_REGISTER, duplicates included, each getting its own copy of an event).
 *
 * Command handlers decide the answer: return a message to respond, or return `undefined` and
 * answer later through the client (`respond`, `unknown`, raw bytes) or never (for timeouts).
 * `chunking: 'byte'` writes every outgoing segment one byte per write, to exercise partial reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameDecoder, decodePacket, encodePacket } from './codec.js';
import type { ViciInputMessage, ViciMessage, ViciPacket } from './codec.js';
import {
  PktCmdRequest,
  PktCmdResponse,
  PktCmdUnknown,
  PktEvent,
  PktEventConfirm,
  PktEventRegister,
  PktEventUnknown,
  PktEventUnregister,
} from './constants.js';

export type FakeCommandHandler = (request: ViciMessage, client: FakeCharonClient) => ViciInputMessage | undefined | Promise<ViciInputMessage | undefined>;

export interface FakeCharonOptions {
  /** Event names charon knows; registering anything else gets EVENT_UNKNOWN. */
  events?: readonly string[];
  /** `whole` (default): one write per segment. `byte`: one byte per write, yielding in between. */
  chunking?: 'whole' | 'byte';
  /** Called for every accepted connection (e.g. to answer it with garbage at once). */
  onAccept?: (client: FakeCharonClient) => void;
}

export const defaultFakeEvents = [
  'log',
  'control-log',
  'ike-updown',
  'ike-rekey',
  'ike-update',
  'child-updown',
  'child-rekey',
  'list-sa',
  'list-conn',
  'list-policy',
];

export class FakeCharonClient {
  /** Event names with one entry per registration (charon allows duplicates). */
  readonly registrations: string[] = [];
  private writeChain: Promise<void> = Promise.resolve();

  constructor(
    readonly socket: net.Socket,
    private readonly chunking: 'whole' | 'byte',
  ) {}

  /** Writes raw bytes (a whole segment including its length header, or garbage). */
  sendRaw(bytes: Buffer): Promise<void> {
    this.writeChain = this.writeChain.then(async () => {
      if (this.socket.destroyed) return;
      if (this.chunking === 'whole') {
        this.socket.write(bytes);
        return;
      }
      for (const b of bytes) {
        if (this.socket.destroyed) return;
        this.socket.write(Buffer.of(b));
        await new Promise((r) => setImmediate(r));
      }
    });
    return this.writeChain;
  }

  send(packet: { type: ViciPacket['type']; name?: string; message?: ViciInputMessage }): Promise<void> {
    return this.sendRaw(encodePacket(packet));
  }

  respond(message: ViciInputMessage = {}): Promise<void> {
    return this.send({ type: PktCmdResponse, message });
  }

  unknown(): Promise<void> {
    return this.send({ type: PktCmdUnknown });
  }

  /** Sends `event` once per registration of this client (nothing when not registered). */
  async emit(event: string, message: ViciInputMessage = {}): Promise<void> {
    for (const r of this.registrations) if (r === event) await this.send({ type: PktEvent, name: event, message });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class FakeCharon {
  readonly clients = new Set<FakeCharonClient>();
  /** Every request received, in order. */
  readonly requests: { client: FakeCharonClient; packet: ViciPacket }[] = [];
  readonly events: Set<string>;
  private readonly handlers = new Map<string, FakeCommandHandler>();
  private server: net.Server | undefined;

  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly options: FakeCharonOptions,
  ) {
    this.events = new Set(options.events ?? defaultFakeEvents);
  }

  static async start(options: FakeCharonOptions = {}): Promise<FakeCharon> {
    const dir = mkdtempSync(join(tmpdir(), 'rw-fake-vici-'));
    const fake = new FakeCharon(join(dir, 'charon.vici'), dir, options);
    await fake.listen();
    return fake;
  }

  get uri(): string {
    return `unix://${this.path}`;
  }

  /** Registers (or replaces) the handler of a command. */
  command(name: string, handler: FakeCommandHandler): this {
    this.handlers.set(name, handler);
    return this;
  }

  /** Number of registrations for `event` over all clients. */
  registrationCount(event: string): number {
    let n = 0;
    for (const c of this.clients) n += c.registrations.filter((r) => r === event).length;
    return n;
  }

  /** Raises an event to every registered client, like charon's raise_event with id 0. */
  async emit(event: string, message: ViciInputMessage = {}): Promise<void> {
    for (const c of this.clients) await c.emit(event, message);
  }

  /** Resolves once some client has `count` registrations for `event`. */
  async waitForRegistration(event: string, count = 1, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.registrationCount(event) < count) {
      if (Date.now() > deadline) throw new Error(`fake charon: no registration for ${event} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Drops every client connection (as if charon crashed), keeps listening. */
  dropClients(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
  }

  /** Stops listening and drops clients; `listen()` again to come back (same path). */
  async stopListening(): Promise<void> {
    this.dropClients();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.path, { force: true });
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
  }

  async stop(): Promise<void> {
    await this.stopListening();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    const client = new FakeCharonClient(socket, this.options.chunking ?? 'whole');
    this.clients.add(client);
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('close', () => this.clients.delete(client));
    this.options.onAccept?.(client);
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk, (frame) => void this.onPacket(client, decodePacket(frame)));
      } catch {
        socket.destroy();
      }
    });
  }

  private async onPacket(client: FakeCharonClient, packet: ViciPacket): Promise<void> {
    this.requests.push({ client, packet });
    const name = packet.name ?? '';
    switch (packet.type) {
      case PktEventRegister:
        if (this.events.has(name)) {
          client.registrations.push(name);
          await client.send({ type: PktEventConfirm });
        } else {
          await client.send({ type: PktEventUnknown });
        }
        return;
      case PktEventUnregister: {
        const i = client.registrations.indexOf(name);
        if (i >= 0) {
          client.registrations.splice(i, 1);
          await client.send({ type: PktEventConfirm });
        } else {
          await client.send({ type: PktEventUnknown });
        }
        return;
      }
      case PktCmdRequest: {
        const handler = this.handlers.get(name);
        if (!handler) {
          await client.unknown();
          return;
        }
        const response = await handler(packet.message ?? {}, client);
        if (response !== undefined) await client.respond(response);
        return;
      }
      default:
        client.destroy();
    }
  }
}
