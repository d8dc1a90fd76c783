/**
 * VICI wire codec: segment framing, packets and messages.
 *
 * Spec: strongSwan src/libcharon/plugins/vici/README.md, sections "Transport protocol"
 * (32-bit big-endian length, then data; at most 512 KiB), "Packet layer" (8-bit type, then an
 * 8-bit length-prefixed name for named types, then the message) and "Message format"
 * (elements SECTION_START/END, KEY_VALUE, LIST_START/ITEM/END; names with an 8-bit length,
 * values with a 16-bit big-endian length; sections nest, lists do not).
 *
 * Decoding is strict: anything the README calls invalid raises a named `ViciDecodeError`
 * subclass (errors.ts) and nothing else. Decoded messages are plain objects (a key named
 * `__proto__` is an own property like any other): a section is an object, a list is an
 * array, a value is a string (UTF-8, the default) or a `Buffer` (`values: 'buffer'`, zero-copy
 * views into the received data).
 */
import {
  ElemKeyValue,
  ElemListEnd,
  ElemListItem,
  ElemListStart,
  ElemSectionEnd,
  ElemSectionStart,
  FrameHeaderBytes,
  MaxFrameBytes,
  MaxNameBytes,
  MaxValueBytes,
  PktEvent,
  PktMax,
  packetHasMessage,
  packetIsNamed,
  packetTypeNames,
} from './constants.js';
import type { PacketType } from './constants.js';
import {
  ViciDuplicateKeyError,
  ViciFrameTooLargeError,
  ViciInvalidValueError,
  ViciLimitError,
  ViciNestedListError,
  ViciTrailingDataError,
  ViciTruncatedError,
  ViciUnexpectedElementError,
  ViciUnexpectedSectionEndError,
  ViciUnknownElementTypeError,
  ViciUnknownPacketTypeError,
  ViciUnterminatedListError,
  ViciUnterminatedSectionError,
} from './errors.js';

/** A decoded message: sections are objects, lists arrays, values strings (or Buffers). */
export interface ViciMessage<V = string> {
  [key: string]: ViciValue<V>;
}
export type ViciValue<V = string> = V | V[] | ViciMessage<V>;

/** What the encoder accepts as a value: numbers, bigints and booleans become strings. */
export type ViciScalarInput = string | number | bigint | boolean | Uint8Array;
export type ViciInputValue = ViciScalarInput | readonly ViciScalarInput[] | ViciInputMessage | undefined;
/** A message to encode: a plain object (insertion order) or a Map. `undefined` values are skipped. */
export type ViciInputMessage = { readonly [key: string]: ViciInputValue } | ReadonlyMap<string, ViciInputValue>;

export interface ViciPacket<V = string> {
  type: PacketType;
  /** Present for CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER and EVENT. */
  name?: string;
  /** Present for CMD_REQUEST, CMD_RESPONSE and EVENT (possibly empty). */
  message?: ViciMessage<V>;
}

export interface DecodeOptions {
  /** `string` (default): values decoded as UTF-8. `buffer`: zero-copy Buffer views. */
  values?: 'string' | 'buffer';
}

// ---------------------------------------------------------------------------------------
// Decoding

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Short ASCII strings (almost every name and value charon sends) are built by hand: that is
 * several times cheaper than Buffer#toString's native call for a few bytes. Anything else goes
 * through the UTF-8 decoder.
 */
function decodeString(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n <= 32) {
    let out = '';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return buf.toString('utf8', start, end);
      out += String.fromCharCode(c);
    }
    return out;
  }
  return buf.toString('utf8', start, end);
}

