// Helpers for the path analyzer's lab matrix (test/integration/path-matrix.test.ts):
// routing changes in the gateway namespace and an observer that tells, for real,
// whether charon reauthenticated an IKE_SA after a change. Builds on the lab fixture
// without changing it.
import type { Lab, LogMark } from './lab.js';
import { sleep } from './exec.js';

export interface RoamObservation {
  /** charon logged `creating roam job` after the change. */
  roamJob: boolean;
  /** Per IKE_SA name: did it reauthenticate (unique id changed / log line)? */
  reauth: Record<string, boolean>;
  /** Per IKE_SA name: what charon logged about the path (level 1 and 2 IKE lines). */
  outcome: Record<string, string>;
  uniqueIds: Record<string, { before: number; after: number }>;
  /** Per reauthenticated IKE_SA: whether charon brought the new SA up before it deleted the
   *  old one (make-before-break, the default since 6.0) or after (break-before-make), from
   *  the order of `IKE_SA name[new] established` and `deleting IKE_SA name[old]` in its log. */
  order: Record<string, ReauthOrder | undefined>;
}

export type ReauthOrder = 'make-before-break' | 'break-before-make';

/** The order of a reauth old → new in a charon log (undefined until both lines are there). */
export function reauthOrder(log: string, name: string, oldId: number, newId: number): ReauthOrder | undefined {
  const up = log.indexOf(`IKE_SA ${name}[${newId}] established`);
  const del = log.indexOf(`deleting IKE_SA ${name}[${oldId}]`);
  if (up < 0 || del < 0) return undefined;
  return up < del ? 'make-before-break' : 'break-before-make';
}

const OUTCOMES = [
  'keeping statically configured path',
  'keeping connection path',
  'old path is not available anymore',
  'no route found to reach',
  'reauthenticating IKE_SA due to address change',
  'requesting address change using MOBIKE',
  'sending address list update using MOBIKE',
];

let triggerSeq = 0;

/** A route change that has nothing to do with any IKE_SA: a /32 on lo (lo is up and has addresses, so charon's process_route takes it). */
export async function unrelatedRouteChange(lab: Lab): Promise<string[]> {
  triggerSeq = (triggerSeq + 1) % 250;
  const args = ['route', 'add', `198.18.${triggerSeq}.1/32`, 'dev', 'lo'];
  await lab.gw.ip(args);
  return args;
}

/** An address change (also a roam trigger): a /32 appears on lo. */
export async function unrelatedAddressChange(lab: Lab): Promise<string[]> {
  triggerSeq = (triggerSeq + 1) % 250;
  const args = ['addr', 'add', `198.19.${triggerSeq}.1/32`, 'dev', 'lo'];
  await lab.gw.ip(args);
  return args;
}

function outcomeFor(log: string, name: string): string {
  const lines = log.split('\n').filter((l) => l.includes(`<${name}|`));
  const hits = lines.map((l) => OUTCOMES.find((o) => l.includes(o))).filter((o): o is string => o !== undefined);
  return [...new Set(hits)].join('; ');
}

/**
 * Runs `change`, then waits for charon's roam job (ROAM_DELAY is 100 ms) and for each
 * named IKE_SA's decision; a reauthenticated SA is awaited until its successor is
 * ESTABLISHED, so the lab is settled for the next step.
 */
export async function observeRoam(lab: Lab, names: string[], change: () => Promise<unknown>, opts: { quietMs?: number } = {}): Promise<RoamObservation> {
  const before: Record<string, number> = {};
  for (const n of names) before[n] = (await lab.waitForSa({ name: n })).uniqueid;
  const mark: LogMark = lab.gw.logMark();
  await change();
  let roamJob = false;
  try {
    await lab.gw.waitForLog('creating roam job', { since: mark, timeoutMs: opts.quietMs ?? 1500 });
    roamJob = true;
  } catch {
    roamJob = false;
  }
  if (roamJob) {
    // every SA logs one of the outcomes within a few ms of the roam job
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !names.every((n) => outcomeFor(lab.gw.log(mark), n) !== '')) await sleep(20);
    await sleep(150);
  }
  const reauth: Record<string, boolean> = {};
  const outcome: Record<string, string> = {};
  const uniqueIds: Record<string, { before: number; after: number }> = {};
  const order: Record<string, ReauthOrder | undefined> = {};
  for (const n of names) {
    const log = lab.gw.log(mark);
    outcome[n] = outcomeFor(log, n);
    const logged = outcome[n].includes('reauthenticating');
    const b = before[n] as number;
    let after = (await lab.gw.listSas(n)).find((s) => s.state === 'ESTABLISHED')?.uniqueid ?? -1;
    if (logged || after !== b) {
      after = (await lab.waitForSa({ name: n, uniqueIdAbove: b, timeoutMs: 15_000 })).uniqueid;
    }
    reauth[n] = logged || after !== b;
    uniqueIds[n] = { before: b, after };
    if (reauth[n]) {
      // the old SA's DELETE may still be in flight when the new one is up (make-before-break)
      const deadline = Date.now() + 5000;
      while ((order[n] = reauthOrder(lab.gw.log(mark), n, b, after)) === undefined && Date.now() < deadline) await sleep(25);
    }
  }
  return { roamJob, reauth, outcome, uniqueIds, order };
}

/** Runs an `ip` command given as one string in the gateway namespace (a doctor fix). */
export async function applyIpCommand(lab: Lab, command: string): Promise<void> {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'ip') throw new Error(`not an ip command: ${command}`);
  await lab.gw.ip(words.slice(1));
}
