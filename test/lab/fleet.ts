// The lab fleet: one upstream router and N gateway labs, each gateway with its own real
// charon (a full lab from lab.ts: gateway + peer namespace) and a real BIRD 2 holding an
// eBGP session with the upstream router and installing what it learns into the gateway's
// kernel (`protocol kernel { ipv4 { export all; }; }`, routes `proto bird`). Announcing
// or withdrawing one prefix on the upstream router (`birdc disable|enable` of a static
// protocol) changes a route on every gateway through BGP, not through a script on each
// gateway. See docs/lab.md, "Fleet". A library (no test-framework imports).
//
//   upstream netns rwlab-<id>-up  (BIRD, AS 64500; static protocols pfx0, pfx1 … one per prefix)
//     rw-g0 10.232.0.1/24 ── veth ── rw-up0 10.232.0.2/24  gateway 0 (rwlab-<id>-g0-gw, BIRD AS 65000) ── peer 0
//     rw-g1 10.232.1.1/24 ── veth ── rw-up0 10.232.1.2/24  gateway 1 (rwlab-<id>-g1-gw, BIRD AS 65001) ── peer 1
//     …
//
// Each gateway is one of three kinds (the "configured three ways"):
//   seed     IKE address on lo, local_addrs a hostname, no src route: reauthenticates on
//            every route change (the seed thread's setup)
//   fixed    the same, plus `ip route replace <peer>/32 dev rw-gw0 src <IKE address>`: no reauth
//   literal  local_addrs is the IKE address itself: charon keeps the static path, no reauth
// The uplink, the src route and BIRD are set up before the gateway's charon starts
// (LabOptions.beforeCharons), so building the fleet causes no roam events.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupStaleLabs, destroyNetnsSync, LAB_ID_RE, LAB_PREFIX, writeOwnerRecord } from './cleanup.js';
import { pollUntil, run, type ExecResult } from './exec.js';
import { createLab, type Lab, type LabOptions, type LogMark } from './lab.js';
import { checkLabPrerequisites } from './prereq.js';

export type GatewayKind = 'seed' | 'fixed' | 'literal';

export const GATEWAY_KINDS: readonly GatewayKind[] = ['seed', 'fixed', 'literal'];

/** charon's level-1 log line of a route-triggered reauthentication (ike_sa.c). */
export const REAUTH_LOG_LINE = 'reauthenticating IKE_SA due to address change';

export const FLEET_NET = {
  upstreamAsn: 64500,
  /** Gateway i: AS 65000 + i. */
  gatewayAsnBase: 65000,
  /** Link i: 10.232.i.0/24, upstream .1, gateway .2. */
  linkNet: (i: number) => `10.232.${i}`,
  upstreamIfname: (i: number) => `rw-g${i}`,
  gatewayUplink: 'rw-up0',
  /** Documentation prefixes (RFC 5737), one static protocol each on the upstream router. */
  defaultPrefixes: ['198.51.100.0/24', '203.0.113.0/24'],
} as const;

const MAX_GATEWAYS = 250;

export interface FleetOptions {
  /** Fleet id; 'rwlab-' is prepended if missing; default 'rwlab-fl<random>'. Gateway i is the lab '<id>-g<i>'. */
  name?: string;
  /** Number of gateways (default 5). */
  size?: number;
  /** Kind of each gateway (length = size); default seed, fixed, literal, seed, fixed, … */
  kinds?: GatewayKind[];
  /** Prefixes the upstream router can announce (default FLEET_NET.defaultPrefixes); none is announced at start. */
  prefixes?: string[];
  /** Extra options for every gateway lab (its connection, logs, …). */
  lab?: Omit<LabOptions, 'name' | 'localAddrs' | 'beforeCharons' | 'baseDir' | 'keepDir'>;
  /** Parent directory of the fleet's and the gateways' directories (default os.tmpdir()). */
  baseDir?: string;
  /** Keep configs and logs after teardown (default: env ROAMWATCH_LAB_KEEP=1). */
  keepDir?: boolean;
  /** How long to wait for every BGP session to be Established (default 60 000 ms). */
  bgpTimeoutMs?: number;
}

