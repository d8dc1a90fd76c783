/**
 * Minimal IP address arithmetic for the path analyzer: parse IPv4/IPv6 text into
 * bytes, test prefix containment (charon's addr_in_subnet()), canonical text form.
 * No dependencies; addresses with a zone (`fe80::1%eth0`) keep only the address part.
 */

export type IpFamily = 4 | 6;

export interface IpAddr {
  family: IpFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  let s = text;
  const out = new Uint8Array(16);
  // Embedded IPv4 tail (::ffff:1.2.3.4).
  let tail: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return undefined;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const rest = dbl >= 0 ? s.slice(dbl + 2) : '';
  const hs = head === '' ? [] : head.split(':');
  const rs = rest === '' ? [] : rest.split(':');
  if (dbl < 0 && hs.length !== 8) return undefined;
  if (dbl >= 0 && hs.length + rs.length > 7) return undefined;
  const groups: number[] = [];
  for (const g of [...hs, ...(dbl >= 0 ? new Array<string>(8 - hs.length - rs.length).fill('0') : []), ...rs]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    groups.push(parseInt(g, 16));
  }
  if (groups.length !== 8) return undefined;
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address (a `%zone` suffix is ignored); undefined if it is not one. */
export function parseIp(text: string): IpAddr | undefined {
  const t = text.trim().replace(/%.*$/, '');
  if (t.includes(':')) {
    const b = parseV6(t);
    return b ? { family: 6, bytes: b } : undefined;
  }
  const b = parseV4(t);
  return b ? { family: 4, bytes: b } : undefined;
}

export function isIpLiteral(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6. */
export function formatIp(a: IpAddr): string {
  if (a.family === 4) return Array.from(a.bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((a.bytes[i * 2] ?? 0) << 8) | (a.bytes[i * 2 + 1] ?? 0));
  // Longest run of zero groups (length >= 2) becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** Canonical form of an address string, or the input unchanged when it does not parse. */
export function canonicalIp(text: string): string {
  const a = parseIp(text);
  return a ? formatIp(a) : text;
}

export function ipEquals(a: string | IpAddr | undefined, b: string | IpAddr | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const x = typeof a === 'string' ? parseIp(a) : a;
  const y = typeof b === 'string' ? parseIp(b) : b;
  if (!x || !y || x.family !== y.family) return false;
  for (let i = 0; i < x.bytes.length; i++) if (x.bytes[i] !== y.bytes[i]) return false;
  return true;
}

export interface IpPrefix {
  addr: IpAddr;
  len: number;
}

/** Parses `addr/len` (or a bare address, as a host prefix). */
export function parsePrefix(text: string): IpPrefix | undefined {
  const [a, l] = text.split('/');
  const addr = parseIp(a ?? '');
  if (!addr) return undefined;
  const max = addr.family === 4 ? 32 : 128;
  if (l === undefined) return { addr, len: max };
  if (!/^\d{1,3}$/.test(l)) return undefined;
  const len = Number(l);
  if (len > max) return undefined;
  return { addr, len };
}

/**
 * charon's addr_in_subnet(): is `addr` (with `addrLen` significant bits) inside
 * `net`/`netLen`? A /0 net contains everything, also of the other family.
 */
export function addrInSubnet(addr: IpAddr, addrLen: number, net: IpAddr, netLen: number): boolean {
  if (netLen === 0) return true;
  if (addr.family !== net.family || netLen > net.bytes.length * 8 || addrLen < netLen) return false;
  let bits = netLen;
  let i = 0;
  while (bits > 0) {
    const a = addr.bytes[i] ?? 0;
    const n = net.bytes[i] ?? 0;
    if (bits < 8) {
      const mask = (0xff << (8 - bits)) & 0xff;
      return (a & mask) === (n & mask);
    }
    if (a !== n) return false;
    i++;
    bits -= 8;
  }
  return true;
}

export function prefixContains(prefix: string, addr: string): boolean {
  const p = parsePrefix(prefix);
  const a = parseIp(addr);
  if (!p || !a) return false;
  return addrInSubnet(a, a.bytes.length * 8, p.addr, p.len);
}

export function hostPrefix(addr: string): string {
  const a = parseIp(addr);
  if (!a) return addr;
  return `${formatIp(a)}/${a.family === 4 ? 32 : 128}`;
}

export function familyOf(addr: string): IpFamily | undefined {
  return parseIp(addr)?.family;
}
