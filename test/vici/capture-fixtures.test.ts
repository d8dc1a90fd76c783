/**
 * Records raw VICI traffic from a real charon (Debian 12, strongSwan 5.9.8) in the lab and
 * writes it to test/vici/captured/*.json: every segment, as hex, in order, with its direction.
 * Not part of any test project; run by hand:
 *
 *   npx vitest run --config test/vici/vitest.capture.config.ts
 *
 * Then `node test/vici/make-fixtures.mjs` turns session.json into the annotated golden
 * fixtures in agent/src/vici/fixtures/charon-5.9.8.ts, and bench-stream.json is the input of
 * bench/vici (list-sa events of 24 IKE_SAs plus ike-updown events).
 *
 * It talks raw packets over its own socket (only the framing and packet encoder of the codec
 * are used) so that what it records does not depend on the session code under test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'vitest';
import { createLab } from '../lab/index.js';
import type { Lab } from '../lab/index.js';
import { FrameDecoder, encodePacket } from '../../agent/src/vici/codec.js';
import type { ViciInputMessage } from '../../agent/src/vici/codec.js';

interface Recorded {
  dir: 'out' | 'in';
  t: number;
  hex: string;
}

class Recorder {
  readonly frames: Recorded[] = [];
  private readonly t0 = Date.now();
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private waiters: { pred: (f: Buffer) => boolean; resolve: (f: Buffer) => void }[] = [];
  readonly inbound: Buffer[] = [];

  constructor(path: string) {
    this.socket = net.createConnection({ path });
    this.socket.on('data', (chunk) =>
      this.decoder.push(chunk, (frame) => {
        const copy = Buffer.from(frame);
        this.frames.push({ dir: 'in', t: Date.now() - this.t0, hex: copy.toString('hex') });
        this.inbound.push(copy);
        const w = this.waiters.find((x) => x.pred(copy));
        if (w) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(copy);
        }
      }),
    );
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  wait(pred: (f: Buffer) => boolean, timeoutMs = 20_000): Promise<Buffer> {
    const already = this.inbound.find(pred);
    if (already) {
      this.inbound.splice(this.inbound.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('capture: timed out waiting for a frame')), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          this.inbound.splice(this.inbound.indexOf(f), 1);
          resolve(f);
        },
      });
    });
  }

  send(type: 0 | 3 | 4, name: string, message?: ViciInputMessage): void {
    const frame = encodePacket({ type, name, ...(message ? { message } : {}) });
    this.frames.push({ dir: 'out', t: Date.now() - this.t0, hex: frame.subarray(4).toString('hex') });
    this.socket.write(frame);
  }

  /** Sends a request and waits for its answer (a non-EVENT packet). */
  async request(type: 0 | 3 | 4, name: string, message?: ViciInputMessage, timeoutMs?: number): Promise<Buffer> {
    this.send(type, name, message);
    return this.wait((f) => f[0] !== 7, timeoutMs);
  }

  close(): void {
    this.socket.end();
  }
}

const isEvent = (name: string) => (f: Buffer) => f[0] === 7 && f.subarray(2, 2 + f[1]!).toString() === name;
const isUp = (f: Buffer) => f.includes(Buffer.from('\x03\x02up\x00\x03yes', 'latin1'));

async function captureSession(lab: Lab): Promise<Recorded[]> {
  const r = new Recorder(lab.gw.viciSocket);
  await r.ready();
  await r.request(0, 'version');
  await r.request(0, 'stats');
  await r.request(3, 'list-sa');
  await r.request(0, 'list-sas');
  await r.request(4, 'list-sa');
  await r.request(3, 'list-conn');
  await r.request(0, 'list-conns');
  await r.request(4, 'list-conn');
  await r.request(0, 'no-such-command');
  await r.request(3, 'no-such-event');
  for (const ev of ['ike-updown', 'child-updown', 'ike-rekey', 'child-rekey', 'ike-update', 'log']) await r.request(3, ev);
  // Reauth: an unrelated route change in the gateway (local_addrs is a hostname, MOBIKE off).
  await lab.gw.ip(['route', 'add', '10.231.77.0/24', 'dev', lab.gw.ifname]);
  await r.wait((f) => isEvent('child-updown')(f) && isUp(f));
  // Rekeys: IKE, then CHILD.
  await r.request(0, 'rekey', { ike: 'rw' });
  await r.wait(isEvent('ike-rekey'));
  await r.request(0, 'rekey', { child: 'net' });
  await r.wait(isEvent('child-rekey'));
  await new Promise((res) => setTimeout(res, 300));
  await r.request(0, 'terminate', { ike: 'rw', timeout: 5000 }, 10_000);
  await r.request(0, 'initiate', { child: 'net', timeout: 5000 }, 10_000);
  await new Promise((res) => setTimeout(res, 300));
  r.close();
  return r.frames;
}

async function captureBenchStream(lab: Lab): Promise<Recorded[]> {
  const r = new Recorder(lab.gw.viciSocket);
  await r.ready();
  await r.request(3, 'ike-updown');
  await r.request(3, 'list-sa');
  await r.request(0, 'list-sas');
  await r.request(4, 'list-sa');
  // ike-updown down and up for every IKE_SA: one route change reauthenticates all of them.
  await lab.gw.ip(['route', 'add', '10.231.78.0/24', 'dev', lab.gw.ifname]);
  const deadline = Date.now() + 30_000;
  while (r.frames.filter((f) => f.dir === 'in' && f.hex.startsWith('070a' + Buffer.from('ike-updown').toString('hex')) && isUp(Buffer.from(f.hex, 'hex'))).length < lab.connections.length) {
    if (Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await r.request(3, 'list-sa');
  await r.request(0, 'list-sas');
  await r.request(4, 'list-sa');
  r.close();
  return r.frames;
}

const outDir = new URL('./captured/', import.meta.url);

test('capture raw vici traffic from real charon', async () => {
  mkdirSync(outDir, { recursive: true });
  const lab = await createLab({ name: 'vicicap' });
  try {
    const frames = await captureSession(lab);
    writeFileSync(new URL('session.json', outDir), JSON.stringify({ charon: '5.9.8', frames }, null, 1) + '\n');
  } finally {
    await lab.teardown();
  }
  const many = await createLab({
    name: 'vicicapmany',
    connections: Array.from({ length: 24 }, (_, i) => ({ name: `gw${i}`, children: ['net', 'mgmt'] })),
  });
  try {
    const frames = await captureBenchStream(many);
    writeFileSync(new URL('bench-stream.json', outDir), JSON.stringify({ charon: '5.9.8', frames }, null, 1) + '\n');
  } finally {
    await many.teardown();
  }
});
