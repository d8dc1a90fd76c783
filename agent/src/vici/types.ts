/**
 * Typed views of the messages roamwatch reads: IKE_SAs and CHILD_SAs (list-sas and the SA
 * events), connections (list-conns) and the events ike-updown, ike-rekey, ike-update,
 * child-updown, child-rekey and log.
 *
 * Field names follow strongSwan's vici README (section "Server-issued events" and list-sa)
 * and what charon 5.9.8 really sends (see fixtures/charon-5.9.8.ts): e.g. 5.9 adds
 * local-port/remote-port, and keys CHILD_SA sections `<name>-<uniqueid>` with a `name` field.
 * Numbers arrive as decimal strings and are converted; a key charon omits stays undefined.
 * Every view keeps the decoded message in `raw` for what is not modelled.
 *
 * A parser meets a message that lacks what makes it that kind (e.g. no IKE_SA section): it
 * throws ViciPayloadError; the typed event stream turns that into an `invalid` event.
 */
import type { ViciMessage, ViciValue } from './codec.js';
import { ViciPayloadError } from './errors.js';

export interface ChildSa {
  /** The section key: `<name>-<uniqueid>` in list-sas/child-updown (5.9), or the bare name. */
  key: string;
  name: string;
  uniqueId: number | undefined;
  reqid: number | undefined;
  /** INSTALLED, REKEYING, REKEYED, DELETING, … */
  state: string | undefined;
  /** TUNNEL, TRANSPORT, BEET. */
  mode: string | undefined;
  protocol: string | undefined;
  encap: boolean;
  spiIn: string | undefined;
  spiOut: string | undefined;
  encrAlg: string | undefined;
  encrKeysize: number | undefined;
  integAlg: string | undefined;
  integKeysize: number | undefined;
  bytesIn: number | undefined;
  packetsIn: number | undefined;
  bytesOut: number | undefined;
  packetsOut: number | undefined;
  /** Seconds since the last inbound / outbound packet, when there was one. */
  useInSec: number | undefined;
  useOutSec: number | undefined;
  rekeyTimeSec: number | undefined;
  lifeTimeSec: number | undefined;
  installTimeSec: number | undefined;
  localTs: string[];
  remoteTs: string[];
  raw: ViciMessage;
}

export interface IkeSa {
  /** The connection (config) name: the section key. */
  name: string;
  uniqueId: number;
  version: number | undefined;
  /** CREATED, CONNECTING, ESTABLISHED, PASSIVE, REKEYING, REKEYED, DELETING, DESTROYING. */
  state: string;
  localHost: string | undefined;
  localPort: number | undefined;
  localId: string | undefined;
  remoteHost: string | undefined;
  remotePort: number | undefined;
  remoteId: string | undefined;
  remoteEapId: string | undefined;
  remoteXauthId: string | undefined;
  /** True when this end initiated the IKE_SA (only the original initiator reauthenticates on roaming). */
  initiator: boolean;
  initiatorSpi: string | undefined;
  responderSpi: string | undefined;
  natLocal: boolean;
  natRemote: boolean;
  natFake: boolean;
  natAny: boolean;
  encrAlg: string | undefined;
  encrKeysize: number | undefined;
  integAlg: string | undefined;
  integKeysize: number | undefined;
  prfAlg: string | undefined;
  dhGroup: string | undefined;
  /** Seconds since established (ESTABLISHED only). */
  establishedSec: number | undefined;
  rekeyTimeSec: number | undefined;
  reauthTimeSec: number | undefined;
  localVips: string[];
  remoteVips: string[];
  /** Task names, e.g. IKE_REAUTH in tasks-active of a reauth's ike-updown down event. */
  tasksQueued: string[];
  tasksActive: string[];
  tasksPassive: string[];
  childSas: ChildSa[];
  raw: ViciMessage;
}

export interface ConnAuth {
  /** The section key: local-1, remote-1, … */
  key: string;
  class: string | undefined;
  id: string | undefined;
  raw: ViciMessage;
}

export interface ChildConfig {
  name: string;
  mode: string | undefined;
  localTs: string[];
  remoteTs: string[];
  raw: ViciMessage;
}

export interface Conn {
  name: string;
  /** As configured (hostnames, %any, ranges, subnets stay as written): not the resolved address. */
  localAddrs: string[];
  remoteAddrs: string[];
  /** IKEv1, IKEv2 or 0 (any). */
  version: string | undefined;
  reauthTimeSec: number | undefined;
  rekeyTimeSec: number | undefined;
  unique: string | undefined;
  local: ConnAuth[];
  remote: ConnAuth[];
  children: ChildConfig[];
  raw: ViciMessage;
}

