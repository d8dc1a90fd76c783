/**
 * rtnetlink message parser, driven by the declarative tables in schema.ts.
 *
 * Framing (include/uapi/linux/netlink.h): a datagram holds one or more messages, each
 * a 16-byte nlmsghdr followed by a family header and 4-byte aligned attributes
 * (struct rtattr: u16 len, u16 type). Host byte order throughout (little-endian here).
 *
 * Robustness: a message whose lengths do not add up becomes an `invalid` result carrying
 * its bytes; parsing never throws. If a header length is broken the rest of the datagram
 * cannot be framed and becomes one `invalid` result.
 */
import {
  AF, MESSAGE_TYPES, NEXTHOP_ATTRS, NLA_HDRLEN, NLMSG, NLMSG_HDRLEN, RTNEXTHOP_LEN,
  type AddressMessage, type AttrSpec, type LinkMessage, type MessageSpec, type Nexthop, type RouteMessage,
  type RtnlMessage, type RuleMessage,
} from './schema.js';

const align4 = (n: number): number => (n + 3) & ~3;
// Little-endian reads straight from the bytes (no DataView per datagram).
const u16 = (b: Uint8Array, o: number): number => (b[o] as number) | ((b[o + 1] as number) << 8);
const u32 = (b: Uint8Array, o: number): number =>
  ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) + (b[o + 3] as number) * 0x1000000;

/** Formats a 4- or 16-byte address the way iproute2 prints it (RFC 5952 for IPv6). */
export function formatAddress(b: Uint8Array, off: number, len: number): string {
  if (len === 4) {
    return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  }
  if (len === 16) return formatIPv6(b, off);
  let hex = '';
  for (let i = 0; i < len; i++) hex += (b[off + i] as number).toString(16).padStart(2, '0');
  return hex;
}

function formatIPv6(b: Uint8Array, off: number): string {
  const w = new Array<number>(8);
  for (let i = 0; i < 8; i++) w[i] = ((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number);
  // IPv4-mapped ::ffff:a.b.c.d, printed as iproute2 (inet_ntop) does.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  // Longest run of >= 2 zero words is compressed to "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += (w[i] as number).toString(16);
  }
  return s;
}

type Op = 'new' | 'del';
/**
 * Object literals with every field of each message kind, so that all messages of a kind
 * share one hidden class (fast property access downstream). TypeScript checks that each
 * literal is a complete message; `fieldsMatchSpecs` in parse.test.ts checks that every
 * field named in schema.ts exists here.
 */
export const BLANK = {
  route: (op: Op, nlFlags: number, seq: number, pid: number): RouteMessage => ({
    kind: 'route', op, nlFlags, seq, pid, family: 0, dstLen: 0, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0,
    rtmFlags: 0, dst: undefined, src: undefined, oif: undefined, gateway: undefined, priority: undefined, prefsrc: undefined,
    nexthops: undefined, mark: undefined, via: undefined, pref: undefined, nhId: undefined,
  }),
  address: (op: Op, nlFlags: number, seq: number, pid: number): AddressMessage => ({
    kind: 'address', op, nlFlags, seq, pid, family: 0, prefixLen: 0, flags: 0, scope: 0, index: 0, address: undefined,
    local: undefined, label: undefined, broadcast: undefined, rtPriority: undefined,
  }),
  link: (op: Op, nlFlags: number, seq: number, pid: number): LinkMessage => ({
    kind: 'link', op, nlFlags, seq, pid, family: 0, linkType: 0, index: 0, flags: 0, change: 0, ifname: undefined,
    mtu: undefined, master: undefined, operstate: undefined,
  }),
  rule: (op: Op, nlFlags: number, seq: number, pid: number): RuleMessage => ({
    kind: 'rule', op, nlFlags, seq, pid, family: 0, dstLen: 0, srcLen: 0, tos: 0, table: 0, action: 0, ruleFlags: 0,
    dst: undefined, src: undefined, iifname: undefined, oifname: undefined, goto: undefined, priority: undefined,
    fwmark: undefined, fwmask: undefined,
  }),
} as const;