export interface FleetGateway {
  index: number;
  kind: GatewayKind;
  /** The gateway's lab (its charon: `lab.gw`; its peer: `lab.peer`). */
  lab: Lab;
  asn: number;
  /** The gateway's address on its uplink, and the upstream router's (the BGP next hop). */
  uplinkAddress: string;
  upstreamAddress: string;
  birdSocket: string;
  birdLog: string;
  /** The gateway charon's log (all, or what came after `since`). */
  charonLog(since?: LogMark): string;
  logMark(): LogMark;
  /** charon's log lines REAUTH_LOG_LINE after `since` (each starts with its time, HH:MM:SS.mmm). */
  reauthLines(since?: LogMark): string[];
  /** How many times charon logged REAUTH_LOG_LINE after `since`. */
  reauthCount(since?: LogMark): number;
  /** The gateway kernel's `proto bird` routes (main table), as `ip -j route` objects. */
  birdRoutes(): Promise<KernelRoute[]>;
  /** birdc against this gateway's BIRD. */
  birdc(args: readonly string[]): Promise<ExecResult>;
}

export interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
}

export interface Fleet {
  readonly id: string;
  readonly dir: string;
  readonly upstream: { netns: string; asn: number; birdSocket: string; birdLog: string };
  readonly gateways: readonly FleetGateway[];
  readonly prefixes: readonly string[];
  /** Gateways of one kind. */
  byKind(kind: GatewayKind): FleetGateway[];
  /** Announces a prefix from the upstream router (enables its static protocol). */
  announce(prefix: string): Promise<void>;
  /** Withdraws it (disables its static protocol). */
  withdraw(prefix: string): Promise<void>;
  /** Waits until every gateway's kernel has (or, with present: false, no longer has) the prefix as a `proto bird` route. */
  waitForRoute(prefix: string, opts?: { present?: boolean; timeoutMs?: number }): Promise<void>;
  /** Waits until every gateway's BGP session is Established. */
  waitForBgp(opts?: { timeoutMs?: number }): Promise<void>;
  /** birdc against the upstream router's BIRD. */
  upstreamBirdc(args: readonly string[]): Promise<ExecResult>;
  /** Tears down every gateway lab, the upstream router and (unless kept) the directories. Idempotent. */
  teardown(opts?: { keepDir?: boolean }): Promise<void>;
}

function defaultKinds(n: number): GatewayKind[] {
  return Array.from({ length: n }, (_, i) => GATEWAY_KINDS[i % GATEWAY_KINDS.length] as GatewayKind);
}

function checkPrefix(p: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(p);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new Error(`not an IPv4 prefix: ${JSON.stringify(p)}`);
  if (p.startsWith('10.231.') || p.startsWith('10.232.')) throw new Error(`prefix ${p} overlaps the lab's own addresses (10.231/16, 10.232/16)`);
}

/** BIRD 2 config of the upstream router: one eBGP session per gateway, one disabled static protocol per prefix. */
export function renderUpstreamBirdConf(o: { logFile: string; gateways: number; prefixes: readonly string[] }): string {
  const lines = [`# roamwatch lab fleet: upstream router`, `router id 10.232.255.1;`, `log "${o.logFile}" all;`, `protocol device { }`];
  o.prefixes.forEach((p, k) => lines.push(`protocol static pfx${k} { disabled yes; ipv4; route ${p} blackhole; }`));
  for (let i = 0; i < o.gateways; i++) {
    // `gw` is a reserved word in BIRD's config language: protocols are to_g<i>.
    lines.push(
      `protocol bgp to_g${i} {`,
      // No local address: the uplinks appear only later, and BIRD listens on the wildcard.
      `  local as ${FLEET_NET.upstreamAsn};`,
      `  neighbor ${FLEET_NET.linkNet(i)}.2 as ${FLEET_NET.gatewayAsnBase + i};`,
      // Defaults are 5 s / 120 s: a gateway BIRD that starts a moment later would wait minutes.
      `  connect delay time 1; connect retry time 1; error wait time 1, 2;`,
      `  ipv4 { import none; export all; };`,
      `}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** BIRD 2 config of gateway i: eBGP to the upstream router, everything learned into the kernel. */
export function renderGatewayBirdConf(o: { logFile: string; index: number }): string {
  const net = FLEET_NET.linkNet(o.index);
  return [
    `# roamwatch lab fleet: gateway ${o.index}`,
    `router id ${net}.2;`,
    `log "${o.logFile}" all;`,
    `protocol device { }`,
    `protocol kernel { ipv4 { import none; export all; }; }`,
    `protocol bgp uplink {`,
    `  local ${net}.2 as ${FLEET_NET.gatewayAsnBase + o.index};`,
    `  neighbor ${net}.1 as ${FLEET_NET.upstreamAsn};`,
    `  connect delay time 1; connect retry time 1; error wait time 1, 2;`,
    `  ipv4 { import all; export none; };`,
    `}`,
    '',
  ].join('\n');
}

function randomId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n - 1).join('\n');
}

