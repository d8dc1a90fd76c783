// The strongSwan lab: two network namespaces joined by a veth pair, one real charon
// (Debian's 5.9.8, or a source build such as 6.0.6: LabOptions.charon) in each, an IKEv2 SA (PSK) with CHILD_SAs initiated by the
// gateway. See docs/lab.md. A library (no test-framework imports) so that tests and
// `roamwatch demo` can both use it.
//
//   gw netns  (rwlab-<id>-gw)                 peer netns (rwlab-<id>-peer)
//   lo:      10.231.0.1/32  (IKE address)      lo: 10.231.200.1/32 (inner)
//            10.231.100.1/32 (inner)
//   rw-gw0:  10.231.1.1/24  <---- veth ---->  rw-peer0: 10.231.1.2/24
//                                             route 10.231.0.0/24 via 10.231.1.1
//
// The gateway's IKE address lives on lo and local_addrs is (by default) a hostname
// resolved through a hosts file private to the gateway's charon: exactly the setup in
// which charon reauthenticates on every unrelated route change.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, truncateSync, writeFileSync, fstatSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseCharonSettings, CHARON_PLUGINS, renderStrongswanConf, renderSwanctlConf, type StrongswanSettings, type SwanctlConnection } from './config.js';
import { availablePlugins, charonVersion, defaultCharonSpec, resolveCharon, type CharonBuild, type CharonSpec } from './charon.js';
import { cleanupStaleLabs, destroyNetnsSync, LAB_ID_RE, LAB_PREFIX, writeOwnerRecord } from './cleanup.js';
import { pollUntil, run, sleep, type ExecOptions, type ExecResult } from './exec.js';
import { checkLabPrerequisites } from './prereq.js';
import { parseListSas, type IkeSa } from './swanctl-output.js';

export type { ExecOptions, ExecResult } from './exec.js';
export type { IkeSa, ChildSa } from './swanctl-output.js';
export type { StrongswanSettings } from './config.js';
export type { CharonBuild, CharonSpec } from './charon.js';

export type Side = 'gw' | 'peer';
export type Family = 'ipv4' | 'ipv6';

/**
 * How the gateway's swanctl.conf writes `local_addrs`:
 * - 'hostname' (default): a name resolved via the gateway's private hosts file → spurious reauths happen
 * - 'literal': the IP address itself → charon keeps the static path (5.5.2+), no reauth
 * - any other string is written verbatim ('%any', '10.231.0.0/24', a range, another name…)
 */
export type LocalAddrsMode = 'hostname' | 'literal' | (string & {});

export interface LabConnectionOptions {
  /** swanctl connection name; default 'rw' for the first connection, 'rw<i>' after. */
  name?: string;
  family?: Family;
  /** The gateway's IKE address (added as /32 or /128 on the gateway's lo). */
  localAddress?: string;
  localAddrs?: LocalAddrsMode;
  /** Hostname written to the private hosts file when localAddrs is 'hostname'. */
  hostname?: string;
  /** Default false. */
  mobike?: boolean;
  /** IKE version of the connection, on both sides (default 2). */
  ikeVersion?: 1 | 2;
  /** Gateway reauth_time in seconds (default: none, i.e. no scheduled reauth). */
  reauthTime?: number;
  /** Gateway IKE rekey_time in seconds (default: charon's, 4 h). */
  rekeyTime?: number;
  /** CHILD_SA names; default ['net']. */
  children?: string[];
  /** Initiate this connection from the gateway when the lab starts (default: the lab's startSa). */
  startSa?: boolean;
  /** Extra connection-level swanctl.conf settings for the gateway (dotted keys allowed: 'local.auth'). */
  gwSwanctl?: Record<string, string | number | boolean>;
}

export interface LabOptions {
  /** Lab id / namespace prefix; 'rwlab-' is prepended if missing. Default 'rwlab-<random>'. */
  name?: string;
  /** Which charon build runs on both sides: '5.9' (Debian), '6.0' (source build of
   *  scripts/lab/strongswan-build.sh) or an installation prefix. Default: env
   *  ROAMWATCH_LAB_CHARON, else '5.9'. See charon.ts. */
  charon?: CharonSpec;
  /** A different build for the peer (default: the same as the gateway). */
  peerCharon?: CharonSpec;
  /** Defaults for the single default connection (or for every entry of `connections`). */
  localAddrs?: LocalAddrsMode;
  mobike?: boolean;
  /** IKE address of the default connection (default 10.231.0.1 / fd00:231::1). */
  localAddress?: string;
  reauthTime?: number;
  family?: Family;
  /** Enable IPv6 in the namespaces (addresses fd00:231:1::1/64, fd00:231:1::2/64). Default false. */
  ipv6?: boolean;
  /** Extra settings under `charon` in the gateway's strongswan.conf, e.g.
   *  { 'plugins.kernel-netlink.roam_events': false, process_route: false, install_routes: false }. */
  strongswanConf?: StrongswanSettings;
  /** Same for the peer's charon. */
  peerStrongswanConf?: StrongswanSettings;
  /** Several connections (each with its own gateway IKE address); default one connection. */
  connections?: LabConnectionOptions[];
  /** Establish the SAs before createLab resolves (default true). */
  startSa?: boolean;
  /** Filelog levels (default: default=1, ike/knl/cfg/net=2). */
  logLevels?: Record<string, number>;
  /** Truncate a charon log once it exceeds this size (default 16 MiB). */
  maxLogBytes?: number;
  /** Parent directory of the lab directory (default os.tmpdir()). */
  baseDir?: string;
  /** Keep the lab directory (configs, logs) after teardown. Default: env ROAMWATCH_LAB_KEEP=1. */
  keepDir?: boolean;
  /** Timeout for establishing the SAs at start (default 20 000 ms). */
  startTimeoutMs?: number;
  /** Runs after the namespaces, links and addresses exist and before the charons start
   *  (e.g. the fleet's uplink and routing daemon, or a src route): changes made here are
   *  not roam events for charon. */
  beforeCharons?: (lab: Lab) => Promise<void>;
}

