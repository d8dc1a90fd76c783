import { describe, it, expect } from 'vitest';
import { from, lastValueFrom, toArray } from 'rxjs';
import { batchHeaders, batchEventsOf, encodeBatchValue, encodeEvent } from '@roamwatch/core';
import type { RoamwatchEvent } from '@roamwatch/core';
import { processEvents } from './pipeline.js';
import type { PipelineInput, PipelineOutput, DeadLetter } from './types.js';
import { HostScript, syntheticFleet } from './synthetic.js';
import type { SaSpec } from './synthetic.js';

type Out = PipelineOutput<number>;

const old: SaSpec = { conn: 'dc2', uid: '7', local: '192.0.2.1', remote: '198.51.100.7' };
const next: SaSpec = { ...old, uid: '8' };

/** A host with a spurious reauth, and enough of everything else to make points and releases. */
function script(): RoamwatchEvent[] {
  return new HostScript('gw-17')
    .snapshot([], [{ name: 'dc2', localAddrs: ['gw.example.net'] }])
    .after(10)
    .up(old)
    .after(60_000)
    .routeAdded('203.0.113.0/24', { protocol: 'bgp', gateway: '10.0.0.254' })
    .after(100)
    .reauthBreakBeforeMake(old, next)
    .after(120_000)
    .routeAdded('198.18.0.0/15').events;
}

/** A batch record of these lines as the Kafka edge hands it over (headers read by batchEventsOf). */
function batchRecord(lines: string[], ref: number, count = lines.length): PipelineInput<number> {
  const batchEvents = batchEventsOf(batchHeaders(count));
  return { type: 'record', value: Buffer.from(encodeBatchValue(lines)), ref, batchEvents: batchEvents! };
}

/** Events cut into batch records of `size` (the last one shorter), refs 0, 1, 2… */
function batched(events: RoamwatchEvent[], size: number): PipelineInput<number>[] {
  const out: PipelineInput<number>[] = [];
  for (let i = 0; i < events.length; i += size) out.push(batchRecord(events.slice(i, i + size).map(encodeEvent), out.length));
  return out;
}

async function run(inputs: PipelineInput<number>[]): Promise<Out[]> {
  return lastValueFrom(from(inputs).pipe(processEvents<number>(), toArray()));
}
const releases = (out: Out[]) => out.flatMap((o) => (o.type === 'release' ? o.refs : []));
const deadLetters = (out: Out[]) => out.filter((o): o is DeadLetter<number> => o.type === 'dead-letter');
const results = (out: Out[]) => out.filter((o) => o.type === 'point' || o.type === 'finding');