/**
 * Names (keys, section and list names, event names) come from a small vocabulary. A
 * direct-mapped cache from their bytes to one string instance means V8 sees the same
 * (internalized) key string again and again instead of hashing and internalizing a fresh string
 * for every property store.
 *
 * Short values repeat just as much (states, algorithm names, "yes", addresses, counters at
 * 0), and creating a string costs ~100 ns in V8; a second, larger cache returns the same
 * instance for the same bytes. Both caches are direct-mapped (a collision replaces the entry)
 * and keep their bytes in one preallocated slab each, so memory is fixed whatever the input
 * and a miss allocates nothing but the new string.
 */
interface StringCache {
  mask: number;
  stride: number;
  slab: Uint8Array;
  lengths: Int32Array;
  strings: string[];
}

function stringCache(slots: number, stride: number): StringCache {
  return { mask: slots - 1, stride, slab: new Uint8Array(slots * stride), lengths: new Int32Array(slots).fill(-1), strings: new Array<string>(slots).fill('') };
}

const nameCache = stringCache(4096, 48);
const valueCache = stringCache(16384, 24);

/** Only for end - start <= cache.stride. */
function cachedString(buf: Buffer, start: number, end: number, cache: StringCache): string {
  const n = end - start;
  // A collision only costs a cache miss: the bytes are compared before a hit.
  let h = n;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
  const slot = (h ^ (h >>> 15)) & cache.mask;
  const slab = cache.slab;
  const base = slot * cache.stride;
  if (cache.lengths[slot] === n) {
    let i = 0;
    while (i < n && slab[base + i] === buf[start + i]) i++;
    if (i === n) return cache.strings[slot]!;
  }
  const s = decodeString(buf, start, end);
  for (let i = 0; i < n; i++) slab[base + i] = buf[start + i]!;
  cache.lengths[slot] = n;
  cache.strings[slot] = s;
  return s;
}

function decodeName(buf: Buffer, start: number, end: number): string {
  if (end - start > nameCache.stride) return decodeString(buf, start, end);
  return cachedString(buf, start, end, nameCache);
}

function decodeValue(buf: Buffer, start: number, end: number): string {
  if (end - start > valueCache.stride) return decodeString(buf, start, end);
  return cachedString(buf, start, end, valueCache);
}

/**
 * Building sections. Adding properties one by one to an object with computed keys is the
 * single largest cost of decoding in V8 (every addition is a megamorphic store with a map
 * transition). Instead, the decoder collects a section's keys and values and builds the object
 * at SECTION_END. Key sequences are tracked in a trie whose edges are the (cached, so
 * identical) key strings; once a sequence has been seen twice it gets a compiled factory
 * (an object literal with those keys), which allocates the object in one step with a stable
 * hidden class. charon sends the same shapes over and over (every list-sa of an IKE_SA looks
 * alike), so almost every section takes that path. Duplicate keys are detected once per
 * shape. The trie and the factories are bounded (reset when full); shapes that never repeat
 * (e.g. child-sas keyed by `<name>-<uniqueid>`) take the generic path.
 */
interface ShapeNode {
  next: Map<string, ShapeNode> | undefined;
  seen: number;
  /** Compiled factory; `null` marks a key sequence with a duplicate. */
  make: ((values: unknown[], at: number) => Record<string, unknown>) | undefined | null;
}
const maxShapeNodes = 50_000;
const maxFactories = 2_000;
let shapeRoot: ShapeNode = { next: undefined, seen: 0, make: undefined };
let shapeNodes = 0;
let factories = 0;

function compileFactory(keys: string[], from: number, to: number): (values: unknown[], at: number) => Record<string, unknown> {
  // JSON.stringify yields a valid JS string literal for any key; __proto__ must be a computed
  // key in a literal, or it would set the prototype instead of defining a property.
  const props = keys.slice(from, to).map((k, i) => `${k === '__proto__' ? '["__proto__"]' : JSON.stringify(k)}: v[a + ${i}]`);
  return new Function('v', 'a', `return { ${props.join(', ')} };`) as (values: unknown[], at: number) => Record<string, unknown>;
}