export interface LabChild {
  name: string;
  /** Traffic selectors as seen from the gateway. */
  gwTs: string;
  peerTs: string;
  /** An address inside gwTs (on the gateway's lo) and inside peerTs (on the peer's lo). */
  gwInnerAddress: string;
  peerInnerAddress: string;
}

export interface LabConnection {
  name: string;
  family: Family;
  /** Gateway IKE address (on lo). */
  localAddress: string;
  /** local_addrs exactly as written in the gateway's swanctl.conf. */
  localAddrs: string;
  /** The hostname, when local_addrs is a hostname from the private hosts file. */
  hostname?: string;
  /** The peer's IKE address (on its veth). */
  remoteAddress: string;
  localId: string;
  remoteId: string;
  mobike: boolean;
  ikeVersion: 1 | 2;
  reauthTime?: number;
  rekeyTime?: number;
  startSa: boolean;
  children: LabChild[];
}

/** Position in a charon log, for reading only what came after it. */
export interface LogMark {
  side: Side;
  offset: number;
}

/** A resolved charon build and its `charon --version` (e.g. '6.0.6'). */
export interface LabCharon extends CharonBuild {
  version: string;
}

export interface LabNode {
  readonly side: Side;
  /** The charon build this side runs. */
  readonly charon: LabCharon;
  readonly netns: string;
  readonly dir: string;
  /** Path of charon's vici unix socket. */
  readonly viciSocket: string;
  /** `unix://<viciSocket>` */
  readonly viciUri: string;
  /** The veth interface in this namespace. */
  readonly ifname: string;
  /** This side's address on the veth (IPv4; `address6` when ipv6 is on). */
  readonly address: string;
  readonly address6?: string;
  readonly strongswanConfFile: string;
  readonly swanctlDir: string;
  /** Private hosts file bind-mounted over /etc/hosts for this charon. */
  readonly hostsFile: string;
  readonly logFile: string;
  /** charon's pid, or undefined while it is stopped. */
  pid(): number | undefined;
  running(): boolean;
  /** Runs a command in this namespace (`ip netns exec`). Throws on non-zero exit unless check: false. */
  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running command in this namespace (`ip netns exec`, which execs: the
   *  ChildProcess pid is the command's). Whatever still runs there is killed at teardown. */
  spawn(cmd: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** `ip -n <netns> ...args` */
  ip(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** swanctl against this charon's vici socket (adds --uri unless given). */
  swanctl(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  listSas(ike?: string): Promise<IkeSa[]>;
  /** Reloads swanctl.conf (`swanctl --load-all`). */
  loadConfig(): Promise<void>;
  /** The charon log (all of it still on disk, or what came after `since`). */
  log(since?: LogMark): string;
  logMark(): LogMark;
  /** Waits for a log line matching `pattern` after `since` (default: from the start); returns the line. */
  waitForLog(pattern: RegExp | string, opts?: { since?: LogMark; timeoutMs?: number }): Promise<string>;
  /** Rewrites this charon's private hosts file (in place: the bind mount follows the inode). */
  writeHosts(entries: Record<string, string>): void;
}

export interface WaitForSaOptions {
  side?: Side;
  /** IKE_SA (connection) name; default the first connection. */
  name?: string;
  /** Default 'ESTABLISHED'. */
  state?: string;
  /** CHILD_SAs that must be INSTALLED: true = all configured for the connection (default when
   *  state is ESTABLISHED), false = none, or a list of names. */
  children?: boolean | string[];
  /** Only accept an IKE_SA whose uniqueid is greater (e.g. the reauthenticated one). */
  uniqueIdAbove?: number;
  where?: (sa: IkeSa) => boolean;
  /** Default 15 000 ms. */
  timeoutMs?: number;
  /** Poll interval, default 50 ms. */
  intervalMs?: number;
}

export interface StartCharonOptions {
  /** Load swanctl.conf after start (default true). */
  load?: boolean;
  /** Initiate the connections with startSa (gw only; default true for gw, and waits for them). */
  initiate?: boolean;
}

export interface Lab {
  readonly id: string;
  readonly dir: string;
  readonly gw: LabNode;
  readonly peer: LabNode;
  readonly connections: readonly LabConnection[];
  readonly ipv6: boolean;
  /** The gateway's charon build (the subject of every test); `lab.peer.charon` for the peer's. */
  readonly charon: LabCharon;
  connection(name?: string): LabConnection;
  waitForSa(opts?: WaitForSaOptions): Promise<IkeSa>;
  /** Initiates a connection (all its children) from the gateway; resolves when swanctl reports success. */
  initiate(name?: string, opts?: { timeoutMs?: number }): Promise<void>;
  stopCharon(side: Side, opts?: { timeoutMs?: number }): Promise<void>;
  startCharon(side: Side, opts?: StartCharonOptions): Promise<void>;
  restartCharon(side: Side, opts?: StartCharonOptions): Promise<void>;
  /** The fix from the mailing list: `ip route replace <peer>/32 dev <if> src <local>` in the gateway.
   *  Returns the `ip` arguments used. */
  addSrcRoute(name?: string): Promise<string[]>;
  /** Pings the peer's inner address from the gateway's inner address through the CHILD_SA. */
  pingThroughTunnel(opts?: { name?: string; child?: string; count?: number; timeoutMs?: number }): Promise<boolean>;
  /** Kills the charons, deletes the namespaces and (unless kept) the lab directory. Idempotent. */
  teardown(opts?: { keepDir?: boolean }): Promise<void>;
}

// ---------------------------------------------------------------------------------
// Addressing plan (inside the lab namespaces only; never on the host)

export const LAB_NET = {
  gwLink4: '10.231.1.1',
  peerLink4: '10.231.1.2',
  link4Prefix: 24,
  gwLink6: 'fd00:231:1::1',
  peerLink6: 'fd00:231:1::2',
  link6Prefix: 64,
  /** Default gateway IKE addresses: 10.231.0.(i+1) / fd00:231::(i+1). */
  ike4Net: '10.231.0.0/24',
  ike6Net: 'fd00:231::/64',
  gwIfname: 'rw-gw0',
  peerIfname: 'rw-peer0',
  psk: 'rwlab-pre-shared-key',
} as const;

const MAX_CONNECTIONS = 50;
const MAX_CHILDREN = 16;

function isV6(addr: string): boolean {
  return addr.includes(':');
}

function resolveConnections(opts: LabOptions): LabConnection[] {
  const specs: LabConnectionOptions[] = opts.connections?.length ? opts.connections : [{ localAddress: opts.localAddress }];
  if (specs.length > MAX_CONNECTIONS) throw new Error(`at most ${MAX_CONNECTIONS} connections`);
  const seen = new Set<string>();
  return specs.map((s, i): LabConnection => {
    const name = s.name ?? (i === 0 ? 'rw' : `rw${i}`);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new Error(`invalid connection name ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new Error(`duplicate connection name ${name}`);
    seen.add(name);
    const family: Family = s.family ?? (s.localAddress && isV6(s.localAddress) ? 'ipv6' : (opts.family ?? 'ipv4'));
    if (family === 'ipv6' && !opts.ipv6) throw new Error(`connection ${name} is IPv6: create the lab with ipv6: true`);
    const localAddress = s.localAddress ?? (family === 'ipv6' ? `fd00:231::${(i + 1).toString(16)}` : `10.231.0.${i + 1}`);
    if (isV6(localAddress) !== (family === 'ipv6')) throw new Error(`connection ${name}: ${localAddress} is not ${family}`);
    const mode = s.localAddrs ?? opts.localAddrs ?? 'hostname';
    const hostname = mode === 'hostname' ? (s.hostname ?? `${name}.gw-ike.rwlab`) : undefined;
    const localAddrs = mode === 'hostname' ? (hostname as string) : mode === 'literal' ? localAddress : mode;
    const childNames = s.children ?? ['net'];
    if (childNames.length < 1 || childNames.length > MAX_CHILDREN) throw new Error(`connection ${name}: 1..${MAX_CHILDREN} children`);
    const children = childNames.map((cn, j): LabChild => {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(cn)) throw new Error(`invalid child name ${JSON.stringify(cn)}`);
      if (family === 'ipv6') {
        return {
          name: cn,
          gwTs: `fd00:231:a:${i.toString(16)}:${j.toString(16)}::/80`,
          peerTs: `fd00:231:b:${i.toString(16)}:${j.toString(16)}::/80`,
          gwInnerAddress: `fd00:231:a:${i.toString(16)}:${j.toString(16)}::1`,
          peerInnerAddress: `fd00:231:b:${i.toString(16)}:${j.toString(16)}::1`,
        };
      }
      return {
        name: cn,
        gwTs: `10.231.${100 + i}.${j * 16}/28`,
        peerTs: `10.231.${200 + i}.${j * 16}/28`,
        gwInnerAddress: `10.231.${100 + i}.${j * 16 + 1}`,
        peerInnerAddress: `10.231.${200 + i}.${j * 16 + 1}`,
      };
    });
    return {
      name,
      family,
      localAddress,
      localAddrs,
      hostname,
      remoteAddress: family === 'ipv6' ? LAB_NET.peerLink6 : LAB_NET.peerLink4,
      localId: `${name}.gw.rwlab`,
      remoteId: `${name}.peer.rwlab`,
      mobike: s.mobike ?? opts.mobike ?? false,
      ikeVersion: s.ikeVersion ?? 2,
      reauthTime: s.reauthTime ?? opts.reauthTime,
      rekeyTime: s.rekeyTime,
      startSa: s.startSa ?? opts.startSa ?? true,
      children,
    };
  });
}

// ---------------------------------------------------------------------------------
// Process-exit safety net: labs still alive when the process exits are destroyed
// synchronously (charons killed, namespaces deleted).

const liveLabs = new Set<LabImpl>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
}

// ---------------------------------------------------------------------------------

class NodeImpl implements LabNode {
  readonly netns: string;
  readonly dir: string;
  readonly viciSocket: string;
  readonly viciUri: string;
  readonly ifname: string;
  readonly address: string;
  readonly address6?: string;
  readonly strongswanConfFile: string;
  readonly swanctlDir: string;
  readonly hostsFile: string;
  readonly logFile: string;
  readonly runDir: string;
  readonly outFile: string;
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  /** Bytes cut off the log by truncation so far (keeps LogMark offsets absolute). */
  logBase = 0;

  constructor(
    readonly side: Side,
    labId: string,
    labDir: string,
    ipv6: boolean,
    readonly charon: LabCharon,
  ) {
    this.netns = `${labId}-${side}`;
    this.dir = join(labDir, side);
    this.viciSocket = join(this.dir, 'charon.vici');
    this.viciUri = `unix://${this.viciSocket}`;
    this.ifname = side === 'gw' ? LAB_NET.gwIfname : LAB_NET.peerIfname;
    this.address = side === 'gw' ? LAB_NET.gwLink4 : LAB_NET.peerLink4;
    if (ipv6) this.address6 = side === 'gw' ? LAB_NET.gwLink6 : LAB_NET.peerLink6;
    this.strongswanConfFile = join(this.dir, 'strongswan.conf');
    this.swanctlDir = join(this.dir, 'swanctl');
    this.hostsFile = join(this.dir, 'hosts');
    this.logFile = join(this.dir, 'charon.log');
    this.runDir = join(this.dir, 'run');
    this.outFile = join(this.dir, 'charon.out');
  }

  pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.netns, ...cmd], opts);
  }

  spawn(cmd: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.netns, ...cmd], opts);
  }

  ip(args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', '-n', this.netns, ...args], opts);
  }

  swanctl(args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    const argv = [this.charon.swanctl, ...args];
    if (!args.includes('--uri') && !args.includes('-u')) argv.push('--uri', this.viciUri);
    return run(argv, {
      ...opts,
      env: { STRONGSWAN_CONF: this.strongswanConfFile, SWANCTL_DIR: this.swanctlDir, ...opts?.env },
    });
  }

  async listSas(ike?: string): Promise<IkeSa[]> {
    const r = await this.swanctl(['--list-sas', '--pretty', ...(ike ? ['--ike', ike] : [])], { timeoutMs: 10_000 });
    return parseListSas(r.stdout);
  }

  async loadConfig(): Promise<void> {
    await this.swanctl(['--load-all', '--noprompt'], { timeoutMs: 15_000 });
  }

  private logSize(): number {
    try {
      return statSync(this.logFile).size;
    } catch {
      return 0;
    }
  }

  logMark(): LogMark {
    return { side: this.side, offset: this.logBase + this.logSize() };
  }

  log(since?: LogMark): string {
    const from = Math.max(0, (since?.offset ?? 0) - this.logBase);
    let fd: number;
    try {
      fd = openSync(this.logFile, 'r');
    } catch {
      return '';
    }
    try {
      const size = fstatSync(fd).size;
      if (from >= size) return '';
      const buf = Buffer.alloc(size - from);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, from + got);
        if (n <= 0) break;
        got += n;
      }
      return buf.subarray(0, got).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }

  async waitForLog(pattern: RegExp | string, opts: { since?: LogMark; timeoutMs?: number } = {}): Promise<string> {
    const test = (line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    return pollUntil(
      () => this.log(opts.since).split('\n').find(test),
      {
        timeoutMs: opts.timeoutMs ?? 10_000,
        intervalMs: 25,
        what: `${this.side} charon log line matching ${String(pattern)}`,
        detail: () => `last log lines of ${this.logFile}:\n${tail(this.log(opts.since), 15)}`,
      },
    );
  }

  /** Keeps the log bounded: charon appends (O_APPEND), so truncating in place is safe. */
  boundLog(maxBytes: number): void {
    const size = this.logSize();
    if (size <= maxBytes) return;
    try {
      truncateSync(this.logFile, 0);
      this.logBase += size;
    } catch {
      /* ignore */
    }
  }

  writeHosts(entries: Record<string, string>): void {
    let text = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
    for (const [host, addr] of Object.entries(entries)) text += `${addr}\t${host}\n`;
    writeFileSync(this.hostsFile, text); // 'w' truncates the same inode
  }
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines - 1).join('\n');
}

// mount a private /run (charon 5.9.8 writes /var/run/charon.pid, /var/run -> /run) and
// the private hosts file, then become charon. `ip netns exec` + `unshare` + `sh` all
// exec, so the spawned pid is charon's pid.
const CHARON_WRAPPER = 'mount --bind "$1" /run && mount --bind "$2" /etc/hosts && exec "$3"';