async function birdc(socket: string, args: readonly string[]): Promise<ExecResult> {
  return run(['birdc', '-s', socket, ...args], { timeoutMs: 10_000 });
}

/** Starts BIRD in the foreground inside a namespace (`ip netns exec` execs: the pid is BIRD's). */
function startBird(netns: string, conf: string, socket: string, pidFile: string): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', netns, 'bird', '-f', '-c', conf, '-s', socket, '-P', pidFile], {
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => undefined);
  child.unref();
  return child;
}

const liveFleets = new Set<FleetImpl>();
let exitHookInstalled = false;

class FleetImpl implements Fleet {
  readonly upstream: { netns: string; asn: number; birdSocket: string; birdLog: string };
  gateways: FleetGateway[] = [];
  private upstreamBird: ChildProcess | undefined;
  private members: Lab[] = [];
  private tornDown = false;

  constructor(
    readonly id: string,
    readonly dir: string,
    readonly prefixes: readonly string[],
    private readonly keepDir: boolean,
  ) {
    this.upstream = {
      netns: `${id}-up`,
      asn: FLEET_NET.upstreamAsn,
      birdSocket: join(dir, 'bird.ctl'),
      birdLog: join(dir, 'bird.log'),
    };
  }

  byKind(kind: GatewayKind): FleetGateway[] {
    return this.gateways.filter((g) => g.kind === kind);
  }

  private writeOwnerRecord(): void {
    writeOwnerRecord(this.dir, this.id, [this.upstream.netns]);
  }

