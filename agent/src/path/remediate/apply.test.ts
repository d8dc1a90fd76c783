import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PathAnalysis } from '../analyze.js';
import type { IpRunner } from '../ip-json.js';
import { VERSION_RULES } from '../version-rules.js';
import { applyRemediation, parseBatchErrors, undoRemediation } from './apply.js';
import { RemediationJournal } from './journal.js';
import { formatIpRouteCommand, parseIpRouteCommand, sameRouteKey, type RouteSpec } from './route-spec.js';

/** A routing table that understands the `ip` commands remediation runs (pure logic under test, not the kernel). */
function fakeKernel(initial: RouteSpec[] = []) {
  const routes: RouteSpec[] = [...initial];
  const ran: string[] = [];
  const ip: IpRunner = async (args) => {
    if (args[0] === '-j') {
      const table = Number(args[5]);
      const dst = args[7];
      const hits = routes.filter((r) => (r.table ?? 254) === table && r.dst === dst);
      return { code: 0, stderr: '', stdout: JSON.stringify(hits.map((r) => ({ dst: r.dst.replace(/\/32$/, ''), ...(r.dev ? { dev: r.dev } : {}), ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}), ...(r.metric ? { metric: r.metric } : {}), ...(r.scope ? { scope: r.scope } : {}), ...(r.proto ? { protocol: r.proto } : {}) }))) };
    }
    ran.push(`ip ${args.join(' ')}`);
    const { op, spec } = parseIpRouteCommand(`ip ${args.join(' ')}`);
    const i = routes.findIndex((r) => sameRouteKey(r, spec));
    if (op === 'add') {
      if (i >= 0) return { code: 2, stdout: '', stderr: 'RTNETLINK answers: File exists' };
      routes.push(spec);
    } else if (op === 'del') {
      if (i < 0) return { code: 2, stdout: '', stderr: 'RTNETLINK answers: No such process' };
      routes.splice(i, 1);
    } else if (i >= 0) routes[i] = spec;
    else if (op === 'replace') routes.push(spec);
    else return { code: 2, stdout: '', stderr: 'RTNETLINK answers: No such file or directory' };
    return { code: 0, stdout: '', stderr: '' };
  };
  return { routes, ip, ran };
}

interface FakeSa {
  name: string;
  uniqueId: string;
  local: string;
  remote: string;
  /** The fix doctor would print. */
  fix: string;
}

/** The analyzer's verdict in miniature: valid iff a host route to the peer names the local address in a table charon reads. */
function analyzer(k: ReturnType<typeof fakeKernel>, sas: FakeSa[], ignoredTables: number[] = []) {
  return async (planned: readonly RouteSpec[]): Promise<PathAnalysis[]> =>
    sas.map((s) => {
      const ok = [...k.routes, ...planned].some((r) => r.dst === `${s.remote}/32` && r.prefsrc === s.local && !ignoredTables.includes(r.table ?? 254));
      return {
        ikeSaName: s.name,
        uniqueId: s.uniqueId,
        localHost: s.local,
        remoteHost: s.remote,
        verdict: ok ? 'valid' : 'at-risk',
        reasonCode: ok ? 'route-with-prefsrc' : 'no-route-leads-to-source',
        reason: '',
        consequence: ok ? 'none' : 'reauth',
        route: undefined,
        fixes: ok
          ? []
          : [
              { rank: 1, kind: 'route', command: s.fix, why: '' },
              { rank: 2, kind: 'config', command: `connections.${s.name}.local_addrs = ${s.local}`, why: '' },
            ],
        triggers: ['route', 'address', 'link'],
        mobike: { negotiated: false, evidence: '' },
        lookup: undefined,
        missingKernelLookups: [],
        charonVersion: '5.9.8',
        rule: VERSION_RULES.common,
      } satisfies PathAnalysis;
    });
}