class LabImpl implements Lab {
  readonly gw: NodeImpl;
  readonly peer: NodeImpl;
  private tornDown = false;
  private logTimer: NodeJS.Timeout | undefined;
  private readonly keepDir: boolean;

  constructor(
    readonly id: string,
    readonly dir: string,
    readonly connections: readonly LabConnection[],
    readonly ipv6: boolean,
    private readonly opts: LabOptions,
    readonly charon: LabCharon,
    peerCharon: LabCharon,
  ) {
    this.gw = new NodeImpl('gw', id, dir, ipv6, charon);
    this.peer = new NodeImpl('peer', id, dir, ipv6, peerCharon);
    this.keepDir = opts.keepDir ?? process.env['ROAMWATCH_LAB_KEEP'] === '1';
  }

  node(side: Side): NodeImpl {
    return side === 'gw' ? this.gw : this.peer;
  }

  connection(name?: string): LabConnection {
    const c = name === undefined ? this.connections[0] : this.connections.find((x) => x.name === name);
    if (!c) throw new Error(`lab ${this.id} has no connection ${String(name)}`);
    return c;
  }

  private writeOwnerRecord(): void {
    writeOwnerRecord(this.dir, this.id, [this.gw.netns, this.peer.netns], { gw: this.gw.pid(), peer: this.peer.pid() });
  }