describe('batch records (many events of one host in one record)', () => {
  it('when the headers do not say batch, then the record is one event, as before (old topics replay)', () => {
    expect(batchEventsOf(undefined)).toBeUndefined();
    expect(batchEventsOf({})).toBeUndefined();
    expect(batchEventsOf({ 'content-type': Buffer.from('application/json') })).toBeUndefined();
    expect(batchEventsOf({ 'content-type': Buffer.from('application/x-ndjson'), 'roamwatch-events': Buffer.from('12') })).toBe(12);
    expect(batchEventsOf({ 'content-type': 'application/x-ndjson' })).toBeNaN();
  });

  it('when the events come in batch records, then findings and points equal those of single-event records, and each record is released once, after its outputs', async () => {
    const events = script();
    const single = await run(events.map((e, i) => ({ type: 'record', value: encodeEvent(e), ref: i })));
    for (const size of [1, 3, 7, events.length]) {
      const inputs = batched(events, size);
      const out = await run(inputs);
      expect(results(out)).toEqual(results(single));
      expect(deadLetters(out)).toEqual([]);
      const released = releases(out);
      expect(released.sort((a, b) => a - b)).toEqual(inputs.map((_, i) => i));
      // no output of a record's events after the record's release
      const lastRelease = out.findLastIndex((o) => o.type === 'release');
      expect(out.slice(lastRelease + 1).filter((o) => o.type !== 'release')).toEqual([]);
    }
  });

  it('when a topic mixes single-event and batch records, then every event is processed and every record released exactly once', async () => {
    const events = syntheticFleet({ hosts: 3, eventsPerHost: 60 });
    const inputs: PipelineInput<number>[] = [];
    for (let i = 0; i < events.length; ) {
      const n = inputs.length % 3 === 0 ? 1 : 5;
      const chunk = events.slice(i, i + n);
      i += n;
      if (n === 1) inputs.push({ type: 'record', value: encodeEvent(chunk[0]!), ref: inputs.length });
      else inputs.push(batchRecord(chunk.map(encodeEvent), inputs.length));
    }
    const mixed = await run(inputs);
    const single = await run(events.map((e, i) => ({ type: 'record', value: encodeEvent(e), ref: i })));
    expect(results(mixed)).toEqual(results(single));
    const released = releases(mixed);
    expect(released.length).toBe(inputs.length);
    expect(new Set(released).size).toBe(inputs.length);
  });

  it('when one event inside a batch is invalid, then that event alone is a dead letter (its line, its index) and the rest go on; the record is released once, after it', async () => {
    const events = script();
    const lines = events.map(encodeEvent);
    const bad = JSON.parse(lines[2]!) as Record<string, unknown>;
    bad.seq = -1;
    lines[2] = JSON.stringify(bad);
    const out = await run([batchRecord(lines, 0)]);
    const dls = deadLetters(out);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ code: 'invalid-event', raw: lines[2], ref: 0, batchIndex: 2 });
    expect(dls[0]!.reason).toMatch(/seq/);
    expect(releases(out)).toEqual([0]);
    expect(out.findIndex((o) => o.type === 'release')).toBeGreaterThan(out.indexOf(dls[0]!));
    // the other events were correlated: the spurious reauth is still found
    expect(out.some((o) => o.type === 'finding' && o.finding.type === 'reauth')).toBe(true);
  });

  it('when every event of a batch is invalid, then each is a dead letter and the record is released after the last one', async () => {
    const out = await run([batchRecord(['{"v":1}', '{"kind":"route.added"}'], 7)]);
    expect(deadLetters(out).map((d) => [d.batchIndex, d.ref])).toEqual([
      [0, 7],
      [1, 7],
    ]);
    expect(out[out.length - 1]).toEqual({ type: 'release', refs: [7] });
  });

  it('when a batch is cut (fewer lines than its header announces), then the whole record is one dead letter, byte for byte', async () => {
    const lines = script().map(encodeEvent);
    const input = batchRecord(lines.slice(0, 4), 3, lines.length);
    const out = await run([input]);
    const dls = deadLetters(out);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ code: 'truncated-batch', ref: 3, batchEvents: lines.length });
    expect(dls[0]!.batchIndex).toBeUndefined();
    expect(Buffer.compare(dls[0]!.raw as Buffer, (input as { value: Buffer }).value)).toBe(0);
    expect(out.filter((o) => o.type === 'point' || o.type === 'finding')).toEqual([]);
  });

  it('when a batch is garbled (a line is not JSON, or the count header is unreadable), then the whole record is one dead letter', async () => {
    const lines = script().map(encodeEvent);
    const cut = [...lines.slice(0, 3), lines[3]!.slice(0, 20), ...lines.slice(4)];
    const out = await run([batchRecord(cut, 0)]);
    expect(deadLetters(out).map((d) => d.code)).toEqual(['garbled-batch']);
    expect(deadLetters(out)[0]!.reason).toMatch(/line 4 of/);
    const noCount: PipelineInput<number> = { type: 'record', value: encodeBatchValue(lines), ref: 1, batchEvents: Number.NaN };
    expect(deadLetters(await run([noCount])).map((d) => d.code)).toEqual(['garbled-batch']);
  });

  it('when a batch record is replayed without refs (a file), then its events are processed', async () => {
    const events = script();
    const out = await run([{ type: 'record', value: encodeBatchValue(events.map(encodeEvent)), batchEvents: events.length }]);
    expect(out.some((o) => o.type === 'finding' && o.finding.type === 'reauth')).toBe(true);
    expect(releases(out)).toEqual([]);
  });
});