/** An attribute spec plus a store into its field, generated from the table. */
interface CompiledAttr extends AttrSpec {
  set: (msg: object, v: unknown) => void;
}

interface CompiledSpec {
  spec: MessageSpec;
  byType: (CompiledAttr | undefined)[];
  /** Reads every header field of the table into the message. */
  header: (msg: object, b: Uint8Array, body: number) => void;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
function fieldName(f: string): string {
  if (!IDENT.test(f)) throw new Error(`bad field name in schema: ${f}`);
  return f;
}

/**
 * The parser is generated from the tables: one small store function per attribute and one
 * header reader per message kind, so that every store is a named, monomorphic property store
 * (V8 inline caches) instead of a keyed one. Field names come from schema.ts only.
 */
function compile(attrs: readonly AttrSpec[]): (CompiledAttr | undefined)[] {
  const byType: (CompiledAttr | undefined)[] = [];
  for (const a of attrs) {
    byType[a.type] = { ...a, set: new Function('msg', 'v', `msg.${fieldName(a.field)} = v;`) as CompiledAttr['set'] };
  }
  return byType;
}

function compileHeader(spec: MessageSpec): CompiledSpec['header'] {
  const body = spec.fields.map((f) => {
    const at = `body + ${f.offset}`;
    const read = f.size === 1 ? `b[${at}]` : f.size === 2 ? `(b[${at}] | (b[${at} + 1] << 8))`
      : `((b[${at}] | (b[${at} + 1] << 8) | (b[${at} + 2] << 16)) + b[${at} + 3] * 0x1000000)`;
    return `msg.${fieldName(f.field)} = ${read};`;
  }).join('\n');
  return new Function('msg', 'b', 'body', body) as CompiledSpec['header'];
}

const COMPILED = new Map<number, CompiledSpec & { op: 'new' | 'del' }>();
for (const [type, { spec, op }] of MESSAGE_TYPES) {
  COMPILED.set(type, { spec, op, byType: compile(spec.attrs), header: compileHeader(spec) });
}
const NEXTHOP_BY_TYPE = compile(NEXTHOP_ATTRS);

class Malformed {
  constructor(readonly reason: string) {}
}

function decodeVia(b: Uint8Array, off: number, len: number): string {
  // struct rtvia { __kernel_sa_family_t rtvia_family (u16); __u8 rtvia_addr[]; }
  if (len < 2) throw new Malformed('RTA_VIA shorter than its family');
  const fam = u16(b, off);
  const alen = len - 2;
  if ((fam === AF.INET && alen !== 4) || (fam === AF.INET6 && alen !== 16)) throw new Malformed('RTA_VIA address length');
  return formatAddress(b, off + 2, alen);
}

function decodeMultipath(b: Uint8Array, off: number, len: number): Nexthop[] {
  const out: Nexthop[] = [];
  const end = off + len;
  while (off + RTNEXTHOP_LEN <= end) {
    const rtnhLen = u16(b, off);
    if (rtnhLen < RTNEXTHOP_LEN || off + rtnhLen > end) throw new Malformed('rtnexthop length');
    const nh: Nexthop = {
      oif: (u32(b, off + 4) | 0),
      weight: (b[off + 3] as number) + 1,
      flags: (b[off + 2] as number),
      gateway: undefined,
      via: undefined,
    };
    let a = off + RTNEXTHOP_LEN;
    const aend = off + rtnhLen;
    while (a + NLA_HDRLEN <= aend) {
      const alen = u16(b, a);
      const atype = u16(b, a + 2) & 0x3fff;
      if (alen < NLA_HDRLEN || a + alen > aend) throw new Malformed('nexthop attribute length');
      const spec = NEXTHOP_BY_TYPE[atype];
      if (spec !== undefined) {
        if (spec.codec === 'addr') nh.gateway = formatAddress(b, a + NLA_HDRLEN, alen - NLA_HDRLEN);
        else nh.via = decodeVia(b, a + NLA_HDRLEN, alen - NLA_HDRLEN);
      }
      a += align4(alen);
    }
    out.push(nh);
    off += align4(rtnhLen);
  }
  return out;
}

function decodeMessage(b: Uint8Array, off: number, len: number, type: number,
  c: CompiledSpec & { op: 'new' | 'del' }): RtnlMessage {
  const { spec, byType, header } = c;
  const body = off + NLMSG_HDRLEN;
  if (len < NLMSG_HDRLEN + spec.headerLen) throw new Malformed(`${spec.struct} truncated`);
  // A literal of the full shape first (one hidden class per kind), then fields by table.
  const msg = BLANK[spec.kind](c.op, u16(b, off + 6), u32(b, off + 8), u32(b, off + 12));
  header(msg, b, body);
  let a = body + spec.headerLen;
  const end = off + len;
  while (a + NLA_HDRLEN <= end) {
    const alen = u16(b, a);
    // NLA_F_NESTED / NLA_F_NET_BYTEORDER live in the top two bits of nla_type.
    const atype = u16(b, a + 2) & 0x3fff;
    if (alen < NLA_HDRLEN || a + alen > end) throw new Malformed(`attribute ${atype} length ${alen}`);
    const as = byType[atype];
    if (as !== undefined) {
      const p = a + NLA_HDRLEN;
      const plen = alen - NLA_HDRLEN;
      switch (as.codec) {
        case 'u32':
          if (plen < 4) throw new Malformed(`${as.name} shorter than 4 bytes`);
          as.set(msg, u32(b, p));
          break;
        case 'u8':
          if (plen < 1) throw new Malformed(`${as.name} empty`);
          as.set(msg, b[p] as number);
          break;
        case 'addr':
          if (plen !== 4 && plen !== 16) throw new Malformed(`${as.name} address length ${plen}`);
          as.set(msg, formatAddress(b, p, plen));
          break;
        case 'string': {
          let e = p;
          const pend = p + plen;
          while (e < pend && b[e] !== 0) e++;
          as.set(msg, Buffer.from(b.buffer, b.byteOffset + p, e - p).toString('utf8'));
          break;
        }
        case 'multipath':
          as.set(msg, decodeMultipath(b, p, plen));
          break;
        case 'via':
          as.set(msg, decodeVia(b, p, plen));
          break;
      }
    }
    a += align4(alen);
  }
  return msg as unknown as RtnlMessage;
}

/**
 * Parses every message of one datagram and hands each to `emit`, in order.
 * `emit` receives `invalid` results for malformed input; this function never throws
 * on malformed input.
 */
export function parseDatagram(buf: Uint8Array, emit: (m: RtnlMessage) => void): void {
  const b = buf;
  let off = 0;
  const total = buf.byteLength;
  while (off + NLMSG_HDRLEN <= total) {
    const len = u32(b, off);
    if (len < NLMSG_HDRLEN || off + len > total) {
      emit({ kind: 'invalid', reason: `nlmsg_len ${len} at offset ${off} of ${total}`, bytes: buf.slice(off) });
      return;
    }
    const type = u16(b, off + 4);
    const c = COMPILED.get(type);
    try {
      if (c !== undefined) {
        emit(decodeMessage(buf, off, len, type, c));
      } else if (type === NLMSG.DONE) {
        emit({ kind: 'done', seq: u32(b, off + 8), flags: u16(b, off + 6) });
      } else if (type === NLMSG.ERROR) {
        if (len < NLMSG_HDRLEN + 4) throw new Malformed('nlmsgerr truncated');
        emit({ kind: 'error', seq: u32(b, off + 8), errno: (u32(b, off + NLMSG_HDRLEN) | 0) });
      } else if (type !== NLMSG.NOOP) {
        emit({ kind: 'other', type });
      }
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      emit({ kind: 'invalid', reason: e.reason, bytes: buf.slice(off, off + len) });
    }
    off += align4(len);
  }
  if (off < total && total - off >= 4) {
    emit({ kind: 'invalid', reason: `${total - off} trailing bytes`, bytes: buf.slice(off) });
  }
}

/** Convenience: all messages of a datagram as an array. */
export function parseAll(buf: Uint8Array): RtnlMessage[] {
  const out: RtnlMessage[] = [];
  parseDatagram(buf, (m) => out.push(m));
  return out;
}