  async build(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.writeOwnerRecord();
    liveLabs.add(this);
    installExitHook();
    await this.buildNetwork();
    this.writeConfigs();
    if (this.opts.beforeCharons) await this.opts.beforeCharons(this);
    const maxLog = this.opts.maxLogBytes ?? 16 * 1024 * 1024;
    this.logTimer = setInterval(() => {
      this.gw.boundLog(maxLog);
      this.peer.boundLog(maxLog);
    }, 2000);
    this.logTimer.unref();
    await Promise.all([this.startCharon('peer', { initiate: false }), this.startCharon('gw', { initiate: false })]);
    if (this.opts.startSa ?? true) await this.initiateAll(this.opts.startTimeoutMs ?? 20_000);
  }

  private async buildNetwork(): Promise<void> {
    const { gw, peer } = this;
    const v6 = this.ipv6 ? 0 : 1;
    const sysctls = [
      `net.ipv6.conf.all.disable_ipv6=${v6}`,
      `net.ipv6.conf.default.disable_ipv6=${v6}`,
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
    ];
    for (const n of [gw, peer]) {
      await run(['ip', 'netns', 'add', n.netns]);
      await n.exec(['sysctl', '-q', '-w', ...sysctls]);
    }
    await gw.ip(['link', 'add', gw.ifname, 'type', 'veth', 'peer', 'name', peer.ifname, 'netns', peer.netns]);

    const gwBatch = ['link set lo up', `addr add ${gw.address}/${LAB_NET.link4Prefix} dev ${gw.ifname}`];
    const peerBatch = ['link set lo up', `addr add ${peer.address}/${LAB_NET.link4Prefix} dev ${peer.ifname}`];
    if (this.ipv6) {
      gwBatch.push(`addr add ${LAB_NET.gwLink6}/${LAB_NET.link6Prefix} dev ${gw.ifname} nodad`);
      peerBatch.push(`addr add ${LAB_NET.peerLink6}/${LAB_NET.link6Prefix} dev ${peer.ifname} nodad`);
    }
    gwBatch.push(`link set ${gw.ifname} up`);
    peerBatch.push(`link set ${peer.ifname} up`);
    // Peer reaches the gateway's IKE addresses via the veth.
    peerBatch.push(`route add ${LAB_NET.ike4Net} via ${gw.address}`);
    if (this.ipv6) peerBatch.push(`route add ${LAB_NET.ike6Net} via ${LAB_NET.gwLink6}`);
    const localSeen = new Set<string>();
    for (const c of this.connections) {
      const v6c = c.family === 'ipv6';
      if (!localSeen.has(c.localAddress)) {
        localSeen.add(c.localAddress);
        gwBatch.push(`addr add ${c.localAddress}/${v6c ? 128 : 32} dev lo${v6c ? ' nodad' : ''}`);
        const inNet = v6c ? c.localAddress.startsWith('fd00:231::') : c.localAddress.startsWith('10.231.0.');
        if (!inNet) peerBatch.push(`route add ${c.localAddress}/${v6c ? 128 : 32} via ${v6c ? LAB_NET.gwLink6 : gw.address}`);
      }
      for (const ch of c.children) {
        gwBatch.push(`addr add ${ch.gwInnerAddress}/${v6c ? 128 : 32} dev lo${v6c ? ' nodad' : ''}`);
        peerBatch.push(`addr add ${ch.peerInnerAddress}/${v6c ? 128 : 32} dev lo${v6c ? ' nodad' : ''}`);
      }
    }
    await Promise.all([
      run(['ip', '-n', gw.netns, '-batch', '-'], { input: `${gwBatch.join('\n')}\n` }),
      run(['ip', '-n', peer.netns, '-batch', '-'], { input: `${peerBatch.join('\n')}\n` }),
    ]);
    if (this.ipv6) {
      // The kernel adds the veths' fe80:: addresses only ~1 s after link up. Until then
      // neighbour discovery cannot run (first IKE packet lost, 1 s retransmit), and when
      // they appear charon sees an address change (a roam event). Wait for them before
      // any charon starts.
      await Promise.all(
        [gw, peer].map((n) =>
          pollUntil(
            async () => {
              const r = await n.ip(['-6', 'addr', 'show', 'dev', n.ifname, 'scope', 'link']);
              return r.stdout.includes('fe80::') && !r.stdout.includes('tentative') ? true : undefined;
            },
            { timeoutMs: 10_000, intervalMs: 20, what: `IPv6 link-local address on ${n.netns}/${n.ifname}` },
          ),
        ),
      );
    }
  }