  async buildUpstream(size: number): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.writeOwnerRecord();
    liveFleets.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const f of liveFleets) f.destroySync();
      });
    }
    const ns = this.upstream.netns;
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const conf = join(this.dir, 'bird.conf');
    writeFileSync(conf, renderUpstreamBirdConf({ logFile: this.upstream.birdLog, gateways: size, prefixes: this.prefixes }));
    this.upstreamBird = startBird(ns, conf, this.upstream.birdSocket, join(this.dir, 'bird.pid'));
    await pollUntil(
      async () => {
        if (this.upstreamBird?.exitCode !== null) throw new Error(`upstream BIRD exited (code ${String(this.upstreamBird?.exitCode)})`);
        return (await birdc(this.upstream.birdSocket, ['show', 'status'])).stdout.includes('Daemon is up') ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'the upstream BIRD control socket', detail: () => lastLines(readText(this.upstream.birdLog), 10) },
    );
  }

  /** Uplink veth, src route (fixed kind) and BIRD of gateway i: runs before its charon starts. */
  async prepareGateway(lab: Lab, index: number, kind: GatewayKind): Promise<void> {
    const net = FLEET_NET.linkNet(index);
    const upIf = FLEET_NET.upstreamIfname(index);
    await run(['ip', '-n', this.upstream.netns, 'link', 'add', upIf, 'type', 'veth', 'peer', 'name', FLEET_NET.gatewayUplink, 'netns', lab.gw.netns]);
    await run(['ip', '-n', this.upstream.netns, '-batch', '-'], { input: `addr add ${net}.1/24 dev ${upIf}\nlink set ${upIf} up\n` });
    await lab.gw.ip(['-batch', '-'], { input: `addr add ${net}.2/24 dev ${FLEET_NET.gatewayUplink}\nlink set ${FLEET_NET.gatewayUplink} up\n` });
    if (kind === 'fixed') await lab.addSrcRoute();
    const conf = join(lab.dir, 'bird.conf');
    const logFile = join(lab.dir, 'bird.log');
    writeFileSync(conf, renderGatewayBirdConf({ logFile, index }));
    const socket = join(lab.dir, 'bird.ctl');
    const child = startBird(lab.gw.netns, conf, socket, join(lab.dir, 'bird.pid'));
    await pollUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`BIRD of gateway ${index} exited (code ${String(child.exitCode)})`);
        return (await birdc(socket, ['show', 'status'])).stdout.includes('Daemon is up') ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: `the BIRD control socket of gateway ${index}`, detail: () => lastLines(readText(logFile), 10) },
    );
  }

  addGateway(lab: Lab, index: number, kind: GatewayKind): void {
    this.members.push(lab);
    const net = FLEET_NET.linkNet(index);
    const birdSocket = join(lab.dir, 'bird.ctl');
    this.gateways.push({
      index,
      kind,
      lab,
      asn: FLEET_NET.gatewayAsnBase + index,
      uplinkAddress: `${net}.2`,
      upstreamAddress: `${net}.1`,
      birdSocket,
      birdLog: join(lab.dir, 'bird.log'),
      charonLog: (since) => lab.gw.log(since),
      logMark: () => lab.gw.logMark(),
      reauthLines: (since) => lab.gw.log(since).split('\n').filter((l) => l.includes(REAUTH_LOG_LINE)),
      reauthCount: (since) => lab.gw.log(since).split('\n').filter((l) => l.includes(REAUTH_LOG_LINE)).length,
      birdRoutes: async () => {
        // Not `ip route show proto bird`: ip leaves the selected fields out of its output.
        const r = await lab.gw.ip(['-j', 'route', 'show', 'table', 'main']);
        return ((r.stdout.trim() ? JSON.parse(r.stdout) : []) as KernelRoute[]).filter((x) => x.protocol === 'bird');
      },
      birdc: (args) => birdc(birdSocket, args),
    });
    this.gateways.sort((a, b) => a.index - b.index);
  }

  private protocolOf(prefix: string): string {
    const k = this.prefixes.indexOf(prefix);
    if (k < 0) throw new Error(`fleet ${this.id} cannot announce ${prefix}: declare it in FleetOptions.prefixes (${this.prefixes.join(', ')})`);
    return `pfx${k}`;
  }

  async announce(prefix: string): Promise<void> {
    const r = await this.upstreamBirdc(['enable', this.protocolOf(prefix)]);
    if (!/enabled/.test(r.stdout)) throw new Error(`birdc enable ${this.protocolOf(prefix)}: ${r.stdout.trim()}`);
  }

  async withdraw(prefix: string): Promise<void> {
    const r = await this.upstreamBirdc(['disable', this.protocolOf(prefix)]);
    if (!/disabled/.test(r.stdout)) throw new Error(`birdc disable ${this.protocolOf(prefix)}: ${r.stdout.trim()}`);
  }

  upstreamBirdc(args: readonly string[]): Promise<ExecResult> {
    return birdc(this.upstream.birdSocket, args);
  }

  async waitForRoute(prefix: string, opts: { present?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const present = opts.present ?? true;
    const missing = new Set(this.gateways);
    await pollUntil(
      async () => {
        for (const g of [...missing]) {
          const has = (await g.birdRoutes()).some((r) => r.dst === prefix);
          if (has === present) missing.delete(g);
        }
        return missing.size === 0 ? true : undefined;
      },
      {
        timeoutMs: opts.timeoutMs ?? 15_000,
        intervalMs: 50,
        what: `${prefix} ${present ? 'in' : 'gone from'} every gateway's kernel (proto bird)`,
        detail: () => `still waiting for gateways ${[...missing].map((g) => g.index).join(', ')}`,
      },
    );
  }

  async waitForBgp(opts: { timeoutMs?: number } = {}): Promise<void> {
    const pending = new Set(this.gateways);
    await pollUntil(
      async () => {
        for (const g of [...pending]) {
          const r = await g.birdc(['show', 'protocols', 'uplink']);
          if (/Established/.test(r.stdout)) pending.delete(g);
        }
        return pending.size === 0 ? true : undefined;
      },
      {
        timeoutMs: opts.timeoutMs ?? 60_000,
        intervalMs: 200,
        what: 'every gateway BGP session Established',
        detail: async () => {
          const up = await this.upstreamBirdc(['show', 'protocols']).catch((e: unknown) => ({ stdout: String(e) }));
          const lines = [...pending].map((g) => `gateway ${g.index} (${g.birdLog}):\n${lastLines(readText(g.birdLog), 5)}`);
          return `upstream protocols:\n${up.stdout}\n${lines.join('\n')}`;
        },
      },
    );
  }

  async teardown(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.tornDown) return;
    const keep = opts.keepDir ?? this.keepDir;
    await Promise.all(this.members.map((l) => l.teardown({ keepDir: keep }).catch(() => undefined)));
    this.destroySync(keep);
  }

  /** Synchronous, best effort: used by teardown and the process-exit hook (the member labs have their own). */
  destroySync(keepDir = this.keepDir): void {
    this.tornDown = true;
    try {
      this.upstreamBird?.kill('SIGKILL');
    } catch {
      /* gone */
    }
    destroyNetnsSync(this.upstream.netns);
    if (keepDir) rmSync(join(this.dir, 'lab.json'), { force: true });
    else rmSync(this.dir, { recursive: true, force: true });
    liveFleets.delete(this);
  }
}

