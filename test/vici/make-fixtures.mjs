#!/usr/bin/env node
// Turns test/vici/captured/session.json (raw segments recorded from real charon 5.9.8 by
// capture-fixtures.test.ts) into agent/src/vici/fixtures/charon-5.9.8.ts: one golden fixture
// per selected segment, its bytes as hex split per field, each line with a comment naming the
// field. The walker below is independent of the codec under test on purpose.
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const session = JSON.parse(readFileSync(new URL('test/vici/captured/session.json', root), 'utf8'));
const frames = session.frames.map((f) => ({ ...f, bytes: Buffer.from(f.hex, 'hex') }));

const PKT = ['CMD_REQUEST', 'CMD_RESPONSE', 'CMD_UNKNOWN', 'EVENT_REGISTER', 'EVENT_UNREGISTER', 'EVENT_CONFIRM', 'EVENT_UNKNOWN', 'EVENT'];
const NAMED = new Set([0, 3, 4, 7]);
const ELEM = ['?', 'SECTION_START', 'SECTION_END', 'KEY_VALUE', 'LIST_START', 'LIST_ITEM', 'LIST_END'];
const hex = (b) => b.toString('hex');
const q = (b) => JSON.stringify(b.toString('latin1')).slice(1, -1).replace(/\*\//g, '*\\/');

/** Returns [hexChunk, comment] lines for one packet. */
function annotate(b) {
  const out = [];
  let p = 0;
  const type = b[p++];
  out.push([hex(b.subarray(0, 1)), `packet type ${type} = ${PKT[type]}`]);
  if (NAMED.has(type)) {
    const n = b[p];
    out.push([hex(b.subarray(p, p + 1 + n)), `name: length ${n}, "${q(b.subarray(p + 1, p + 1 + n))}"`]);
    p += 1 + n;
  }
  let depth = 0;
  const ind = () => '  '.repeat(depth);
  while (p < b.length) {
    const t = b[p];
    const start = p++;
    let comment;
    if (t === 1 || t === 3 || t === 4) {
      const n = b[p];
      const name = q(b.subarray(p + 1, p + 1 + n));
      p += 1 + n;
      if (t === 3) {
        const vl = b.readUInt16BE(p);
        const v = q(b.subarray(p + 2, p + 2 + vl));
        p += 2 + vl;
        comment = `${ind()}${ELEM[t]} ${name} = ${v}  (name ${n} B, value ${vl} B)`;
      } else {
        comment = `${ind()}${ELEM[t]} ${name}  (name ${n} B)`;
      }
    } else if (t === 5) {
      const vl = b.readUInt16BE(p);
      const v = q(b.subarray(p + 2, p + 2 + vl));
      p += 2 + vl;
      comment = `${ind()}${ELEM[t]} ${v}  (${vl} B)`;
    } else if (t === 2 || t === 6) {
      comment = `${'  '.repeat(Math.max(0, depth - (t === 2 ? 1 : 0)))}${ELEM[t]}`;
    } else {
      throw new Error(`unexpected element ${t}`);
    }
    out.push([hex(b.subarray(start, p)), comment]);
    if (t === 1 || t === 4) depth++;
    if (t === 2 || t === 6) depth--;
  }
  return out;
}

function findIn(pred, from = 0) {
  const i = frames.findIndex((f, j) => j >= from && pred(f));
  if (i < 0) throw new Error('fixture frame not found');
  return i;
}
const pname = (f) => (NAMED.has(f.bytes[0]) ? f.bytes.subarray(2, 2 + f.bytes[1]).toString() : '');
const isEv = (name, extra = () => true) => (f) => f.dir === 'in' && f.bytes[0] === 7 && pname(f) === name && extra(f);
const has = (s) => (f) => f.bytes.includes(Buffer.from(s, 'latin1'));

const iVersionReq = findIn((f) => f.dir === 'out' && pname(f) === 'version');
const iListSas = findIn((f) => f.dir === 'out' && pname(f) === 'list-sas');
const iReauthLog = findIn(isEv('log', has('reauthenticating IKE_SA due to address change')));
const picks = [
  ['versionRequest', 'CMD_REQUEST version, as sent by the client (empty message)', iVersionReq],
  ['versionResponse', 'CMD_RESPONSE to version', iVersionReq + 1],
  ['statsResponse', 'CMD_RESPONSE to stats', findIn((f) => f.dir === 'in' && f.bytes[0] === 1, iVersionReq + 2)],
  ['registerListSa', 'EVENT_REGISTER list-sa (client)', findIn((f) => f.dir === 'out' && f.bytes[0] === 3 && pname(f) === 'list-sa')],
  ['eventConfirm', 'EVENT_CONFIRM (unnamed, no message)', findIn((f) => f.dir === 'in' && f.bytes[0] === 5)],
  ['listSaEvent', 'EVENT list-sa streamed by list-sas: one established IKE_SA with one CHILD_SA (note the child section key name-uniqueid)', findIn(isEv('list-sa'))],
  ['listSasResponse', 'CMD_RESPONSE completing list-sas (empty message)', findIn((f) => f.dir === 'in' && f.bytes[0] === 1, iListSas)],
  ['listConnEvent', 'EVENT list-conn streamed by list-conns (local_addrs as configured: a hostname)', findIn(isEv('list-conn'))],
  ['cmdUnknown', 'CMD_UNKNOWN answering the request "no-such-command"', findIn((f) => f.dir === 'in' && f.bytes[0] === 2)],
  ['eventUnknown', 'EVENT_UNKNOWN answering EVENT_REGISTER "no-such-event"', findIn((f) => f.dir === 'in' && f.bytes[0] === 6)],
  ['logReauth', 'EVENT log, level 1: the reauthentication caused by an unrelated route change', iReauthLog],
  ['ikeUpdate', 'EVENT ike-update during the reauth (top level: the new endpoints; section: the IKE_SA)', findIn(isEv('ike-update'), iReauthLog)],
  ['ikeUpdownDownReauth', 'EVENT ike-updown, down (no "up" key), state DELETING, tasks-active IKE_REAUTH', findIn(isEv('ike-updown', (f) => !has('\x03\x02up')(f)), iReauthLog)],
  ['childUpdownDown', 'EVENT child-updown, down (no "up" key)', findIn(isEv('child-updown', (f) => !has('\x03\x02up')(f)), iReauthLog)],
  ['ikeUpdownUp', 'EVENT ike-updown, up=yes: the new IKE_SA after the reauth (uniqueid + 1)', findIn(isEv('ike-updown', has('\x03\x02up')), iReauthLog)],
  ['childUpdownUp', 'EVENT child-updown, up=yes', findIn(isEv('child-updown', has('\x03\x02up')), iReauthLog)],
  ['rekeyResponse', 'CMD_RESPONSE to rekey ike=rw', findIn((f) => f.dir === 'in' && f.bytes[0] === 1 && has('matches')(f))],
  ['ikeRekey', 'EVENT ike-rekey: old and new IKE_SA', findIn(isEv('ike-rekey'))],
  ['childRekey', 'EVENT child-rekey: old and new CHILD_SA under child-sas.<name>', findIn(isEv('child-rekey'))],
  ['terminateResponse', 'CMD_RESPONSE to terminate ike=rw', findIn((f) => f.dir === 'in' && f.bytes[0] === 1 && has('terminated')(f))],
];

let ts = `/**
 * Golden VICI fixtures recorded from a real charon (strongSwan 5.9.8, Debian 12) in the lab by
 * test/vici/capture-fixtures.test.ts, annotated by test/vici/make-fixtures.mjs. Do not edit by
 * hand: re-record and regenerate.
 *
 * Each fixture is one segment's data (packet type onwards, without the 4-byte length header),
 * one line per protocol field, each with a comment naming the field and its value.
 */

export interface GoldenFixture {
  /** What the segment is and where it came from. */
  description: string;
  /** Direction on the wire: 'out' = client → charon, 'in' = charon → client. */
  dir: 'in' | 'out';
  /** Milliseconds since the recording started. */
  t: number;
  /** The segment's data as hex, one protocol field per entry. */
  fields: readonly string[];
}

/** The segment data of a fixture as bytes. */
export function fixtureBytes(f: GoldenFixture): Buffer {
  return Buffer.from(f.fields.join(''), 'hex');
}

`;
for (const [name, description, i] of picks) {
  const f = frames[i];
  const lines = annotate(f.bytes);
  const width = Math.min(80, Math.max(...lines.map(([h]) => h.length)) + 4);
  ts += `/** ${description}. */\nexport const ${name}: GoldenFixture = {\n  description: ${JSON.stringify(description)},\n  dir: '${f.dir}',\n  t: ${f.t},\n  fields: [\n`;
  for (const [h, c] of lines) ts += `    ${`'${h}',`.padEnd(width)} // ${c}\n`;
  ts += `  ],\n};\n\n`;
}
// The whole reauth stream, from the first log line of the reauth to child-updown up.
const iStart = findIn(isEv('log', has('old path is not available anymore')));
const iEnd = findIn(isEv('child-updown', has('\x03\x02up')), iStart);
ts += `/**\n * Every segment charon sent from the first log line of the route-triggered reauth to the new\n * CHILD_SA's child-updown (up), in order: the event sequence of a break-before-make reauth.\n */\nexport const reauthStream: readonly string[] = [\n`;
for (let i = iStart; i <= iEnd; i++) {
  const f = frames[i];
  const summary = `${PKT[f.bytes[0]]} ${pname(f)}`;
  ts += `  // ${summary}\n  '${f.hex}',\n`;
}
ts += `];\n`;
writeFileSync(new URL('agent/src/vici/fixtures/charon-5.9.8.ts', root), ts);
console.log(`wrote ${picks.length} fixtures + reauthStream (${iEnd - iStart + 1} segments)`);

// The benchmark input (bench/vici): every list-sa and ike-updown EVENT charon sent in the
// 24-connection recording, in order, as hex segment data (no length header).
const benchUrl = new URL('test/vici/captured/bench-stream.json', root);
let bench;
try {
  bench = JSON.parse(readFileSync(benchUrl, 'utf8'));
} catch {
  bench = undefined;
}
if (bench) {
  const events = bench.frames.filter((f) => f.dir === 'in' && f.hex.startsWith('07')).map((f) => f.hex);
  const out = {
    source: 'charon 5.9.8 (Debian 12) in the roamwatch lab, 24 IKE_SAs with 2 CHILD_SAs each: list-sas before and after a route-triggered reauth of all of them, plus the ike-updown events of that reauth. Recorded by test/vici/capture-fixtures.test.ts.',
    frames: events,
  };
  writeFileSync(new URL('bench/vici/recorded-frames.json', root), JSON.stringify(out, null, 0) + '\n');
  console.log(`wrote bench/vici/recorded-frames.json (${events.length} events)`);
}