  private writeConfigs(): void {
    const swanctlSubdirs = ['conf.d', 'x509', 'x509ca', 'x509ocsp', 'x509aa', 'x509ac', 'x509crl', 'pubkey', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12'];
    for (const n of [this.gw, this.peer]) {
      mkdirSync(n.runDir, { recursive: true });
      for (const d of swanctlSubdirs) mkdirSync(join(n.swanctlDir, d), { recursive: true });
      const extra = (n.side === 'gw' ? this.opts.strongswanConf : this.opts.peerStrongswanConf) ?? {};
      const conf = renderStrongswanConf(
        baseCharonSettings({
          viciSocket: n.viciSocket,
          logFile: n.logFile,
          ipv6: this.ipv6,
          logLevels: this.opts.logLevels,
          // a source build has only the plugins it was configured with (openssl covers the
          // crypto of aes, sha1, sha2, hmac, gmp, curve25519): load what is there, quietly
          plugins: availablePlugins(n.charon, CHARON_PLUGINS.split(' ')).join(' '),
        }),
        { charon: extra },
      );
      writeFileSync(n.strongswanConfFile, conf);
    }
    const hosts: Record<string, string> = {};
    for (const c of this.connections) if (c.hostname) hosts[c.hostname] = c.localAddress;
    this.gw.writeHosts(hosts);
    this.peer.writeHosts({});

    const gwConns: SwanctlConnection[] = this.connections.map((c) => ({
      name: c.name,
      localAddrs: c.localAddrs,
      remoteAddrs: c.remoteAddress,
      localId: c.localId,
      remoteId: c.remoteId,
      mobike: c.mobike,
      ikeVersion: c.ikeVersion,
      reauthTime: c.reauthTime,
      rekeyTime: c.rekeyTime,
      children: c.children.map((ch) => ({ name: ch.name, localTs: ch.gwTs, remoteTs: ch.peerTs })),
      extra: this.opts.connections?.find((o, i) => (o.name ?? (i === 0 ? 'rw' : `rw${i}`)) === c.name)?.gwSwanctl,
    }));
    // The peer never initiates and uses a literal address: it is not the subject.
    const peerConns: SwanctlConnection[] = this.connections.map((c) => ({
      name: c.name,
      localAddrs: c.remoteAddress,
      remoteAddrs: c.localAddress,
      localId: c.remoteId,
      remoteId: c.localId,
      mobike: c.mobike,
      ikeVersion: c.ikeVersion,
      children: c.children.map((ch) => ({ name: ch.name, localTs: ch.peerTs, remoteTs: ch.gwTs })),
    }));
    writeFileSync(join(this.gw.swanctlDir, 'swanctl.conf'), renderSwanctlConf(gwConns, LAB_NET.psk));
    writeFileSync(join(this.peer.swanctlDir, 'swanctl.conf'), renderSwanctlConf(peerConns, LAB_NET.psk));
  }

  async startCharon(side: Side, opts: StartCharonOptions = {}): Promise<void> {
    if (this.tornDown) throw new Error(`lab ${this.id} is torn down`);
    const n = this.node(side);
    if (n.running()) throw new Error(`${side} charon already runs (pid ${String(n.pid())})`);
    rmSync(n.viciSocket, { force: true });
    rmSync(join(n.runDir, 'charon.pid'), { force: true });
    const out = openSync(n.outFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        'ip',
        ['netns', 'exec', n.netns, 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CHARON_WRAPPER, 'lab-charon', n.runDir, n.hostsFile, n.charon.charon],
        { detached: true, stdio: ['ignore', out, out], env: { ...process.env, STRONGSWAN_CONF: n.strongswanConfFile } },
      );
    } finally {
      closeSync(out);
    }
    n.child = child;
    n.exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.unref();
    this.writeOwnerRecord();

    await pollUntil(
      async () => {
        if (!n.running()) throw new Error(`${side} charon exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`);
        return (await canConnect(n.viciSocket)) ? true : undefined;
      },
      {
        timeoutMs: 10_000,
        intervalMs: 10,
        what: `${side} charon's vici socket ${n.viciSocket}`,
        detail: () => this.diagnostics(side),
      },
    ).catch((e: unknown) => {
      if (!n.running()) throw new Error(`${side} charon did not start: ${e instanceof Error ? e.message : String(e)}\n${this.diagnostics(side)}`);
      throw e;
    });

    if (opts.load ?? true) await n.loadConfig();
    if (side === 'gw' && (opts.initiate ?? true)) await this.initiateAll(this.opts.startTimeoutMs ?? 20_000);
  }

