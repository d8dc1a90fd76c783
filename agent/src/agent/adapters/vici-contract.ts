/**
 * The one mapping of the VICI client's typed views (types.ts: list-sas, list-conns, events)
 * to roamwatch's event contract (@roamwatch/core IkeSa, ChildSa, Connection payloads). The VICI
 * adapter uses it for every event and snapshot, and `roamwatch doctor` for what it hands the
 * path analyzer, so the agent and doctor see an IKE_SA the same way: addresses only when they
 * are IP addresses, strings cut to the contract's bounds, unknown values left out.
 * Subpath `@roamwatch/agent/contract` (no kafkajs, no spool).
 */
import type { ChildSa as ChildSaPayload, Connection, IkeSa as IkeSaPayload, PayloadOf } from '@roamwatch/core';
import type { ChildSa, Conn, IkeSa, IkeUpdateEvent } from '../../vici/types.js';

const IP_RE = /^[0-9a-fA-F:.]+(%[\w.-]+)?$/;

const ip = (v: string | undefined) => (v !== undefined && v.length >= 2 && v.length <= 64 && IP_RE.test(v) ? v : undefined);
const nonneg = (v: number | undefined) => (v !== undefined && Number.isInteger(v) && v >= 0 ? v : undefined);
const cut = (v: string | undefined, n: number) => (v === undefined ? undefined : v.slice(0, n));

/** Drops undefined fields: the contract omits what is unknown. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

export function childSaPayload(c: ChildSa): ChildSaPayload {
  return compact({
    name: (c.name || c.key).slice(0, 255),
    uniqueId: c.uniqueId !== undefined ? String(c.uniqueId) : c.key.slice(0, 32),
    reqId: c.reqid !== undefined ? String(c.reqid) : undefined,
    state: c.state || 'UNKNOWN',
    mode: cut(c.mode, 32),
    protocol: cut(c.protocol, 16),
    spiIn: cut(c.spiIn, 16),
    spiOut: cut(c.spiOut, 16),
    localTs: c.localTs.map((t) => t.slice(0, 128)),
    remoteTs: c.remoteTs.map((t) => t.slice(0, 128)),
    installTimeS: nonneg(c.installTimeSec),
    rekeyTimeS: nonneg(c.rekeyTimeSec),
    lifeTimeS: nonneg(c.lifeTimeSec),
  });
}

export function ikeSaPayload(s: IkeSa): IkeSaPayload {
  return compact({
    name: s.name.slice(0, 255),
    uniqueId: String(s.uniqueId),
    version: s.version === 1 || s.version === 2 ? s.version : undefined,
    state: s.state || 'UNKNOWN',
    localHost: ip(s.localHost),
    localPort: s.localPort,
    localId: cut(s.localId, 512),
    remoteHost: ip(s.remoteHost),
    remotePort: s.remotePort,
    remoteId: cut(s.remoteId, 512),
    initiator: s.initiator,
    initiatorSpi: cut(s.initiatorSpi, 16),
    responderSpi: cut(s.responderSpi, 16),
    natLocal: s.natLocal,
    natRemote: s.natRemote,
    establishedS: nonneg(s.establishedSec),
    rekeyTimeS: nonneg(s.rekeyTimeSec),
    reauthTimeS: nonneg(s.reauthTimeSec),
    tasksQueued: s.tasksQueued,
    tasksActive: s.tasksActive,
    tasksPassive: s.tasksPassive,
    childSas: s.childSas.map(childSaPayload),
  });
}

export function connectionPayload(c: Conn): Connection {
  return compact({
    name: c.name.slice(0, 255),
    localAddrs: c.localAddrs.map((a) => a.slice(0, 255)),
    remoteAddrs: c.remoteAddrs.map((a) => a.slice(0, 255)),
    version: cut(c.version, 16),
    reauthTimeS: nonneg(c.reauthTimeSec),
    rekeyTimeS: nonneg(c.rekeyTimeSec),
    unique: cut(c.unique, 16),
    children: c.children.map((ch) => ch.name.slice(0, 255)),
  });
}

/** An ike-update event (MOBIKE/NAT address change): the new addresses only when they are IP addresses. */
export function ikeUpdatePayload(u: IkeUpdateEvent): PayloadOf<'vici.ike-update'> {
  return compact({
    ikeSa: ikeSaPayload(u.ikeSa),
    newLocalHost: ip(u.localHost),
    newLocalPort: u.localPort,
    newRemoteHost: ip(u.remoteHost),
    newRemotePort: u.remotePort,
  });
}
