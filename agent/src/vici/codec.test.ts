import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeMessage, decodePacket, encodeMessage, encodePacket } from './codec.js';
import {
  ElemKeyValue,
  ElemListEnd,
  ElemListItem,
  ElemListStart,
  ElemSectionEnd,
  ElemSectionStart,
  MaxFrameBytes,
  PktCmdRequest,
  PktCmdResponse,
  PktEvent,
  PktEventConfirm,
} from './constants.js';
import type {
  ViciDecodeError} from './errors.js';
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

const s = (text: string): number[] => [...Buffer.from(text, 'latin1')];

/** The encoding example of the strongSwan vici README ("Encoding example"), byte for byte. */
const readmeExample = Buffer.from([
  // key1 = value1
  3, 4, ...s('key1'), 0, 6, ...s('value1'),
  // section1
  1, 8, ...s('section1'),
  // sub-section
  1, 11, ...s('sub-section'),
  // key2 = value2
  3, 4, ...s('key2'), 0, 6, ...s('value2'),
  // sub-section end
  2,
  // list1
  4, 5, ...s('list1'),
  // item1
  5, 0, 5, ...s('item1'),
  // item2
  5, 0, 5, ...s('item2'),
  // list1 end
  6,
  // section1 end
  2,
]);
const readmeTree = { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } };

describe('message codec', () => {
  it('when decoding the README example, then it yields the README tree', () => {
    expect(decodeMessage(readmeExample)).toEqual(readmeTree);
  });

  it('when encoding the README tree, then it yields the README bytes', () => {
    expect(encodeMessage(readmeTree)).toEqual(readmeExample);
  });

  it('when values are requested as buffers, then they are views of the input', () => {
    const m = decodeMessage(readmeExample, { values: 'buffer' });
    expect(Buffer.isBuffer(m['key1'])).toBe(true);
    expect((m['key1'] as Buffer).toString()).toBe('value1');
    expect((m['section1'] as Record<string, Buffer[]>)['list1']!.map(String)).toEqual(['item1', 'item2']);
  });

  it('when a key is __proto__, then it is an ordinary key', () => {
    const bytes = encodeMessage(new Map([['__proto__', 'x']]));
    const m = decodeMessage(bytes);
    expect(Object.keys(m)).toEqual(['__proto__']);
    expect(m['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(() => decodeMessage(Buffer.concat([bytes, bytes]))).toThrow(ViciDuplicateKeyError);
  });

  it('when values are numbers, booleans, bigints or bytes, then they encode as strings or raw bytes', () => {
    const m = decodeMessage(encodeMessage({ n: 42, b: true, f: false, big: 2n ** 64n, raw: Buffer.from([0xff, 0]), skip: undefined }), { values: 'buffer' });
    expect(Object.keys(m)).toEqual(['n', 'b', 'f', 'big', 'raw']);
    expect(String(m['n'])).toBe('42');
    expect(String(m['b'])).toBe('yes');
    expect(String(m['f'])).toBe('no');
    expect(String(m['big'])).toBe('18446744073709551616');
    expect([...(m['raw'] as Buffer)]).toEqual([0xff, 0]);
  });

  it('when a Map is encoded, then its order is kept, integer-like keys included', () => {
    const bytes = encodeMessage(new Map<string, string>([['b', '1'], ['10', '2'], ['2', '3']]));
    expect(bytes[2]).toBe('b'.charCodeAt(0));
    expect(decodeMessage(bytes)['10']).toBe('2');
  });

  it('when values are UTF-8, then they round-trip', () => {
    expect(decodeMessage(encodeMessage({ id: 'Zürich 東京 🛰' }))).toEqual({ id: 'Zürich 東京 🛰' });
  });
});

describe('section shape cache', () => {
  it('when the same shape repeats (compiled factory path), then every decode is equal and independent', () => {
    const bytes = encodeMessage({ a: '1', s: { x: 'y', l: ['p', 'q'] }, ['__proto__']: 'z' } as never);
    const first = decodeMessage(bytes);
    for (let i = 0; i < 5; i++) {
      const again = decodeMessage(bytes);
      expect(again).toEqual(first);
      expect(again).not.toBe(first);
      expect(Object.getPrototypeOf(again)).toBe(Object.prototype);
      expect(Object.keys(again)).toEqual(['a', 's', '__proto__']);
    }
  });

  it('when a repeated shape has a duplicate key, then every decode throws ViciDuplicateKeyError', () => {
    const dup = Buffer.from([ElemKeyValue, 1, 97, 0, 0, ElemKeyValue, 1, 97, 0, 0]);
    for (let i = 0; i < 4; i++) expect(() => decodeMessage(dup)).toThrow(ViciDuplicateKeyError);
  });

  it('when very many distinct shapes pass (trie reset), then decoding stays correct', () => {
    for (let i = 0; i < 60_000; i++) {
      const key = `k${i}`;
      const m = decodeMessage(Buffer.concat([Buffer.from([ElemKeyValue, key.length]), Buffer.from(key), Buffer.from([0, 1, 118])]));
      if (m[key] !== 'v') throw new Error(`wrong decode at ${i}`);
    }
    expect(decodeMessage(readmeExample)).toEqual(readmeTree);
  });
});

describe('message decode errors', () => {
  const cases: [string, number[], new (...a: never[]) => ViciDecodeError][] = [
    ['unknown element type 0', [0], ViciUnknownElementTypeError],
    ['unknown element type 7', [7], ViciUnknownElementTypeError],
    ['list inside a list', [ElemListStart, 1, 97, ElemListStart, 1, 98, ElemListEnd, ElemListEnd], ViciNestedListError],
    ['section end without start', [ElemSectionEnd], ViciUnexpectedSectionEndError],
    ['unterminated section', [ElemSectionStart, 1, 97], ViciUnterminatedSectionError],
    ['unterminated list', [ElemListStart, 1, 97, ElemListItem, 0, 0], ViciUnterminatedListError],
    ['key/value inside a list', [ElemListStart, 1, 97, ElemKeyValue, 1, 98, 0, 0, ElemListEnd], ViciUnexpectedElementError],
    ['section inside a list', [ElemListStart, 1, 97, ElemSectionStart, 1, 98], ViciUnexpectedElementError],
    ['section end inside a list', [ElemSectionStart, 1, 97, ElemListStart, 1, 98, ElemSectionEnd], ViciUnexpectedElementError],
    ['list item outside a list', [ElemListItem, 0, 0], ViciUnexpectedElementError],
    ['list end outside a list', [ElemListEnd], ViciUnexpectedElementError],
    ['truncated name length', [ElemKeyValue], ViciTruncatedError],
    ['truncated name', [ElemKeyValue, 5, 97], ViciTruncatedError],
    ['truncated value length', [ElemKeyValue, 1, 97, 0], ViciTruncatedError],
    ['truncated value', [ElemKeyValue, 1, 97, 0, 9, 98], ViciTruncatedError],
    ['truncated list item', [ElemListStart, 1, 97, ElemListItem, 1, 0], ViciTruncatedError],
    ['duplicate key', [ElemKeyValue, 1, 97, 0, 0, ElemKeyValue, 1, 97, 0, 0], ViciDuplicateKeyError],
    ['duplicate section/list name', [ElemListStart, 1, 97, ElemListEnd, ElemSectionStart, 1, 97, ElemSectionEnd], ViciDuplicateKeyError],
  ];
  for (const [what, bytes, cls] of cases) {
    it(`when the message has a ${what}, then ${cls.name} is thrown`, () => {
      expect(() => decodeMessage(Buffer.from(bytes))).toThrow(cls);
    });
  }
});

describe('packet codec', () => {
  it('when a named request is encoded, then it has length, type, name and message', () => {
    const frame = encodePacket({ type: PktCmdRequest, name: 'version', message: {} });
    expect([...frame]).toEqual([0, 0, 0, 9, 0, 7, ...s('version')]);
  });

  it('when an event is decoded, then name and message come back', () => {
    const frame = encodePacket({ type: PktEvent, name: 'log', message: { msg: 'hi' } });
    expect(decodePacket(frame.subarray(4))).toEqual({ type: PktEvent, name: 'log', message: { msg: 'hi' } });
  });

  it('when an unnamed confirm is decoded, then it has no name and no message', () => {
    expect(decodePacket(Buffer.from([PktEventConfirm]))).toEqual({ type: PktEventConfirm });
  });

  it('when a response is empty, then its message is empty', () => {
    expect(decodePacket(Buffer.from([PktCmdResponse]))).toEqual({ type: PktCmdResponse, message: {} });
  });

  it.each([
    ['an empty packet', [], ViciTruncatedError],
    ['type 8', [8], ViciUnknownPacketTypeError],
    ['type 255', [255], ViciUnknownPacketTypeError],
    ['a named packet without name length', [PktEvent], ViciTruncatedError],
    ['a truncated name', [PktEvent, 4, 97], ViciTruncatedError],
    ['bytes after EVENT_CONFIRM', [PktEventConfirm, 0], ViciTrailingDataError],
    ['bytes after an EVENT_REGISTER name', [3, 1, 97, 1], ViciTrailingDataError],
    ['a bad message in an event', [PktEvent, 1, 97, ElemSectionEnd], ViciUnexpectedSectionEndError],
  ])('when decoding %s, then the error is typed', (_what, bytes, cls) => {
    expect(() => decodePacket(Buffer.from(bytes as number[]))).toThrow(cls as unknown as typeof ViciDecodeError);
  });
});

describe('encode limits', () => {
  it('when a name is 256 bytes, then ViciLimitError', () => {
    expect(() => encodeMessage({ ['k'.repeat(256)]: 'v' })).toThrow(ViciLimitError);
    expect(() => encodeMessage({ ['k'.repeat(255)]: 'v' })).not.toThrow();
  });

  it('when a value is 65536 bytes, then ViciLimitError', () => {
    expect(() => encodeMessage({ k: 'v'.repeat(65536) })).toThrow(ViciLimitError);
    expect(() => encodeMessage({ k: Buffer.alloc(65536) })).toThrow(ViciLimitError);
    expect(() => encodeMessage({ k: 'v'.repeat(65535) })).not.toThrow();
  });

  it('when a packet exceeds 512 KiB, then ViciLimitError', () => {
    const big: Record<string, string> = {};
    for (let i = 0; i < 9; i++) big[`k${i}`] = 'v'.repeat(65535);
    expect(() => encodePacket({ type: PktCmdRequest, name: 'load-conn', message: big })).toThrow(ViciLimitError);
  });

  it('when a list holds a list or a section, then ViciInvalidValueError', () => {
    expect(() => encodeMessage({ l: [['x']] as never })).toThrow(ViciInvalidValueError);
    expect(() => encodeMessage({ l: [{ a: 'b' }] as never })).toThrow(ViciInvalidValueError);
    expect(() => encodeMessage({ n: NaN })).toThrow(ViciInvalidValueError);
  });

  it('when a named packet has no name, then ViciInvalidValueError', () => {
    expect(() => encodePacket({ type: PktEvent })).toThrow(ViciInvalidValueError);
  });
});

describe('FrameDecoder', () => {
  const frames = [
    encodePacket({ type: PktEvent, name: 'log', message: { msg: 'a' } }),
    encodePacket({ type: PktEventConfirm }),
    encodePacket({ type: PktCmdResponse, message: readmeTree }),
  ];
  const stream = Buffer.concat(frames);

  it('when bytes arrive one at a time, then every frame comes out whole and in order', () => {
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (const b of stream) d.push(Buffer.of(b), (f) => out.push(Buffer.from(f)));
    expect(out).toEqual(frames.map((f) => f.subarray(4)));
    expect(d.bufferedBytes).toBe(0);
  });

  it('when chunks split anywhere, then the frames are the same', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new FrameDecoder();
      const out: Buffer[] = [];
      d.push(stream.subarray(0, cut), (f) => out.push(Buffer.from(f)));
      d.push(stream.subarray(cut), (f) => out.push(Buffer.from(f)));
      expect(out).toEqual(frames.map((f) => f.subarray(4)));
    }
  });

  it('when a length field is over 512 KiB, then ViciFrameTooLargeError before buffering it', () => {
    const d = new FrameDecoder();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MaxFrameBytes + 1);
    expect(() => d.push(header, () => undefined)).toThrow(ViciFrameTooLargeError);
    const ok = Buffer.alloc(4);
    ok.writeUInt32BE(MaxFrameBytes);
    expect(() => new FrameDecoder().push(ok, () => undefined)).not.toThrow();
  });

  it('when the length header itself is split, then the limit is still enforced', () => {
    const d = new FrameDecoder({ maxFrameBytes: 100 });
    d.push(Buffer.from([0, 0]), () => undefined);
    expect(() => d.push(Buffer.from([1, 0]), () => undefined)).toThrow(ViciFrameTooLargeError);
  });
});
