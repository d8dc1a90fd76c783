// Renders strongswan.conf and swanctl.conf for the lab's two charons.
// Pure functions: easy to read in the lab dir and to unit-test.

/** A strongswan.conf settings tree. Keys may be dotted ('plugins.kernel-netlink.roam_events'). */
export interface StrongswanSettings {
  [key: string]: string | number | boolean | StrongswanSettings;
}

type Tree = Map<string, string | Tree>;

function scalar(v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  const s = String(v);
  if (/[\n{}]/.test(s)) throw new Error(`strongswan.conf value may not contain newlines or braces: ${JSON.stringify(s)}`);
  return s;
}

function checkKey(k: string): void {
  if (!/^[A-Za-z0-9_*%-][A-Za-z0-9_.*%-]*$/.test(k)) throw new Error(`invalid strongswan.conf key: ${JSON.stringify(k)}`);
}

/** Merges `src` into `tree`; later values win. Dotted keys become nested sections. */
function mergeInto(tree: Tree, src: StrongswanSettings): void {
  for (const [rawKey, value] of Object.entries(src)) {
    checkKey(rawKey);
    const parts = rawKey.split('.').filter((p) => p.length > 0);
    let node = tree;
    for (const part of parts.slice(0, -1)) {
      let next = node.get(part);
      if (!(next instanceof Map)) {
        next = new Map();
        node.set(part, next);
      }
      node = next;
    }
    const leaf = parts[parts.length - 1];
    if (leaf === undefined) continue;
    if (typeof value === 'object') {
      let sub = node.get(leaf);
      if (!(sub instanceof Map)) {
        sub = new Map();
        node.set(leaf, sub);
      }
      mergeInto(sub, value);
    } else {
      node.set(leaf, scalar(value));
    }
  }
}

function renderTree(tree: Tree, indent: string): string {
  let out = '';
  for (const [k, v] of tree) {
    if (v instanceof Map) out += `${indent}${k} {\n${renderTree(v, `${indent}  `)}${indent}}\n`;
    else out += `${indent}${k} = ${v}\n`;
  }
  return out;
}

/** Renders settings layers (later layers override earlier ones) as strongswan.conf text. */
export function renderStrongswanConf(...layers: StrongswanSettings[]): string {
  const tree: Tree = new Map();
  for (const l of layers) mergeInto(tree, l);
  return renderTree(tree, '');
}

/** Plugins each lab charon loads: PSK IKEv2, userspace ESP (kernel-libipsec), netlink, vici. */
export const CHARON_PLUGINS =
  'random nonce aes sha1 sha2 hmac kdf gmp curve25519 openssl pem pkcs1 pubkey x509 ' +
  'kernel-libipsec kernel-netlink socket-default vici';

export interface CharonConfInput {
  viciSocket: string;
  logFile: string;
  ipv6: boolean;
  /** Debug levels of the filelog; defaults: default=1, ike/knl/cfg/net=2. */
  logLevels?: Record<string, number>;
  /** charon.load (default CHARON_PLUGINS); the lab passes the subset its charon build has. */
  plugins?: string;
}

/** Base strongswan.conf settings for one lab charon (relative to the file's root). */
export function baseCharonSettings(i: CharonConfInput): StrongswanSettings {
  const levels: Record<string, number> = { default: 1, ike: 2, knl: 2, cfg: 2, net: 2, ...i.logLevels };
  return {
    charon: {
      load: i.plugins ?? CHARON_PLUGINS,
      install_virtual_ip: false,
      // Fail fast when the other side is gone (default would retry for minutes).
      retransmit_tries: 3,
      retransmit_timeout: 1,
      retransmit_base: 1.4,
      plugins: {
        vici: { socket: `unix://${i.viciSocket}` },
        'socket-default': { use_ipv6: i.ipv6 },
      },
      filelog: {
        lab: {
          path: i.logFile,
          time_format: '%T',
          time_add_ms: true,
          ike_name: true,
          flush_line: true,
          // append: the lab truncates the file to keep it bounded; O_APPEND keeps
          // charon writing at the (new) end.
          append: true,
          ...levels,
        },
      },
    },
    // swanctl only talks vici here (PSK, no certificates): load little, start fast.
    swanctl: { load: 'pem pkcs1 x509' },
  };
}

export interface SwanctlConnection {
  name: string;
  localAddrs: string;
  remoteAddrs: string;
  localId: string;
  remoteId: string;
  mobike: boolean;
  /** IKE version (default 2). */
  ikeVersion?: 1 | 2;
  reauthTime?: number;
  rekeyTime?: number;
  children: { name: string; localTs: string; remoteTs: string; rekeyTime?: number }[];
  /** Extra connection-level settings, written verbatim (key = value). */
  extra?: Record<string, string | number | boolean>;
}

function swanctlValue(v: string | number | boolean): string {
  return scalar(v);
}

/** Renders a swanctl.conf with the given connections and one PSK matching any identity. */
export function renderSwanctlConf(conns: SwanctlConnection[], psk: string): string {
  const tree: StrongswanSettings = {};
  const connections: StrongswanSettings = {};
  for (const c of conns) {
    const children: StrongswanSettings = {};
    for (const ch of c.children) {
      children[ch.name] = {
        local_ts: ch.localTs,
        remote_ts: ch.remoteTs,
        ...(ch.rekeyTime !== undefined ? { rekey_time: `${ch.rekeyTime}s` } : {}),
      };
    }
    const conn: StrongswanSettings = {
      version: c.ikeVersion ?? 2,
      local_addrs: c.localAddrs,
      remote_addrs: c.remoteAddrs,
      mobike: c.mobike,
      ...(c.reauthTime !== undefined ? { reauth_time: `${c.reauthTime}s` } : {}),
      ...(c.rekeyTime !== undefined ? { rekey_time: `${c.rekeyTime}s` } : {}),
      local: { auth: 'psk', id: c.localId },
      remote: { auth: 'psk', id: c.remoteId },
      children,
    };
    for (const [k, v] of Object.entries(c.extra ?? {})) conn[k] = swanctlValue(v);
    connections[c.name] = conn;
  }
  tree['connections'] = connections;
  tree['secrets'] = { 'ike-lab': { secret: `"${psk}"` } };
  return renderStrongswanConf(tree);
}