export interface VersionInfo {
  daemon: string | undefined;
  version: string | undefined;
  sysname: string | undefined;
  release: string | undefined;
  machine: string | undefined;
}

export interface Stats {
  uptimeRunning: string | undefined;
  uptimeSince: string | undefined;
  workersTotal: number | undefined;
  workersIdle: number | undefined;
  ikeSasTotal: number | undefined;
  ikeSasHalfOpen: number | undefined;
  scheduledJobs: number | undefined;
  plugins: string[];
  raw: ViciMessage;
}

export interface LogEvent {
  /** Subsystem: IKE, CFG, NET, ENC, KNL, … */
  group: string;
  /** 0 or 1: charon's vici logger only forwards levels ≤ 1. */
  level: number;
  thread: number;
  ikeSaName: string | undefined;
  ikeSaUniqueId: number | undefined;
  msg: string;
}

export interface IkeUpdownEvent {
  /** charon sends `up = yes` for up and omits the key for down. */
  up: boolean;
  ikeSa: IkeSa;
}

export interface IkeRekeyEvent {
  name: string;
  old: IkeSa;
  new: IkeSa;
}

export interface IkeUpdateEvent {
  /** The endpoints the IKE_SA moves to; the `ikeSa` section shows it as it was before. */
  localHost: string | undefined;
  localPort: number | undefined;
  remoteHost: string | undefined;
  remotePort: number | undefined;
  ikeSa: IkeSa;
}

export interface ChildUpdownEvent {
  up: boolean;
  ikeSa: IkeSa;
  /** The affected CHILD_SA (the only one in ikeSa.childSas). */
  child: ChildSa | undefined;
}

export interface ChildRekeyEvent {
  ikeSa: IkeSa;
  childName: string;
  old: ChildSa;
  new: ChildSa;
}

// ---------------------------------------------------------------------------------------

