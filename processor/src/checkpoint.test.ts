import { describe, expect, it } from 'vitest';
import { Pipeline } from './pipeline.js';
import type { HostCheckpoint } from './checkpoint.js';
import { parseCheckpoint } from './checkpoint.js';
import type { Finding, PipelineOutput } from './types.js';
import { toLineProtocol } from './points.js';
import { longLivedFleet } from './synthetic.js';

/**
 * A partition that moves, in miniature: processor A consumes the records of one partition,
 * commits (the offsets it released, after its checkpoints), goes on a little and is killed (what
 * it emitted after the commit may be lost); processor B takes the partition over from the
 * committed offset. What A emitted up to the commit plus everything B emits must be exactly
 * what one processor alone emits for the whole stream.
 */
type Ref = { offset: number };

interface Written {
  points: Map<string, string>;
  findings: Map<string, string[]>;
}

const written = (): Written => ({ points: new Map(), findings: new Map() });

/** Outputs as InfluxDB and a findings consumer see them: a point overwrites one with the same series and time. */
function record(w: Written, o: PipelineOutput<Ref>): void {
  if (o.type === 'point') {
    const line = toLineProtocol(o.point);
    const fieldsAt = line.lastIndexOf(' ', line.lastIndexOf(' ') - 1);
    w.points.set(`${line.slice(0, fieldsAt)} ${line.slice(line.lastIndexOf(' ') + 1)}`, line);
  } else if (o.type === 'finding') {
    const list = w.findings.get(o.finding.id) ?? [];
    list.push(JSON.stringify(o.finding));
    w.findings.set(o.finding.id, list);
  }
}

function differences(ref: Written, got: Written): string[] {
  const out: string[] = [];
  for (const [k, line] of ref.points) if (got.points.get(k) !== line) out.push(`point ${got.points.has(k) ? 'differs' : 'missing'}: ${line}${got.points.has(k) ? ` ≠ ${got.points.get(k)}` : ''}`);
  for (const k of got.points.keys()) if (!ref.points.has(k)) out.push(`point extra: ${got.points.get(k)}`);
  for (const [id, [f]] of ref.findings) {
    const g = got.findings.get(id);
    if (!g) out.push(`finding missing: ${id}`);
    else for (const x of g) if (x !== f) out.push(`finding differs: ${x} ≠ ${f}`);
  }
  for (const id of got.findings.keys()) if (!ref.findings.has(id)) out.push(`finding extra: ${got.findings.get(id)![0]}`);
  return out;
}

