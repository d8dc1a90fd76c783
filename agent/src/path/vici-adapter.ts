/**
 * The VICI client's typed views (list-sas, list-conns) as the core contract types the
 * analyzer takes.
 */
import type { Connection, IkeSa } from '@roamwatch/core';
import type { Conn, IkeSa as ViciIkeSa } from '../vici/types.js';

export function coreIkeSa(v: ViciIkeSa): IkeSa {
  const sa: IkeSa = {
    name: v.name,
    uniqueId: String(v.uniqueId),
    state: v.state,
    initiator: v.initiator,
    natLocal: v.natLocal,
    natRemote: v.natRemote,
    childSas: [],
  };
  if (v.version !== undefined) sa.version = v.version;
  if (v.localHost !== undefined) sa.localHost = v.localHost;
  if (v.localPort !== undefined) sa.localPort = v.localPort;
  if (v.localId !== undefined) sa.localId = v.localId;
  if (v.remoteHost !== undefined) sa.remoteHost = v.remoteHost;
  if (v.remotePort !== undefined) sa.remotePort = v.remotePort;
  if (v.remoteId !== undefined) sa.remoteId = v.remoteId;
  if (v.initiatorSpi !== undefined) sa.initiatorSpi = v.initiatorSpi;
  if (v.responderSpi !== undefined) sa.responderSpi = v.responderSpi;
  return sa;
}

export function coreConnection(c: Conn): Connection {
  const conn: Connection = { name: c.name, localAddrs: c.localAddrs, remoteAddrs: c.remoteAddrs };
  if (c.version !== undefined) conn.version = c.version;
  if (c.unique !== undefined) conn.unique = c.unique;
  if (c.reauthTimeSec !== undefined) conn.reauthTimeS = c.reauthTimeSec;
  if (c.rekeyTimeSec !== undefined) conn.rekeyTimeS = c.rekeyTimeSec;
  conn.children = c.children.map((ch) => ch.name);
  return conn;
}