function isSection(v: ViciValue | undefined): v is ViciMessage {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(m: ViciMessage, key: string): string | undefined {
  const v = m[key];
  return typeof v === 'string' ? v : undefined;
}
function num(m: ViciMessage, key: string): number | undefined {
  const v = m[key];
  if (typeof v !== 'string' || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
function yes(m: ViciMessage, key: string): boolean {
  return m[key] === 'yes';
}
function list(m: ViciMessage, key: string): string[] {
  const v = m[key];
  return Array.isArray(v) ? v : [];
}
/** Sections of `m` only (skipping key/values and lists), as [key, section]. */
function sections(m: ViciMessage): [string, ViciMessage][] {
  const out: [string, ViciMessage][] = [];
  for (const k of Object.keys(m)) {
    const v = m[k];
    if (isSection(v)) out.push([k, v]);
  }
  return out;
}
function onlySection(m: ViciMessage, kind: string): [string, ViciMessage] {
  const s = sections(m);
  if (s.length !== 1) throw new ViciPayloadError(kind, `expected exactly one IKE_SA section, found ${s.length}`);
  return s[0]!;
}

export function parseChildSa(key: string, m: ViciMessage): ChildSa {
  return {
    key,
    name: str(m, 'name') ?? key,
    uniqueId: num(m, 'uniqueid'),
    reqid: num(m, 'reqid'),
    state: str(m, 'state'),
    mode: str(m, 'mode'),
    protocol: str(m, 'protocol'),
    encap: yes(m, 'encap'),
    spiIn: str(m, 'spi-in'),
    spiOut: str(m, 'spi-out'),
    encrAlg: str(m, 'encr-alg'),
    encrKeysize: num(m, 'encr-keysize'),
    integAlg: str(m, 'integ-alg'),
    integKeysize: num(m, 'integ-keysize'),
    bytesIn: num(m, 'bytes-in'),
    packetsIn: num(m, 'packets-in'),
    bytesOut: num(m, 'bytes-out'),
    packetsOut: num(m, 'packets-out'),
    useInSec: num(m, 'use-in'),
    useOutSec: num(m, 'use-out'),
    rekeyTimeSec: num(m, 'rekey-time'),
    lifeTimeSec: num(m, 'life-time'),
    installTimeSec: num(m, 'install-time'),
    localTs: list(m, 'local-ts'),
    remoteTs: list(m, 'remote-ts'),
    raw: m,
  };
}

/** Parses the body of an IKE_SA section (list-sa, ike-updown, …) named `name`. */
export function parseIkeSa(name: string, m: ViciMessage, kind = 'IKE_SA'): IkeSa {
  const uniqueId = num(m, 'uniqueid');
  const state = str(m, 'state');
  if (uniqueId === undefined || state === undefined) throw new ViciPayloadError(kind, `IKE_SA "${name}" lacks uniqueid or state`);
  const children = m['child-sas'];
  return {
    name,
    uniqueId,
    version: num(m, 'version'),
    state,
    localHost: str(m, 'local-host'),
    localPort: num(m, 'local-port'),
    localId: str(m, 'local-id'),
    remoteHost: str(m, 'remote-host'),
    remotePort: num(m, 'remote-port'),
    remoteId: str(m, 'remote-id'),
    remoteEapId: str(m, 'remote-eap-id'),
    remoteXauthId: str(m, 'remote-xauth-id'),
    initiator: yes(m, 'initiator'),
    initiatorSpi: str(m, 'initiator-spi'),
    responderSpi: str(m, 'responder-spi'),
    natLocal: yes(m, 'nat-local'),
    natRemote: yes(m, 'nat-remote'),
    natFake: yes(m, 'nat-fake'),
    natAny: yes(m, 'nat-any'),
    encrAlg: str(m, 'encr-alg'),
    encrKeysize: num(m, 'encr-keysize'),
    integAlg: str(m, 'integ-alg'),
    integKeysize: num(m, 'integ-keysize'),
    prfAlg: str(m, 'prf-alg'),
    dhGroup: str(m, 'dh-group'),
    establishedSec: num(m, 'established'),
    rekeyTimeSec: num(m, 'rekey-time'),
    reauthTimeSec: num(m, 'reauth-time'),
    localVips: list(m, 'local-vips'),
    remoteVips: list(m, 'remote-vips'),
    tasksQueued: list(m, 'tasks-queued'),
    tasksActive: list(m, 'tasks-active'),
    tasksPassive: list(m, 'tasks-passive'),
    childSas: isSection(children) ? sections(children).map(([k, c]) => parseChildSa(k, c)) : [],
    raw: m,
  };
}

/** A list-sa event: one IKE_SA section. */
export function parseListSa(m: ViciMessage): IkeSa {
  const [name, body] = onlySection(m, 'list-sa');
  return parseIkeSa(name, body, 'list-sa');
}

export function parseConn(name: string, m: ViciMessage): Conn {
  const auth = (prefix: string): ConnAuth[] =>
    sections(m)
      .filter(([k]) => k.startsWith(`${prefix}-`))
      .map(([k, s]) => ({ key: k, class: str(s, 'class'), id: str(s, 'id'), raw: s }));
  const children = m['children'];
  return {
    name,
    localAddrs: list(m, 'local_addrs'),
    remoteAddrs: list(m, 'remote_addrs'),
    version: str(m, 'version'),
    reauthTimeSec: num(m, 'reauth_time'),
    rekeyTimeSec: num(m, 'rekey_time'),
    unique: str(m, 'unique'),
    local: auth('local'),
    remote: auth('remote'),
    children: isSection(children)
      ? sections(children).map(([k, c]) => ({ name: k, mode: str(c, 'mode'), localTs: list(c, 'local-ts'), remoteTs: list(c, 'remote-ts'), raw: c }))
      : [],
    raw: m,
  };
}

/** A list-conn event: one connection section. */
export function parseListConn(m: ViciMessage): Conn {
  const s = sections(m);
  if (s.length !== 1) throw new ViciPayloadError('list-conn', `expected exactly one connection section, found ${s.length}`);
  return parseConn(s[0]![0], s[0]![1]);
}

export function parseVersion(m: ViciMessage): VersionInfo {
  return { daemon: str(m, 'daemon'), version: str(m, 'version'), sysname: str(m, 'sysname'), release: str(m, 'release'), machine: str(m, 'machine') };
}

export function parseStats(m: ViciMessage): Stats {
  const sub = (k: string): ViciMessage => {
    const v = m[k];
    return isSection(v) ? v : (Object.create(null) as ViciMessage);
  };
  return {
    uptimeRunning: str(sub('uptime'), 'running'),
    uptimeSince: str(sub('uptime'), 'since'),
    workersTotal: num(sub('workers'), 'total'),
    workersIdle: num(sub('workers'), 'idle'),
    ikeSasTotal: num(sub('ikesas'), 'total'),
    ikeSasHalfOpen: num(sub('ikesas'), 'half-open'),
    scheduledJobs: num(m, 'scheduled'),
    plugins: list(m, 'plugins'),
    raw: m,
  };
}

export function parseLogEvent(m: ViciMessage): LogEvent {
  const msg = str(m, 'msg');
  const level = num(m, 'level');
  if (msg === undefined || level === undefined) throw new ViciPayloadError('log', 'lacks msg or level');
  return {
    group: str(m, 'group') ?? '',
    level,
    thread: num(m, 'thread') ?? -1,
    ikeSaName: str(m, 'ikesa-name'),
    ikeSaUniqueId: num(m, 'ikesa-uniqueid'),
    msg,
  };
}

export function parseIkeUpdown(m: ViciMessage): IkeUpdownEvent {
  const [name, body] = onlySection(m, 'ike-updown');
  return { up: yes(m, 'up'), ikeSa: parseIkeSa(name, body, 'ike-updown') };
}

export function parseIkeRekey(m: ViciMessage): IkeRekeyEvent {
  const [name, body] = onlySection(m, 'ike-rekey');
  const o = body['old'];
  const n = body['new'];
  if (!isSection(o) || !isSection(n)) throw new ViciPayloadError('ike-rekey', `"${name}" lacks the old or new section`);
  return { name, old: parseIkeSa(name, o, 'ike-rekey'), new: parseIkeSa(name, n, 'ike-rekey') };
}

export function parseIkeUpdate(m: ViciMessage): IkeUpdateEvent {
  const [name, body] = onlySection(m, 'ike-update');
  return {
    localHost: str(m, 'local-host'),
    localPort: num(m, 'local-port'),
    remoteHost: str(m, 'remote-host'),
    remotePort: num(m, 'remote-port'),
    ikeSa: parseIkeSa(name, body, 'ike-update'),
  };
}

export function parseChildUpdown(m: ViciMessage): ChildUpdownEvent {
  const [name, body] = onlySection(m, 'child-updown');
  const ikeSa = parseIkeSa(name, body, 'child-updown');
  return { up: yes(m, 'up'), ikeSa, child: ikeSa.childSas[0] };
}

export function parseChildRekey(m: ViciMessage): ChildRekeyEvent {
  const [name, body] = onlySection(m, 'child-rekey');
  const children = body['child-sas'];
  const entries = isSection(children) ? sections(children) : [];
  const entry = entries[0];
  if (entries.length !== 1 || !entry) throw new ViciPayloadError('child-rekey', `expected one CHILD_SA under child-sas, found ${entries.length}`);
  const [childName, pair] = entry;
  const o = pair['old'];
  const n = pair['new'];
  if (!isSection(o) || !isSection(n)) throw new ViciPayloadError('child-rekey', `"${childName}" lacks the old or new section`);
  const bodyWithoutChildren = Object.assign(Object.create(null) as ViciMessage, body);
  delete bodyWithoutChildren['child-sas'];
  return {
    ikeSa: parseIkeSa(name, bodyWithoutChildren, 'child-rekey'),
    childName,
    old: parseChildSa(childName, o),
    new: parseChildSa(childName, n),
  };
}

/** Typed events, discriminated on `type`. Malformed payloads become `invalid`, unmodelled names `other`. */
export type TypedViciEvent =
  | { type: 'log'; receivedAt: number; payload: LogEvent }
  | { type: 'ike-updown'; receivedAt: number; payload: IkeUpdownEvent }
  | { type: 'ike-rekey'; receivedAt: number; payload: IkeRekeyEvent }
  | { type: 'ike-update'; receivedAt: number; payload: IkeUpdateEvent }
  | { type: 'child-updown'; receivedAt: number; payload: ChildUpdownEvent }
  | { type: 'child-rekey'; receivedAt: number; payload: ChildRekeyEvent }
  | { type: 'other'; name: string; receivedAt: number; message: ViciMessage }
  | { type: 'invalid'; name: string; receivedAt: number; message: ViciMessage; error: ViciPayloadError };

export type TypedViciEventName = 'log' | 'ike-updown' | 'ike-rekey' | 'ike-update' | 'child-updown' | 'child-rekey';

/** Turns a raw event into its typed form; never throws. */
export function toTypedEvent(name: string, message: ViciMessage, receivedAt: number): TypedViciEvent {
  try {
    switch (name) {
      case 'log':
        return { type: 'log', receivedAt, payload: parseLogEvent(message) };
      case 'ike-updown':
        return { type: 'ike-updown', receivedAt, payload: parseIkeUpdown(message) };
      case 'ike-rekey':
        return { type: 'ike-rekey', receivedAt, payload: parseIkeRekey(message) };
      case 'ike-update':
        return { type: 'ike-update', receivedAt, payload: parseIkeUpdate(message) };
      case 'child-updown':
        return { type: 'child-updown', receivedAt, payload: parseChildUpdown(message) };
      case 'child-rekey':
        return { type: 'child-rekey', receivedAt, payload: parseChildRekey(message) };
      default:
        return { type: 'other', name, receivedAt, message };
    }
  } catch (err) {
    const error = err instanceof ViciPayloadError ? err : new ViciPayloadError(name, err instanceof Error ? err.message : String(err));
    return { type: 'invalid', name, receivedAt, message, error };
  }
}
