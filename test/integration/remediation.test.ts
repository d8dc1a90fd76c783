// `roamwatch doctor --apply / --undo / --persist` on real charon 5.9.8 in the lab
// (docs/path-analysis.md, "Applying fixes"). Each test runs the real CLI in-process (VICI,
// `ip -n`), makes the same kind of unrelated route change that reauthenticated the SA
// before, and counts what charon really did: "reauthenticating IKE_SA due to address
// change" lines in its log, and the IKE_SA's unique id.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLab, type Lab, type LabOptions } from '../lab/index.js';
import { observeRoam, unrelatedRouteChange } from '../lab/path-scenarios.js';
import { main } from '../../cli/src/main.js';
import type { DoctorResult } from '../../cli/src/commands/doctor.js';
import type { JournalEntry, SaOutcome } from '@roamwatch/agent';
import { decodeEvent, type EventOf } from '@roamwatch/core';
import { startAgent, until } from './agent-harness.js';

const labs: Lab[] = [];
afterEach(async () => {
  while (labs.length > 0) await labs.pop()?.teardown();
});

async function lab(opts: LabOptions): Promise<Lab> {
  const l = await createLab(opts);
  labs.push(l);
  return l;
}

async function doctor<T = DoctorResult>(l: Lab, extra: string[], stateDir: string): Promise<{ code: number; out: T; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  let code: number;
  try {
    code = await main([
      'node', 'roamwatch', 'doctor',
      '--vici', l.gw.viciUri,
      '--netns', l.gw.netns,
      '--strongswan-conf', l.gw.strongswanConfFile,
      '--swanctl-conf', join(l.gw.swanctlDir, 'swanctl.conf'),
      '--format', 'json',
      '--state-dir', stateDir,
      ...extra,
    ]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  if (code === 2) throw new Error(`doctor ${extra.join(' ')} failed: ${err.join('')}${out.join('')}`);
  return { code, out: JSON.parse(out.join('')) as T, stderr: err.join('') };
}

type ApplyResult = { outcomes: (SaOutcome & { entry?: JournalEntry })[]; after: DoctorResult };
type UndoResult = { undone: { id: string; ok: boolean; message: string; state: string }[]; after: DoctorResult };

const REAUTH = /reauthenticating IKE_SA due to address change/g;

/** `n` unrelated route changes, each awaited until charon decided; returns reauth log lines and unique ids per SA. */
async function unrelatedChanges(l: Lab, names: string[], n: number): Promise<{ reauths: Record<string, number>; ids: Record<string, number[]> }> {
  const reauths: Record<string, number> = Object.fromEntries(names.map((x) => [x, 0]));
  const ids: Record<string, number[]> = Object.fromEntries(names.map((x) => [x, [] as number[]]));
  for (let i = 0; i < n; i++) {
    const mark = l.gw.logMark();
    const obs = await observeRoam(l, names, () => unrelatedRouteChange(l));
    expect(obs.roamJob, 'the unrelated change must be a roam event for charon').toBe(true);
    const log = l.gw.log(mark);
    for (const x of names) {
      reauths[x] = (reauths[x] ?? 0) + log.split('\n').filter((line) => line.includes(`<${x}|`) && REAUTH.test(line)).length;
      REAUTH.lastIndex = 0;
      ids[x]?.push(obs.uniqueIds[x]?.after ?? -1);
    }
  }
  return { reauths, ids };
}

const verdict = (r: DoctorResult, conn: string) => r.sas.find((s) => s.conn === conn)?.verdict;

describe('doctor --apply / --undo on real charon 5.9.8', () => {
  it('apply → unrelated route changes cause zero reauths and the unique id stays; persisted (ifupdown) with a backup; undo → at risk again and the next change reauthenticates', async () => {
    const l = await lab({});
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const root = mkdtempSync(join(tmpdir(), 'rw-remedy-root-'));
    mkdirSync(join(root, 'etc/network'), { recursive: true });
    const interfaces = `auto ${l.gw.ifname}\niface ${l.gw.ifname} inet static\n    address ${l.gw.address}/24\n`;
    writeFileSync(join(root, 'etc/network/interfaces'), interfaces);

    // before: the same kind of change reauthenticates
    const before = await unrelatedChanges(l, ['rw'], 2);
    expect(before.reauths['rw']).toBe(2);

    const id0 = (await l.waitForSa({ name: 'rw' })).uniqueid;
    let applied: ApplyResult | undefined;
    // applying the fix is itself a route change: charon's roam job must keep the path
    const applyObs = await observeRoam(l, ['rw'], async () => {
      const r = await doctor<ApplyResult>(l, ['--apply', '--yes', '--persist', '--net-root', root], state);
      expect(r.code).toBe(0);
      applied = r.out;
    });
    expect(applyObs.reauth['rw']).toBe(false);
    const o = applied?.outcomes[0];
    expect(o?.status).toBe('fixed');
    expect(o?.change?.command).toBe(`ip route add 10.231.1.2/32 dev ${l.gw.ifname} src 10.231.0.1`);
    expect(verdict(applied!.after, 'rw')).toBe('valid');
    const entry = o?.entry as JournalEntry;
    expect(entry.state).toBe('applied');
    expect(entry.persisted?.[0]?.system).toBe('ifupdown');
    expect(readFileSync(join(root, 'etc/network/interfaces'), 'utf8')).toContain(`up ip route replace 10.231.1.2/32 dev ${l.gw.ifname} src 10.231.0.1`);

    // after: zero reauths, same unique id
    const after = await unrelatedChanges(l, ['rw'], 3);
    expect(after.reauths['rw']).toBe(0);
    expect(after.ids['rw']).toEqual([id0, id0, id0]);

    // undo: route and file restored, at risk again. Removing the route is itself a route
    // change, so charon re-checks right away and, the SA being at risk again, reauthenticates.
    let u: UndoResult | undefined;
    const undoObs = await observeRoam(l, ['rw'], async () => {
      const r = await doctor<UndoResult>(l, ['--undo'], state);
      expect(r.code).toBe(0);
      u = r.out;
    });
    expect(u?.undone.map((x) => [x.id, x.ok, x.state])).toEqual([[entry.id, true, 'undone']]);
    expect(undoObs.reauth['rw']).toBe(true);
    expect(readFileSync(join(root, 'etc/network/interfaces'), 'utf8')).toBe(interfaces);
    const routes = (await l.gw.ip(['route', 'show', '10.231.1.2/32'])).stdout;
    expect(routes.trim()).toBe('');
    expect(verdict((await doctor(l, [], state)).out, 'rw')).toBe('at-risk');
    const again = await unrelatedChanges(l, ['rw'], 1);
    expect(again.reauths['rw']).toBe(1);
    expect(again.ids['rw']?.[0]).toBeGreaterThan(undoObs.uniqueIds['rw']?.after ?? Infinity);
  });

  it('two connections with different local addresses to one peer: each gets its own fix, both verified; no reauth after', async () => {
    const l = await lab({ connections: [{ name: 'rw', localAddrs: 'hostname' }, { name: 'rw2', localAddrs: 'hostname' }, { name: 'lit', localAddrs: 'literal' }] });
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const ids0 = { rw: (await l.waitForSa({ name: 'rw' })).uniqueid, rw2: (await l.waitForSa({ name: 'rw2' })).uniqueid };
    let applied: ApplyResult | undefined;
    const obs = await observeRoam(l, ['rw', 'rw2'], async () => {
      applied = (await doctor<ApplyResult>(l, ['--apply', '--yes'], state)).out;
    });
    expect(obs.reauth).toEqual({ rw: false, rw2: false });
    // planned in list-sas order: the first gets a host route, the second the same route with the next metric
    const cmds = Object.fromEntries(applied?.outcomes.map((x) => [x.conn, [x.status, x.change?.command]]) ?? []);
    const first = applied?.outcomes[0]?.conn === 'rw' ? 'rw' : 'rw2';
    const addr = { rw: '10.231.0.1', rw2: '10.231.0.2' };
    const second = first === 'rw' ? 'rw2' : 'rw';
    expect(cmds).toEqual({
      [first]: ['fixed', `ip route add 10.231.1.2/32 dev ${l.gw.ifname} src ${addr[first]}`],
      [second]: ['fixed', `ip route add 10.231.1.2/32 dev ${l.gw.ifname} metric 1 src ${addr[second]}`],
    });
    expect(applied?.after.sas.map((s) => [s.conn, s.verdict]).sort()).toEqual([
      ['lit', 'immune'],
      ['rw', 'valid'],
      ['rw2', 'valid'],
    ]);
    const after = await unrelatedChanges(l, ['rw', 'rw2'], 3);
    expect(after.reauths).toEqual({ rw: 0, rw2: 0 });
    expect(after.ids).toEqual({ rw: [ids0.rw, ids0.rw, ids0.rw], rw2: [ids0.rw2, ids0.rw2, ids0.rw2] });
    // undo without an id undoes both, newest first
    let u: UndoResult | undefined;
    await observeRoam(l, ['rw', 'rw2'], async () => {
      u = (await doctor<UndoResult>(l, ['--undo'], state)).out;
    });
    expect(u?.undone.map((x) => x.ok)).toEqual([true, true]);
    expect((await doctor(l, [], state)).out.sas.filter((s) => s.verdict === 'at-risk').map((s) => s.conn).sort()).toEqual(['rw', 'rw2']);
  });


  it('when a host route to the peer exists without src, the fix changes that route; undo puts back exactly the route that was there', async () => {
    const l = await lab({});
    await observeRoam(l, ['rw'], () => l.gw.ip(['route', 'add', '10.231.1.2/32', 'dev', l.gw.ifname, 'proto', 'static', 'metric', '5']));
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const show = async () => (await l.gw.ip(['-d', 'route', 'show', 'table', 'all'])).stdout;
    const before = await show();
    let r: ApplyResult | undefined;
    const obs = await observeRoam(l, ['rw'], async () => {
      r = (await doctor<ApplyResult>(l, ['--apply', '--yes'], state)).out;
    });
    expect(obs.reauth['rw']).toBe(false);
    const o = r?.outcomes[0];
    expect(o?.status).toBe('fixed');
    expect(o?.change?.op).toBe('change');
    expect(o?.entry?.previous).toEqual([{ family: 4, dst: '10.231.1.2/32', dev: l.gw.ifname, proto: 'static', scope: 'link', metric: 5 }]);
    expect((await l.gw.ip(['route', 'show', '10.231.1.2/32'])).stdout.trim()).toBe(`10.231.1.2 dev ${l.gw.ifname} proto static scope link src 10.231.0.1 metric 5`);
    await observeRoam(l, ['rw'], async () => {
      expect((await doctor<UndoResult>(l, ['--undo'], state)).out.undone.map((x) => x.ok)).toEqual([true]);
    });
    expect(await show()).toBe(before);
  });

  it('a fix that does not make the verdict valid is rolled back: kernel lookups (install_routes = no) use only the first of two host routes', async () => {
    // charon asks the kernel (install_routes = no); a host route to the peer already names
    // the uplink address. The fix doctor offers beside it (same route, next metric) works
    // for charon's dump mode, but the kernel answers with the lower metric only: the live
    // verification sees `at-risk`, and the change is rolled back.
    const l = await lab({ ipv6: true, family: 'ipv6', strongswanConf: { install_routes: false } });
    await observeRoam(l, ['rw'], () => l.gw.ip(['-6', 'route', 'add', 'fd00:231:1::2/128', 'dev', l.gw.ifname, 'src', 'fd00:231:1::1']));
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const before = (await l.gw.ip(['-6', 'route', 'show', 'table', 'all'])).stdout;
    let r = { code: -1, out: undefined as unknown as ApplyResult };
    // the failed fix and its rollback are route changes too: charon re-checks the SA, which
    // is still at risk, and reauthenticates it once (as the next unrelated change would have)
    const obs = await observeRoam(l, ['rw'], async () => {
      const x = await doctor<ApplyResult>(l, ['--apply', '--yes'], state);
      r = { code: x.code, out: x.out };
    });
    expect(obs.reauth['rw']).toBe(true);
    expect(r.code).toBe(1);
    const o = r.out.outcomes[0];
    expect(o?.status).toBe('rolled-back');
    expect(o?.change?.command).toMatch(/^ip -6 route add fd00:231:1::2\/128 dev rw-gw0 metric \d+ src fd00:231::1$/);
    expect(o?.message).toMatch(/verdict after the change is at-risk \(no-route-leads-to-source\), not valid; removed/);
    expect(o?.entry?.state).toBe('rolled-back');
    expect(o?.entry?.history.map((h) => h.state)).toEqual(['applying', 'rolled-back']);
    expect(verdict(r.out.after, 'rw')).toBe('at-risk');
    // exactly what was there before
    expect((await l.gw.ip(['-6', 'route', 'show', 'table', 'all'])).stdout).toBe(before);
    // nothing to undo
    expect((await doctor<UndoResult>(l, ['--undo'], state)).out.undone).toEqual([]);
  });

  it('config-level fix with --apply-config: the swanctl.conf diff is written (backup, journal), swanctl --load-conns runs; reauths keep the old config until the connection is re-initiated; undo restores the file', async () => {
    const l = await lab({ ipv6: true, family: 'ipv6', strongswanConf: { install_routes: false } });
    await observeRoam(l, ['rw'], () => l.gw.ip(['-6', 'route', 'add', 'fd00:231:1::2/128', 'dev', l.gw.ifname, 'src', 'fd00:231:1::1']));
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const swanctlConf = join(l.gw.swanctlDir, 'swanctl.conf');
    const before = readFileSync(swanctlConf, 'utf8');
    type WithConfig = ApplyResult & { config: { conn: string; status: string; file?: string; diff?: string; message: string; entryId?: string }[] };
    let r: WithConfig | undefined;
    await observeRoam(l, ['rw'], async () => {
      r = (await doctor<WithConfig>(l, ['--apply', '--yes', '--apply-config'], state)).out;
    });
    expect(r?.outcomes[0]?.status).toBe('rolled-back');
    const c = r?.config[0];
    expect(c?.status, c?.message).toBe('applied');
    expect(c?.diff).toMatch(/\n\+\s+local_addrs = fd00:231::1\n/);
    expect(readFileSync(swanctlConf, 'utf8')).toMatch(/local_addrs = fd00:231::1/);
    const conns = (await l.gw.swanctl(['--list-conns'])).stdout;
    expect(conns).toMatch(/fd00:231::1/);
    expect(c?.message).toMatch(/until you re-initiate the connection/);
    // a reauthentication keeps the old SA's config: the literal address does not help yet
    const still = await unrelatedChanges(l, ['rw'], 2);
    expect(still.reauths['rw']).toBe(2);
    // re-initiated, the connection uses the literal address: charon keeps the static path
    const id1 = (await l.waitForSa({ name: 'rw' })).uniqueid;
    await l.gw.swanctl(['--terminate', '--ike', 'rw']);
    await l.initiate('rw');
    const id2 = (await l.waitForSa({ name: 'rw', uniqueIdAbove: id1 })).uniqueid;
    const calm = await unrelatedChanges(l, ['rw'], 2);
    expect(calm.reauths['rw']).toBe(0);
    expect(calm.ids['rw']).toEqual([id2, id2]);
    let u: UndoResult | undefined;
    await observeRoam(l, ['rw'], async () => {
      u = (await doctor<UndoResult>(l, ['--undo'], state)).out;
    });
    expect(u?.undone.map((x) => x.ok)).toEqual([true]);
    expect(readFileSync(swanctlConf, 'utf8')).toBe(before);
  });

  it('fleet visibility: the agent reports each at-risk → valid transition with the fix and who applied it (roamwatch, then by hand)', async () => {
    const l = await lab({});
    const state = mkdtempSync(join(tmpdir(), 'rw-remedy-state-'));
    const out = join(state, 'events.jsonl');
    const agent = startAgent(l, [
      '--sink', `file:${out}`,
      '--spool-dir', join(state, 'spool'),
      '--host-id', 'gw-remedy',
      '--vici', l.gw.viciUri,
      '--strongswan-conf', l.gw.strongswanConfFile,
      '--swanctl-conf', join(l.gw.swanctlDir, 'swanctl.conf'),
      '--remediation-dir', state,
      '--status-interval-ms', '0',
    ]);
    try {
      const verdicts = (): EventOf<'path.verdict'>['payload'][] => {
        let text = '';
        try {
          text = readFileSync(out, 'utf8');
        } catch {
          return [];
        }
        return text
          .split('\n')
          .filter((x) => x.trim() !== '')
          .map((x) => decodeEvent(x))
          .flatMap((e) => (e.kind === 'path.verdict' && e.payload.ikeSaName === 'rw' ? [e.payload] : []));
      };
      await until('an at-risk verdict from the agent', 30_000, () => verdicts().find((v) => v.verdict === 'at-risk'));
      await observeRoam(l, ['rw'], async () => {
        expect((await doctor<ApplyResult>(l, ['--apply', '--yes'], state)).code).toBe(0);
      });
      const entry = new RemediationJournalReader(state).applied()[0];
      const fixed = await until('the agent\'s valid verdict after --apply', 30_000, () => verdicts().find((v) => v.verdict === 'valid' && v.previous === 'at-risk'));
      expect(fixed.remediation).toEqual({ fix: `10.231.1.2 dev ${l.gw.ifname} scope link src 10.231.0.1`, appliedBy: 'roamwatch', journalId: entry });
      // undo: at risk again (charon reauthenticates: a new unique id), then the same route by hand
      await observeRoam(l, ['rw'], async () => {
        expect((await doctor<UndoResult>(l, ['--undo'], state)).code).toBe(0);
      });
      const n = verdicts().length;
      await until('the agent\'s at-risk verdict after --undo', 30_000, () => verdicts().slice(n - 1).find((v) => v.verdict === 'at-risk'));
      const m = verdicts().length;
      await observeRoam(l, ['rw'], () => l.gw.ip(['route', 'add', '10.231.1.2/32', 'dev', l.gw.ifname, 'src', '10.231.0.1']));
      const byHand = await until('the agent\'s valid verdict after the manual fix', 30_000, () => verdicts().slice(m).find((v) => v.verdict === 'valid' && v.previous === 'at-risk'));
      expect(byHand.remediation).toEqual({ fix: `10.231.1.2 dev ${l.gw.ifname} scope link src 10.231.0.1`, appliedBy: 'by-hand' });
    } finally {
      agent.kill('SIGTERM');
      await agent.exited;
    }
  });
});

/** The ids of the journal's entries still applied (test helper). */
class RemediationJournalReader {
  constructor(private readonly dir: string) {}
  applied(): string[] {
    return readdirSync(this.dir)
      .filter((n) => /^\d{8}T\d{6}Z-[a-z0-9]{6}\.json$/.test(n))
      .map((n) => JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as JournalEntry)
      .filter((e) => e.state === 'applied')
      .map((e) => e.id);
  }
}