  private async initiateAll(timeoutMs: number): Promise<void> {
    const conns = this.connections.filter((c) => c.startSa);
    for (const c of conns) await this.initiate(c.name, { timeoutMs });
    for (const c of conns) await this.waitForSa({ name: c.name, timeoutMs });
  }

  async initiate(name?: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const c = this.connection(name);
    const timeoutMs = opts.timeoutMs ?? 20_000;
    for (const ch of c.children) {
      await this.gw.swanctl(['--initiate', '--ike', c.name, '--child', ch.name, '--timeout', String(Math.ceil(timeoutMs / 1000))], {
        timeoutMs: timeoutMs + 5000,
      });
    }
  }

  async waitForSa(opts: WaitForSaOptions = {}): Promise<IkeSa> {
    const side = opts.side ?? 'gw';
    const n = this.node(side);
    const c = this.connection(opts.name);
    const state = opts.state ?? 'ESTABLISHED';
    const wantChildren =
      opts.children === undefined
        ? state === 'ESTABLISHED'
          ? c.children.map((x) => x.name)
          : []
        : opts.children === true
          ? c.children.map((x) => x.name)
          : opts.children === false
            ? []
            : opts.children;
    let last: IkeSa[] = [];
    return pollUntil(
      async () => {
        last = await n.listSas(c.name);
        return last.find(
          (sa) =>
            sa.name === c.name &&
            sa.state === state &&
            (opts.uniqueIdAbove === undefined || sa.uniqueid > opts.uniqueIdAbove) &&
            wantChildren.every((w) => sa.children.some((ch) => ch.name === w && ch.state === 'INSTALLED')) &&
            (opts.where ? opts.where(sa) : true),
        );
      },
      {
        timeoutMs: opts.timeoutMs ?? 15_000,
        intervalMs: opts.intervalMs ?? 50,
        what: `${side} IKE_SA ${c.name} ${state}${opts.uniqueIdAbove !== undefined ? ` with uniqueid > ${opts.uniqueIdAbove}` : ''}${wantChildren.length ? ` with CHILD_SAs ${wantChildren.join(',')} INSTALLED` : ''}`,
        detail: () =>
          `current SAs on ${side}: ${JSON.stringify(last.map((s) => ({ name: s.name, uniqueid: s.uniqueid, state: s.state, children: s.children.map((x) => `${x.name}:${x.state}`) })))}\n${this.diagnostics(side)}`,
      },
    );
  }

  async stopCharon(side: Side, opts: { timeoutMs?: number } = {}): Promise<void> {
    const n = this.node(side);
    const child = n.child;
    if (!child || !n.running()) return;
    child.kill('SIGTERM');
    const timedOut = await Promise.race([n.exited.then(() => false), sleep(opts.timeoutMs ?? 5000).then(() => true)]);
    if (timedOut && n.running()) {
      child.kill('SIGKILL');
      await n.exited;
    }
    rmSync(n.viciSocket, { force: true });
  }

  async restartCharon(side: Side, opts: StartCharonOptions = {}): Promise<void> {
    await this.stopCharon(side);
    await this.startCharon(side, opts);
  }

  async addSrcRoute(name?: string): Promise<string[]> {
    const c = this.connection(name);
    const plen = c.family === 'ipv6' ? 128 : 32;
    const args = ['route', 'replace', `${c.remoteAddress}/${plen}`, 'dev', this.gw.ifname, 'src', c.localAddress];
    await this.gw.ip(args);
    return args;
  }

