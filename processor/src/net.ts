/**
 * Routing-state events (rtnetlink) as triggers: their kind/op for counting and a one-line
 * summary in `ip` words for findings.
 */
import { formatUs } from '@roamwatch/core';
import type { RoamwatchEvent, Route, Address, Link, Rule } from '@roamwatch/core';
import type { NetKind } from './types.js';

/** `coalesced`: a route.summary, many route changes the agent counted in a storm. */
export type NetOp = 'added' | 'removed' | 'replaced' | 'changed' | 'coalesced';

const TABLES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

export function tableName(t: number): string {
  return TABLES[t] ?? String(t);
}

export function describeRoute(r: Route): string {
  const parts = [r.type === 'unicast' ? '' : `${r.type} `, r.dst];
  if (r.src) parts.push(` from ${r.src}`);
  if (r.gateway) parts.push(` via ${r.gateway}`);
  if (r.via) parts.push(` via ${r.via}`);
  if (r.oif) parts.push(` dev ${r.oif}`);
  if (r.prefsrc) parts.push(` src ${r.prefsrc}`);
  parts.push(` table ${tableName(r.table)}`);
  if (r.protocol) parts.push(` proto ${r.protocol}`);
  if (r.priority !== undefined) parts.push(` metric ${r.priority}`);
  return parts.join('');
}

function describeAddress(a: Address): string {
  return `${a.address}/${a.prefixLen}${a.ifName ? ` dev ${a.ifName}` : ` ifindex ${a.ifIndex}`} scope ${a.scope}`;
}

function describeLink(l: Link): string {
  return `${l.ifName} ${l.operstate}${l.flags.includes('UP') ? '' : ' (admin down)'}`;
}

function describeRule(r: Rule): string {
  const sel: string[] = [];
  if (r.src) sel.push(`from ${r.src}`);
  if (r.dst) sel.push(`to ${r.dst}`);
  if (r.fwmark !== undefined) sel.push(`fwmark 0x${r.fwmark.toString(16)}${r.fwmask !== undefined ? `/0x${r.fwmask.toString(16)}` : ''}`);
  if (r.iif) sel.push(`iif ${r.iif}`);
  if (r.oif) sel.push(`oif ${r.oif}`);
  const act = r.action === 'to_tbl' && r.table !== undefined ? `lookup ${tableName(r.table)}` : r.action;
  return `${r.priority}: ${sel.length ? sel.join(' ') : 'from all'} ${act}`;
}

export interface NetChange {
  kind: NetKind;
  op: NetOp;
  summary: string;
  /** What changed, for grouping (incidents.ts): a route's destination prefix, an address with its length, a link's name, a rule's selector. */
  target: string;
}

const KINDS: Record<string, [NetKind, NetOp]> = {
  'route.added': ['route', 'added'],
  'route.removed': ['route', 'removed'],
  'route.replaced': ['route', 'replaced'],
  'route.summary': ['route', 'coalesced'],
  'address.added': ['address', 'added'],
  'address.removed': ['address', 'removed'],
  'link.added': ['link', 'added'],
  'link.removed': ['link', 'removed'],
  'link.changed': ['link', 'changed'],
  'rule.added': ['rule', 'added'],
  'rule.removed': ['rule', 'removed'],
};

/** Kind and op of a routing-state event, without building its summary; undefined for other events. */
export function netKind(kind: string): [NetKind, NetOp] | undefined {
  return KINDS[kind];
}