/**
 * Builds a fleet: the upstream router, then the gateway labs (in parallel), then waits for
 * every BGP session. No prefix is announced yet and every SA is ESTABLISHED. Always pair
 * with `await fleet.teardown()`; on failure createFleet tears down what it built.
 */
export async function createFleet(opts: FleetOptions = {}): Promise<Fleet> {
  checkLabPrerequisites();
  const size = opts.size ?? 5;
  if (!Number.isInteger(size) || size < 1 || size > MAX_GATEWAYS) throw new Error(`fleet size must be 1..${MAX_GATEWAYS}, got ${String(size)}`);
  const kinds = opts.kinds ?? defaultKinds(size);
  if (kinds.length !== size) throw new Error(`kinds has ${kinds.length} entries for a fleet of ${size}`);
  for (const k of kinds) if (!GATEWAY_KINDS.includes(k)) throw new Error(`unknown gateway kind ${JSON.stringify(k)} (${GATEWAY_KINDS.join(', ')})`);
  const prefixes = opts.prefixes ?? [...FLEET_NET.defaultPrefixes];
  prefixes.forEach(checkPrefix);
  const id = opts.name ? (opts.name.startsWith(LAB_PREFIX) ? opts.name : `${LAB_PREFIX}${opts.name}`) : `${LAB_PREFIX}fl${randomId()}`;
  const lastMember = `${id}-g${size - 1}`;
  if (!LAB_ID_RE.test(id) || !LAB_ID_RE.test(lastMember)) throw new Error(`invalid fleet name ${JSON.stringify(id)}: lower-case letters, digits and '-', short enough for '${lastMember}' (38 characters)`);
  const baseDir = opts.baseDir ?? tmpdir();
  await cleanupStaleLabs({ baseDir });
  await cleanupStaleLabs({ baseDir, ids: [id, ...kinds.map((_, i) => `${id}-g${i}`)], includeUnowned: true });

  const fleet = new FleetImpl(id, join(baseDir, id), prefixes, opts.keepDir ?? process.env['ROAMWATCH_LAB_KEEP'] === '1');
  try {
    await fleet.buildUpstream(size);
    const results = await Promise.allSettled(
      kinds.map(async (kind, i) => {
        const lab = await createLab({
          ...opts.lab,
          name: `${id}-g${i}`,
          baseDir,
          keepDir: opts.keepDir,
          localAddrs: kind === 'literal' ? 'literal' : 'hostname',
          beforeCharons: (l) => fleet.prepareGateway(l, i, kind),
        });
        fleet.addGateway(lab, i, kind);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await fleet.waitForBgp({ timeoutMs: opts.bgpTimeoutMs });
  } catch (e) {
    await fleet.teardown().catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`createFleet(${id}) failed: ${msg}\nupstream BIRD log:\n${lastLines(readText(fleet.upstream.birdLog), 10)}`, { cause: e });
  }
  return fleet;
}