describe.each([
  { name: 'reauths of 10 ms', fleet: { hosts: 4, durationS: 200, routeEveryMs: 3000, reauthEveryS: 45 }, config: {} },
  // the new IKE_SA comes up 40 s after the old went down, route changes in between: the old
  // owner applied the down (its watermark passed it), the new owner applies the up
  { name: 'reauths of 40 s (a slow peer)', fleet: { hosts: 4, durationS: 200, routeEveryMs: 3000, reauthEveryS: 45, reauthGapMs: 40_000 }, config: { pairWindowMs: 60_000 } },
])('checkpoints: state rebuilt for a partition that moves ($name)', ({ fleet, config }) => {
  const { events, reauthTimesUs } = longLivedFleet(fleet);
  const startUs = Math.min(...events.map((e) => e.timeUs));

  function reference(): Written {
    const w = written();
    const p = new Pipeline<Ref>(config);
    events.forEach((e, offset) => p.push({ type: 'record', value: e, ref: { offset } }, (o) => record(w, o)));
    p.flush((o) => record(w, o));
    return w;
  }

  /**
   * A runs records [0, cut), commits, runs on to `killAt` (outputs lost), dies; B restores A's
   * checkpoints (unless `restore` is false: the behaviour before checkpoints) and runs from
   * the committed offset to the end.
   */
  function moved(cut: number, killAt: number, { restore = true } = {}): { w: Written; committed: number; checkpoints: HostCheckpoint[] } {
    const w = written();
    const a = new Pipeline<Ref>(config, { checkpoints: true });
    const released = new Set<number>();
    const checkpoints: HostCheckpoint[] = [];
    const aOut = (o: PipelineOutput<Ref>) => {
      if (o.type === 'release') for (const r of o.refs) released.add(r.offset);
      else if (o.type === 'checkpoint') checkpoints.push(parseCheckpoint(JSON.stringify(o.checkpoint)));
      record(w, o);
    };
    for (let i = 0; i < cut; i++) a.push({ type: 'record', value: events[i]!, ref: { offset: i } }, aOut);
    // The commit: the first offset not released; then the checkpoints (the edge writes them before it commits).
    let committed = 0;
    while (released.has(committed)) committed += 1;
    a.push({ type: 'checkpoint' }, aOut);
    // A goes on and dies: what it emits now is never acknowledged.
    for (let i = cut; i < killAt; i++) a.push({ type: 'record', value: events[i]!, ref: { offset: i } }, () => {});
    const b = new Pipeline<Ref>(config, { checkpoints: true });
    const bOut = (o: PipelineOutput<Ref>) => record(w, o);
    if (restore) for (const checkpoint of checkpoints) b.push({ type: 'restore', checkpoint }, bOut);
    for (let i = committed; i < events.length; i++) b.push({ type: 'record', value: events[i]!, ref: { offset: i } }, bOut);
    b.flush(bOut);
    return { w, committed, checkpoints };
  }

  /** The index of the first new IKE_SA up of a reauth wave: every old SA of the wave that A will see down is down. */
  const straddleCut = (wave: number): number => events.findIndex((e) => e.timeUs > startUs + reauthTimesUs[wave]! && e.kind === 'vici.ike-updown' && e.payload.up);

  const ref = reference();
  const reauths = [...ref.findings.values()].map((l) => JSON.parse(l[0]!) as Finding).filter((f) => f.type === 'reauth');

  it('the reference finds every wave of reauths, with the tunnels’ downtime and the fix of their connection', () => {
    expect(reauths.length).toBe(4 * reauthTimesUs.length);
    for (const f of reauths) {
      expect(f).toMatchObject({ classification: 'spurious', order: 'break-before-make' });
      expect(f.type === 'reauth' && f.downtimeMs).toBeGreaterThan(0);
      expect(f.type === 'reauth' && f.fix?.command).toMatch(/^ip route add /);
    }
  });

  it('when the partition moves in the middle of a reauth (down seen by A, up by B) with no checkpoint, then the SA state is stale: findings differ (the fault)', () => {
    const cut = straddleCut(2);
    const { w } = moved(cut, cut + 40, { restore: false });
    const diff = differences(ref, w);
    expect(diff.some((d) => d.startsWith('finding differs'))).toBe(true);
  });

  it('when the partition moves in the middle of a reauth, then B restores A’s checkpoints and the output equals one processor’s: no gap, no stale SA state', () => {
    const cut = straddleCut(2);
    const { w, committed, checkpoints } = moved(cut, cut + 40);
    expect(checkpoints.map((c) => c.host).sort()).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3']);
    // the open reauths pin the committed offset before their triggers: B re-reads them
    expect(committed).toBeLessThan(cut);
    expect(differences(ref, w)).toEqual([]);
    // no finding twice: the reauths the checkpoint holds were reported by A and are closed silently by B
    for (const [id, list] of w.findings) expect(list.length, id).toBe(1);
  });

  it('when the partition moves at any point of the stream, then the output equals one processor’s', () => {
    const step = Math.floor(events.length / 23);
    for (let cut = step; cut < events.length; cut += step) {
      const { w } = moved(cut, Math.min(events.length, cut + 25));
      expect(differences(ref, w), `cut at ${cut}`).toEqual([]);
    }
  });

  it('when a checkpoint passes through JSON, then the restored state gives the same checkpoint again (round trip)', () => {
    const cut = straddleCut(1) + 200;
    const { checkpoints } = moved(cut, cut);
    const b = new Pipeline<Ref>({}, { checkpoints: true });
    for (const checkpoint of checkpoints) b.push({ type: 'restore', checkpoint }, () => {});
    const again: HostCheckpoint[] = [];
    b.push({ type: 'checkpoint', all: true }, (o) => o.type === 'checkpoint' && again.push(o.checkpoint));
    // nothing was released by B yet: `all` re-emits only hosts with a released record, so none
    expect(again).toEqual([]);
    expect(() => parseCheckpoint('{"v":2,"host":"gw-0"}')).toThrow(/unsupported checkpoint version 2/);
    expect(() => parseCheckpoint('{"v":1,"host":"gw-0","clockUs":1,"frontier":{"timeUs":1,"seq":1}}')).toThrow(/gw-0: state incomplete/);
  });
});