  async pingThroughTunnel(opts: { name?: string; child?: string; count?: number; timeoutMs?: number } = {}): Promise<boolean> {
    const c = this.connection(opts.name);
    const ch = opts.child ? c.children.find((x) => x.name === opts.child) : c.children[0];
    if (!ch) throw new Error(`connection ${c.name} has no child ${String(opts.child)}`);
    const count = opts.count ?? 1;
    const waitS = Math.max(1, Math.ceil((opts.timeoutMs ?? 2000) / 1000));
    const r = await this.gw.exec(
      ['ping', ...(c.family === 'ipv6' ? ['-6'] : []), '-n', '-q', '-c', String(count), '-W', String(waitS), '-I', ch.gwInnerAddress, ch.peerInnerAddress],
      { check: false, timeoutMs: (waitS + count) * 1000 + 2000 },
    );
    // `ip netns exec` says so when it cannot run ping at all: not "no reply" but a machine
    // without iputils-ping (scripts/lab/install.sh installs it).
    if (/exec of "ping" failed/.test(r.stderr)) throw new Error(`cannot run ping in ${this.gw.netns}: ${r.stderr.trim()} (run: bash scripts/lab/install.sh)`);
    return r.code === 0;
  }

  diagnostics(side: Side): string {
    const n = this.node(side);
    const out = readTail(n.outFile);
    const outPart = out.trim() ? `charon stdout/stderr (${n.outFile}):\n${tail(out, 10)}\n` : '';
    return `${outPart}last lines of ${n.logFile}:\n${tail(n.log(), 20)}`;
  }

  async teardown(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    if (this.logTimer) clearInterval(this.logTimer);
    await Promise.all([this.stopCharon('gw', { timeoutMs: 3000 }), this.stopCharon('peer', { timeoutMs: 3000 })]).catch(() => undefined);
    this.destroySync(opts.keepDir ?? this.keepDir);
  }

  /** Synchronous, best-effort: used by teardown and by the process-exit hook. */
  destroySync(keepDir = this.keepDir): void {
    this.tornDown = true;
    if (this.logTimer) clearInterval(this.logTimer);
    for (const n of [this.gw, this.peer]) {
      if (n.running()) {
        try {
          n.child?.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // Anything else still running inside our namespaces was started in this lab.
    destroyNetnsSync(this.gw.netns);
    destroyNetnsSync(this.peer.netns);
    if (keepDir) {
      rmSync(join(this.dir, 'lab.json'), { force: true });
      rmSync(this.gw.viciSocket, { force: true });
      rmSync(this.peer.viciSocket, { force: true });
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
    liveLabs.delete(this);
  }
}

function readTail(path: string): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 64 * 1024));
      const n = readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length));
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function randomId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('');
}

/**
 * Builds a lab and (by default) establishes the gateway-initiated IKE_SA and CHILD_SAs.
 * Always pair with `await lab.teardown()` (e.g. in afterAll/finally); a process-exit
 * hook and the stale-lab cleanup of later runs are only safety nets.
 */
export async function createLab(opts: LabOptions = {}): Promise<Lab> {
  const gwSpec = opts.charon ?? defaultCharonSpec();
  const peerSpec = opts.peerCharon ?? gwSpec;
  checkLabPrerequisites([...new Set([gwSpec, peerSpec])]);
  const withVersion = (b: CharonBuild): LabCharon => ({ ...b, version: charonVersion(b) });
  const gwCharon = withVersion(resolveCharon(gwSpec));
  const peerCharon = peerSpec === gwSpec ? gwCharon : withVersion(resolveCharon(peerSpec));
  const id = opts.name ? (opts.name.startsWith(LAB_PREFIX) ? opts.name : `${LAB_PREFIX}${opts.name}`) : `${LAB_PREFIX}${randomId()}`;
  if (!LAB_ID_RE.test(id)) throw new Error(`invalid lab name ${JSON.stringify(id)}: lower-case letters, digits and '-', at most 38 characters`);
  const connections = resolveConnections(opts);
  const ipv6 = opts.ipv6 ?? false;
  const dir = join(opts.baseDir ?? tmpdir(), id);
  const longest = join(dir, 'peer', 'charon.vici');
  if (Buffer.byteLength(longest) > 100) throw new Error(`lab directory path too long for a unix socket: ${longest}`);

  // Leftovers: labs of dead owners, and a leftover of this very name.
  await cleanupStaleLabs({ baseDir: opts.baseDir });
  await cleanupStaleLabs({ baseDir: opts.baseDir, ids: [id], includeUnowned: true });
  const existing = await run(['ip', 'netns', 'list'], { check: false });
  if (existing.stdout.split('\n').some((l) => l.startsWith(`${id}-`))) {
    throw new Error(`lab ${id} exists and its owner still runs: choose another name`);
  }

  const lab = new LabImpl(id, dir, connections, ipv6, opts, gwCharon, peerCharon);
  try {
    await lab.build();
  } catch (e) {
    const diag = `gw: ${lab.diagnostics('gw')}\npeer: ${lab.diagnostics('peer')}`;
    await lab.teardown().catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`createLab(${id}) failed: ${msg}\n${diag}`, { cause: e });
  }
  return lab;
}