/** The net change an event describes, or undefined for vici/agent events and resyncs. */
export function netChange(e: RoamwatchEvent): NetChange | undefined {
  switch (e.kind) {
    case 'route.added':
    case 'route.removed': {
      const op = e.kind === 'route.added' ? 'added' : 'removed';
      return { kind: 'route', op, target: e.payload.route.dst, summary: `route ${describeRoute(e.payload.route)} ${op}` };
    }
    case 'route.summary': {
      const p = e.payload;
      const tables = p.tables
        .slice(0, 4)
        .map((t) => `table ${tableName(t.table)} IPv${t.family}: ${[t.added ? `+${t.added}` : '', t.removed ? `−${t.removed}` : '', t.replaced ? `~${t.replaced}` : ''].filter(Boolean).join(' ') || '0'}`)
        .join(', ');
      const more = p.tables.length > 4 ? ` and ${p.tables.length - 4} more tables` : '';
      const spanMs = Math.round((p.lastUs - p.firstUs) / 1000);
      return {
        kind: 'route',
        op: 'coalesced',
        // one cause for every gateway in a storm (incidents group on kind + op + target)
        target: 'storm',
        summary: `route storm: ${p.changes} route changes coalesced by the agent (${tables}${more}) within ${spanMs} ms, storm since ${formatUs(p.stormStartUs)}`,
      };
    }
    case 'route.replaced':
      return { kind: 'route', op: 'replaced', target: e.payload.route.dst, summary: `route ${describeRoute(e.payload.old)} replaced by ${describeRoute(e.payload.route)}` };
    case 'address.added':
    case 'address.removed': {
      const op = e.kind === 'address.added' ? 'added' : 'removed';
      return { kind: 'address', op, target: `${e.payload.address.address}/${e.payload.address.prefixLen}`, summary: `address ${describeAddress(e.payload.address)} ${op}` };
    }
    case 'link.added':
    case 'link.removed': {
      const op = e.kind === 'link.added' ? 'added' : 'removed';
      return { kind: 'link', op, target: e.payload.link.ifName, summary: `link ${describeLink(e.payload.link)} ${op}` };
    }
    case 'link.changed':
      return { kind: 'link', op: 'changed', target: e.payload.link.ifName, summary: `link ${e.payload.old.ifName} changed: ${describeLink(e.payload.old)} → ${describeLink(e.payload.link)}` };
    case 'rule.added':
    case 'rule.removed': {
      const op = e.kind === 'rule.added' ? 'added' : 'removed';
      {
        const rule = describeRule(e.payload.rule);
        return { kind: 'rule', op, target: rule, summary: `rule ${rule} ${op}` };
      }
    }
    default:
      return undefined;
  }
}

/** True when `addr` lies in `prefix` (addr/len), for IPv4 and IPv6 text forms. */
export function prefixContains(prefix: string, addr: string): boolean {
  const slash = prefix.indexOf('/');
  if (slash < 0) return false;
  const net = parseIp(prefix.slice(0, slash));
  const ip = parseIp(addr);
  const len = Number(prefix.slice(slash + 1));
  if (!net || !ip || net.length !== ip.length) return false;
  let bits = len;
  for (let i = 0; i < net.length && bits > 0; i++) {
    const take = Math.min(8, bits);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((net[i]! & mask) !== (ip[i]! & mask)) return false;
    bits -= take;
  }
  return true;
}

function parseIp(text: string): number[] | undefined {
  const s = text.split('%')[0]!;
  if (s.includes(':')) {
    const [headS, tailS] = s.split('::') as [string, string | undefined];
    const head = headS ? headS.split(':') : [];
    const tail = tailS ? tailS.split(':') : [];
    let v4: number[] | undefined;
    const last = (tail.length ? tail : head)[(tail.length ? tail : head).length - 1];
    if (last && last.includes('.')) {
      v4 = parseIp(last);
      if (tail.length) tail.pop();
      else head.pop();
    }
    const groups = 8 - (v4 ? 2 : 0);
    const fill = s.includes('::') ? groups - head.length - tail.length : 0;
    const words = [...head, ...Array<string>(Math.max(0, fill)).fill('0'), ...tail];
    if (words.length !== groups) return undefined;
    const out: number[] = [];
    for (const w of words) {
      const n = parseInt(w || '0', 16);
      out.push((n >> 8) & 0xff, n & 0xff);
    }
    if (v4) out.push(...v4);
    return out;
  }
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return undefined;
  return parts;
}