/** Builds the section whose keys and values are keys/values[from, to). */
function buildSection<V>(keys: string[], values: unknown[], from: number, to: number, offset: number): ViciMessage<V> {
  let node = shapeRoot;
  for (let i = from; i < to; i++) {
    const k = keys[i]!;
    let next = node.next?.get(k);
    if (next === undefined) {
      if (shapeNodes >= maxShapeNodes) {
        shapeRoot = { next: undefined, seen: 0, make: undefined };
        shapeNodes = 0;
        factories = 0;
        return buildGeneric(keys, values, from, to, offset);
      }
      next = { next: undefined, seen: 0, make: undefined };
      (node.next ??= new Map()).set(k, next);
      shapeNodes++;
    }
    node = next;
  }
  if (node.make) return node.make(values, from) as ViciMessage<V>;
  if (node.make === null) return buildGeneric(keys, values, from, to, offset);
  const obj = buildGeneric<V>(keys, values, from, to, offset);
  if (++node.seen >= 2 && factories < maxFactories) {
    node.make = compileFactory(keys, from, to);
    factories++;
  }
  return obj;
}

const hasOwn = Object.prototype.hasOwnProperty;

function buildGeneric<V>(keys: string[], values: unknown[], from: number, to: number, offset: number): ViciMessage<V> {
  const obj: ViciMessage<V> = {};
  for (let i = from; i < to; i++) {
    const k = keys[i]!;
    if (hasOwn.call(obj, k)) throw new ViciDuplicateKeyError(k, offset);
    if (k === '__proto__') Object.defineProperty(obj, k, { value: values[i], enumerable: true, writable: true, configurable: true });
    else obj[k] = values[i] as ViciValue<V>;
  }
  return obj;
}

function decodeElements<V>(buf: Buffer, start: number, end: number, asBuffer: boolean): ViciMessage<V> {
  // One flat key/value stack for the whole message: an open section owns keys/values[from..].
  const keys: string[] = [];
  const values: unknown[] = [];
  const froms: number[] = [];
  const names: string[] = [];
  let list: V[] | null = null;
  let listName = '';
  let pos = start;
  while (pos < end) {
    const at = pos;
    const type = buf[pos++]!;
    switch (type) {
      case ElemSectionStart:
      case ElemKeyValue:
      case ElemListStart: {
        if (pos >= end) throw new ViciTruncatedError('element name length', at, 1, 0);
        const nameLen = buf[pos++]!;
        if (pos + nameLen > end) throw new ViciTruncatedError('element name', pos, nameLen, end - pos);
        const name = decodeName(buf, pos, pos + nameLen);
        pos += nameLen;
        if (type === ElemKeyValue) {
          if (list !== null) throw new ViciUnexpectedElementError('KEY_VALUE', `inside list "${listName}"`, at);
          if (pos + 2 > end) throw new ViciTruncatedError('value length', pos, 2, end - pos);
          const valueLen = (buf[pos]! << 8) | buf[pos + 1]!;
          pos += 2;
          if (pos + valueLen > end) throw new ViciTruncatedError('value', pos, valueLen, end - pos);
          keys.push(name);
          values.push(asBuffer ? buf.subarray(pos, pos + valueLen) : decodeValue(buf, pos, pos + valueLen));
          pos += valueLen;
        } else if (type === ElemListStart) {
          if (list !== null) throw new ViciNestedListError(name, listName, at);
          list = [];
          listName = name;
          keys.push(name);
          values.push(list);
        } else {
          if (list !== null) throw new ViciUnexpectedElementError('SECTION_START', `inside list "${listName}"`, at);
          froms.push(keys.length);
          names.push(name);
        }
        break;
      }
      case ElemListItem: {
        if (list === null) throw new ViciUnexpectedElementError('LIST_ITEM', 'outside a list', at);
        if (pos + 2 > end) throw new ViciTruncatedError('list item length', pos, 2, end - pos);
        const valueLen = (buf[pos]! << 8) | buf[pos + 1]!;
        pos += 2;
        if (pos + valueLen > end) throw new ViciTruncatedError('list item', pos, valueLen, end - pos);
        list.push((asBuffer ? buf.subarray(pos, pos + valueLen) : decodeValue(buf, pos, pos + valueLen)) as V);
        pos += valueLen;
        break;
      }
      case ElemListEnd:
        if (list === null) throw new ViciUnexpectedElementError('LIST_END', 'outside a list', at);
        list = null;
        break;
      case ElemSectionEnd: {
        if (list !== null) throw new ViciUnexpectedElementError('SECTION_END', `inside list "${listName}"`, at);
        const from = froms.pop();
        if (from === undefined) throw new ViciUnexpectedSectionEndError(at);
        const section = buildSection<V>(keys, values, from, keys.length, at);
        keys.length = from;
        values.length = from;
        keys.push(names.pop()!);
        values.push(section);
        break;
      }
      default:
        throw new ViciUnknownElementTypeError(type, at);
    }
  }
  if (list !== null) throw new ViciUnterminatedListError(listName, end);
  const open = names[names.length - 1];
  if (open !== undefined) throw new ViciUnterminatedSectionError(open, end);
  return buildSection<V>(keys, values, 0, keys.length, end);
}

