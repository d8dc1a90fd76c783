/**
 * A pipeline stage: a synchronous, pure transform that pushes zero or more outputs per input
 * (`emit`) and may release what it still holds at the end of the input (`flush`). No I/O and
 * no clock: both come in as inputs from the edge.
 *
 * The pipeline is one chain of stages (pipeline.ts); `chain` composes two, `stageOperator`
 * turns any stage (one alone, or the whole chain) into an RxJS operator. So the operator the
 * processor, `watch` and `replay` run, the synchronous `Pipeline` the benchmarks and tests
 * drive, and each stage's own operator are the same code, composed once.
 */
import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';

export type Emit<O> = (o: O) => void;

export interface Stage<I, O> {
  push(input: I, emit: Emit<O>): void;
  /** End of input: emit what is still held. */
  flush(emit: Emit<O>): void;
}

class Chain<A, B, C> implements Stage<A, C> {
  private out: Emit<C> = () => {};
  private readonly mid: Emit<B> = (b) => this.second.push(b, this.out);

  constructor(
    private readonly first: Stage<A, B>,
    private readonly second: Stage<B, C>,
  ) {}

  push(input: A, emit: Emit<C>): void {
    this.out = emit;
    this.first.push(input, this.mid);
  }

  flush(emit: Emit<C>): void {
    this.out = emit;
    this.first.flush(this.mid);
    this.second.flush(emit);
  }
}

/** `first` then `second`: every output of `first` goes into `second` at once, in order. */
export function chain<A, B, C>(first: Stage<A, B>, second: Stage<B, C>): Stage<A, C> {
  return new Chain(first, second);
}

/**
 * The stage as an operator: one stage instance per subscription. An exception thrown by the
 * stage errors the output (the edge decides: the processor exits, a replay reports it).
 * `flushOnComplete` (default true): flush when the input completes (replays); live consumers
 * stop without flushing.
 */
export function stageOperator<I, O>(make: () => Stage<I, O>, { flushOnComplete = true }: { flushOnComplete?: boolean } = {}): OperatorFunction<I, O> {
  return (source) =>
    new Observable<O>((sub) => {
      const stage = make();
      const emit: Emit<O> = (o) => sub.next(o);
      return source.subscribe({
        next: (input) => {
          try {
            stage.push(input, emit);
          } catch (err) {
            sub.error(err);
          }
        },
        error: (err) => sub.error(err),
        complete: () => {
          try {
            if (flushOnComplete) stage.flush(emit);
          } catch (err) {
            sub.error(err);
            return;
          }
          sub.complete();
        },
      });
    });
}