const journal = () => new RemediationJournal({ dir: join(mkdtempSync(join(tmpdir(), 'rw-remedy-')), 'j') });
const connected: RouteSpec = { family: 4, dst: '10.231.1.0/24', dev: 'rw-gw0', proto: 'kernel', scope: 'link', prefsrc: '10.231.1.1' };
const rw: FakeSa = { name: 'rw', uniqueId: '4', local: '10.231.0.1', remote: '10.231.1.2', fix: 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1' };
const rw2: FakeSa = { name: 'rw2', uniqueId: '5', local: '10.231.0.3', remote: '10.231.1.2', fix: 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.3 metric 1' };

describe('doctor --apply: apply, verify, journal, roll back', () => {
  it('when an SA is at risk, then the first route fix is applied, verified valid and journaled with the previous state', async () => {
    const k = fakeKernel([connected]);
    const j = journal();
    const out = await applyRemediation({ analyze: analyzer(k, [rw]), ip: k.ip, journal: j });
    expect(out.map((o) => o.status)).toEqual(['fixed']);
    expect(k.ran).toEqual(['ip -4 route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1']);
    const [e] = j.list();
    expect(e?.state).toBe('applied');
    expect(e?.previous).toEqual([]);
    expect(e?.history.map((h) => h.state)).toEqual(['applying', 'applied']);
  });

  it('when two SAs to one peer need different fixes, then both are planned first, applied back to back, each verified', async () => {
    const k = fakeKernel([connected]);
    const seen: number[] = [];
    const an = analyzer(k, [rw, rw2]);
    const out = await applyRemediation({ analyze: async (p) => (seen.push(p.length), an(p)), ip: k.ip, journal: journal() });
    // plan rw (live), plan rw2 with rw's route assumed, verify (live)
    expect(seen).toEqual([0, 1, 0]);
    expect(k.ran).toEqual(['ip -4 route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1', 'ip -4 route add 10.231.1.2/32 dev rw-gw0 metric 1 src 10.231.0.3']);
    expect(out.map((o) => [o.conn, o.status])).toEqual([
      ['rw', 'fixed'],
      ['rw2', 'fixed'],
    ]);
    expect(k.routes.filter((r) => r.dst === '10.231.1.2/32').map((r) => r.prefsrc)).toEqual(['10.231.0.1', '10.231.0.3']);
  });

  it('when a planned fix already covers a later SA (same addresses), then that SA gets no change of its own', async () => {
    const k = fakeKernel([connected]);
    const twin = { ...rw, name: 'rw-twin', uniqueId: '9' };
    const out = await applyRemediation({ analyze: analyzer(k, [rw, twin]), ip: k.ip, journal: journal() });
    expect(out.map((o) => [o.conn, o.status])).toEqual([
      ['rw-twin', 'already-valid'],
      ['rw', 'fixed'],
    ]);
    expect(k.ran).toHaveLength(1);
  });

  it('when the fix does not make the verdict valid, then it is rolled back, the table is as before, and the journal says why', async () => {
    const k = fakeKernel([connected]);
    const j = journal();
    const bad = { ...rw, fix: 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1 table 100' };
    const out = await applyRemediation({ analyze: analyzer(k, [bad], [100]), ip: k.ip, journal: j });
    expect(out[0]?.status).toBe('rolled-back');
    expect(out[0]?.message).toMatch(/verdict after the change is at-risk/);
    expect(k.routes).toEqual([connected]);
    expect(j.list()[0]?.state).toBe('rolled-back');
  });

  it('when the fix changes an existing host route, then undo restores that route exactly', async () => {
    const host: RouteSpec = { family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0', scope: 'link', proto: 'static' };
    const k = fakeKernel([connected, host]);
    const j = journal();
    const fix = `${formatIpRouteCommand('change', host)} src 10.231.0.1`;
    const out = await applyRemediation({ analyze: analyzer(k, [{ ...rw, fix }]), ip: k.ip, journal: j });
    expect(out[0]?.status).toBe('fixed');
    expect(k.routes[1]?.prefsrc).toBe('10.231.0.1');
    const undo = await undoRemediation({ journal: j, ip: k.ip });
    expect(undo.map((u) => u.ok)).toEqual([true]);
    expect(k.routes).toEqual([connected, host]);
    expect(j.list()[0]?.state).toBe('undone');
    // a second undo finds nothing in place
    expect(await undoRemediation({ journal: j, ip: k.ip })).toEqual([]);
    expect((await undoRemediation({ journal: j, ip: k.ip, id: out[0]?.entry?.id }))[0]?.message).toMatch(/is undone: nothing to undo/);
  });

  it('when the route was changed by hand after apply, then undo refuses to restore over it', async () => {
    const host: RouteSpec = { family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0', scope: 'link', proto: 'static' };
    const k = fakeKernel([connected, host]);
    const j = journal();
    await applyRemediation({ analyze: analyzer(k, [{ ...rw, fix: `${formatIpRouteCommand('change', host)} src 10.231.0.1` }]), ip: k.ip, journal: j });
    (k.routes[1] as RouteSpec).prefsrc = '10.231.0.9';
    const [u] = await undoRemediation({ journal: j, ip: k.ip });
    expect(u?.ok).toBe(false);
    expect(u?.message).toMatch(/changed by hand since/);
    expect(j.list()[0]?.state).toBe('applied');
  });

  it('when --dry-run, then nothing is run or journaled; when declined, then nothing is changed', async () => {
    const k = fakeKernel([connected]);
    const j = journal();
    const dry = await applyRemediation({ analyze: analyzer(k, [rw]), ip: k.ip, journal: j, dryRun: true });
    expect(dry[0]?.status).toBe('planned');
    expect(dry[0]?.change?.command).toBe('ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1');
    const no = await applyRemediation({ analyze: analyzer(k, [rw]), ip: k.ip, journal: j, confirm: async () => false });
    expect(no[0]?.status).toBe('declined');
    expect(k.ran).toEqual([]);
    expect(j.list()).toEqual([]);
  });

  it('when ip -batch reports failures, then each is attributed to its command', () => {
    const stderr = 'RTNETLINK answers: File exists\nCommand failed -:2\nCannot find device "nosuchdev"\nCommand failed -:4\n';
    expect([...parseBatchErrors(stderr)]).toEqual([
      [1, 'File exists'],
      [3, 'Cannot find device "nosuchdev"'],
    ]);
  });

  it('when a batch runner is given, then all changes go in one batch and a failed one is marked failed', async () => {
    const k = fakeKernel([connected]);
    const batches: string[][][] = [];
    const out = await applyRemediation({
      analyze: analyzer(k, [rw, rw2]),
      ip: k.ip,
      ipBatch: async (cmds) => {
        batches.push([...cmds]);
        await k.ip(cmds[0] as string[]);
        return new Map([[1, 'Cannot find device "rw-gw0"']]);
      },
      journal: journal(),
    });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(2);
    expect(out.map((o) => [o.conn, o.status])).toEqual([
      ['rw', 'fixed'],
      ['rw2', 'failed'],
    ]);
  });

  it('when the kernel refuses the change, then the entry is marked failed with the kernel message', async () => {
    const k = fakeKernel([connected, { family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0' }]);
    // analyzer says at risk (no src), fix is an add that collides
    const out = await applyRemediation({ analyze: analyzer(k, [rw]), ip: k.ip, journal: journal() });
    expect(out[0]?.status).toBe('failed');
    expect(out[0]?.message).toMatch(/File exists/);
    expect(out[0]?.entry?.state).toBe('failed');
  });
});