/** Decodes a message (the element sequence, without packet header). */
export function decodeMessage(data: Uint8Array, options?: DecodeOptions & { values?: 'string' }): ViciMessage<string>;
export function decodeMessage(data: Uint8Array, options: DecodeOptions & { values: 'buffer' }): ViciMessage<Buffer>;
export function decodeMessage(data: Uint8Array, options?: DecodeOptions): ViciMessage<string> | ViciMessage<Buffer>;
export function decodeMessage(data: Uint8Array, options?: DecodeOptions): ViciMessage<string> | ViciMessage<Buffer> {
  const buf = toBuffer(data);
  return options?.values === 'buffer' ? decodeElements<Buffer>(buf, 0, buf.length, true) : decodeElements<string>(buf, 0, buf.length, false);
}

/** Decodes one packet (a segment's data, without the 4-byte length header). */
export function decodePacket(data: Uint8Array, options?: DecodeOptions & { values?: 'string' }): ViciPacket<string>;
export function decodePacket(data: Uint8Array, options: DecodeOptions & { values: 'buffer' }): ViciPacket<Buffer>;
export function decodePacket(data: Uint8Array, options?: DecodeOptions): ViciPacket<string> | ViciPacket<Buffer>;
export function decodePacket(data: Uint8Array, options?: DecodeOptions): ViciPacket<string> | ViciPacket<Buffer> {
  const buf = toBuffer(data);
  const end = buf.length;
  if (end < 1) throw new ViciTruncatedError('packet type', 0, 1, 0);
  const type = buf[0]!;
  if (type >= PktMax) throw new ViciUnknownPacketTypeError(type);
  const packet: { type: PacketType; name?: string; message?: ViciMessage<string> | ViciMessage<Buffer> } = {
    type: type as PacketType,
  };
  let pos = 1;
  if (packetIsNamed(type)) {
    if (pos >= end) throw new ViciTruncatedError('packet name length', pos, 1, 0);
    const nameLen = buf[pos++]!;
    if (pos + nameLen > end) throw new ViciTruncatedError('packet name', pos, nameLen, end - pos);
    packet.name = decodeName(buf, pos, pos + nameLen);
    pos += nameLen;
  }
  if (packetHasMessage(type)) {
    packet.message = options?.values === 'buffer' ? decodeElements<Buffer>(buf, pos, end, true) : decodeElements<string>(buf, pos, end, false);
  } else if (pos < end) {
    throw new ViciTrailingDataError(packetTypeNames[type] ?? String(type), end - pos, pos);
  }
  return packet as ViciPacket<string> | ViciPacket<Buffer>;
}

