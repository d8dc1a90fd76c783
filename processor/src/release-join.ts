/**
 * release-join: the last stage. Inside the pipeline every event of a batch record carries a
 * BatchPart of the record's ref (decode.ts); here those shares are joined back: the record's
 * ref goes out in a `release` only when the last of its events was released (or dead-lettered),
 * so an edge that commits offsets on release never commits a record half processed
 * (retain.ts holds events, this holds records). Single-event records pass through untouched.
 *
 * A dead letter of one event of a batch leaves with the record's ref (for its coordinates) and
 * its `batchIndex`: the edge does not release on it; if it was the record's last open event, a
 * `release` of the record follows it.
 */
import { BatchPart } from './decode.js';
import type { Stage, Emit } from './stage.js';
import type { PipelineOutput } from './types.js';

/** A ref inside the pipeline: the edge's own, or an event's share of a batch record. */
export type PartRef<R> = R | BatchPart<R>;

export class ReleaseJoin<R> implements Stage<PipelineOutput<PartRef<R>>, PipelineOutput<R>> {
  push(o: PipelineOutput<PartRef<R>>, emit: Emit<PipelineOutput<R>>): void {
    if (o.type === 'release') {
      let refs: R[] | undefined;
      let joined = false;
      for (const r of o.refs) {
        if (r instanceof BatchPart) {
          joined = true;
          if (--r.pending === 0) (refs ??= []).push(r.ref as R);
        } else {
          (refs ??= []).push(r as R);
        }
      }
      if (!joined) emit(o as PipelineOutput<R>);
      else if (refs) emit({ type: 'release', refs });
      return;
    }
    if (o.type === 'dead-letter' && o.ref instanceof BatchPart) {
      const part = o.ref as BatchPart<R>;
      emit({ ...o, ref: part.ref });
      if (--part.pending === 0) emit({ type: 'release', refs: [part.ref] });
      return;
    }
    // A checkpoint names the record its host's state covers: the batch record, for an event of one.
    if (o.type === 'checkpoint' && o.ref instanceof BatchPart) {
      emit({ ...o, ref: (o.ref as BatchPart<R>).ref });
      return;
    }
    emit(o as PipelineOutput<R>);
  }

  flush(): void {}
}