/**
 * Splits a byte stream into segments. Feed it whatever the socket delivers, in any chunking
 * (one byte at a time works); it calls `onFrame` with each complete segment's data (a view, not
 * a copy, when the segment lies in one chunk). A length field over the limit throws
 * `ViciFrameTooLargeError` before any of that segment is buffered: the stream cannot be
 * resynchronised after that and the connection must be dropped.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed in `chunks` before another frame can complete. */
  private needed = FrameHeaderBytes;

  constructor(options?: { maxFrameBytes?: number }) {
    this.maxFrameBytes = options?.maxFrameBytes ?? MaxFrameBytes;
  }

  /** Bytes held for an incomplete segment. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array, onFrame: (frame: Buffer) => void): void {
    const buf = toBuffer(chunk);
    const total = buf.length;
    let off = 0;
    // Complete a segment started in earlier chunks, copying only the bytes it still needs
    // (never the rest of this chunk, which is parsed in place below).
    while (this.buffered > 0) {
      const want = this.needed - this.buffered;
      if (total - off < want) {
        if (off < total) {
          this.chunks.push(buf.subarray(off));
          this.buffered += total - off;
        }
        return;
      }
      this.chunks.push(buf.subarray(off, off + want));
      off += want;
      this.buffered += want;
      const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      if (this.needed === FrameHeaderBytes) {
        const len = joined.readUInt32BE(0);
        if (len > this.maxFrameBytes) throw new ViciFrameTooLargeError(len, this.maxFrameBytes);
        this.chunks = [joined];
        this.needed = FrameHeaderBytes + len;
        if (len > 0) continue;
      }
      this.chunks = [];
      this.buffered = 0;
      this.needed = FrameHeaderBytes;
      onFrame(joined.subarray(FrameHeaderBytes));
    }
    while (total - off >= FrameHeaderBytes) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxFrameBytes) throw new ViciFrameTooLargeError(len, this.maxFrameBytes);
      if (total - off - FrameHeaderBytes < len) break;
      const start = off + FrameHeaderBytes;
      off = start + len;
      onFrame(buf.subarray(start, off));
    }
    if (off < total) {
      const rest = buf.subarray(off);
      this.chunks = [rest];
      this.buffered = rest.length;
      // A too-long header already threw in the loop above; a partial header is checked later.
      this.needed = rest.length >= FrameHeaderBytes ? FrameHeaderBytes + rest.readUInt32BE(0) : FrameHeaderBytes;
    }
  }

  /** Drops any partial segment (after a reconnect). */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.needed = FrameHeaderBytes;
  }
}

// ---------------------------------------------------------------------------------------
// Encoding

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(initial: number) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  /** Writes an 8-bit length-prefixed name. */
  name(name: string, what: string): void {
    const len = Buffer.byteLength(name, 'utf8');
    if (len > MaxNameBytes) throw new ViciLimitError(`${what} "${name.slice(0, 40)}…"`, len, MaxNameBytes);
    this.ensure(1 + len);
    this.buf[this.pos++] = len;
    this.pos += this.buf.write(name, this.pos, len, 'utf8');
  }
  /** Writes a 16-bit length-prefixed value. */
  value(v: ViciScalarInput, path: string): void {
    if (v instanceof Uint8Array) {
      if (v.length > MaxValueBytes) throw new ViciLimitError(`value of ${path}`, v.length, MaxValueBytes);
      this.ensure(2 + v.length);
      this.buf.writeUInt16BE(v.length, this.pos);
      this.buf.set(v, this.pos + 2);
      this.pos += 2 + v.length;
      return;
    }
    const s = scalarToString(v, path);
    const len = Buffer.byteLength(s, 'utf8');
    if (len > MaxValueBytes) throw new ViciLimitError(`value of ${path}`, len, MaxValueBytes);
    this.ensure(2 + len);
    this.buf.writeUInt16BE(len, this.pos);
    this.pos += 2;
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }
}

function scalarToString(v: ViciScalarInput, path: string): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'yes' : 'no';
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new ViciInvalidValueError(path, `number ${v} is not finite`);
      return String(v);
    default:
      throw new ViciInvalidValueError(path, `unsupported value type ${typeof v}`);
  }
}

function isScalar(v: unknown): v is ViciScalarInput {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean' || v instanceof Uint8Array;
}

function entriesOf(msg: ViciInputMessage): Iterable<[string, ViciInputValue]> {
  return msg instanceof Map ? (msg as ReadonlyMap<string, ViciInputValue>).entries() : Object.entries(msg);
}

function writeElements(w: Writer, msg: ViciInputMessage, path: string, depth: number): void {
  if (depth > 64) throw new ViciInvalidValueError(path, 'sections nested deeper than 64 levels (a cycle?)');
  for (const [key, v] of entriesOf(msg)) {
    if (v === undefined) continue;
    const at = path ? `${path}.${key}` : key;
    if (isScalar(v)) {
      w.u8(ElemKeyValue);
      w.name(key, 'key');
      w.value(v, at);
    } else if (Array.isArray(v)) {
      w.u8(ElemListStart);
      w.name(key, 'list name');
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (!isScalar(item)) throw new ViciInvalidValueError(`${at}[${i}]`, 'list items must be scalars (lists cannot nest)');
        w.u8(ElemListItem);
        w.value(item, `${at}[${i}]`);
      }
      w.u8(ElemListEnd);
    } else if (typeof v === 'object' && v !== null) {
      w.u8(ElemSectionStart);
      w.name(key, 'section name');
      writeElements(w, v as ViciInputMessage, at, depth + 1);
      w.u8(ElemSectionEnd);
    } else {
      throw new ViciInvalidValueError(at, `unsupported value ${String(v)}`);
    }
  }
}

export interface EncodeOptions {
  /** Largest segment to produce; default 512 KiB (what charon accepts). */
  maxFrameBytes?: number;
}

/** Encodes a message (elements only, no packet header). */
export function encodeMessage(msg: ViciInputMessage, options?: EncodeOptions): Buffer {
  const w = new Writer(256);
  writeElements(w, msg, '', 0);
  const max = options?.maxFrameBytes ?? MaxFrameBytes;
  if (w.pos > max) throw new ViciLimitError('message', w.pos, max);
  return w.buf.subarray(0, w.pos);
}

export interface PacketInput {
  type: PacketType;
  name?: string;
  message?: ViciInputMessage;
}

/**
 * Encodes a packet as a complete segment, 4-byte length header included, ready to write to the
 * socket. Named types need `name`; `message` is written for types that carry one.
 */
export function encodePacket(packet: PacketInput, options?: EncodeOptions): Buffer {
  const w = new Writer(256);
  w.pos = FrameHeaderBytes;
  w.u8(packet.type);
  if (packet.type >= PktMax || packet.type < 0) throw new ViciInvalidValueError('packet type', `unknown type ${packet.type}`);
  if (packetIsNamed(packet.type)) {
    if (packet.name === undefined) throw new ViciInvalidValueError('packet', `${packetTypeNames[packet.type]} needs a name`);
    w.name(packet.name, 'packet name');
  }
  if (packetHasMessage(packet.type) && packet.message !== undefined) writeElements(w, packet.message, '', 0);
  const len = w.pos - FrameHeaderBytes;
  const max = options?.maxFrameBytes ?? MaxFrameBytes;
  if (len > max) throw new ViciLimitError('packet', len, max);
  w.buf.writeUInt32BE(len, 0);
  return w.buf.subarray(0, w.pos);
}

/** True for EVENT packets (the only ones charon sends unsolicited). */
export function isEventPacket(p: ViciPacket<unknown>): boolean {
  return p.type === PktEvent;
}
