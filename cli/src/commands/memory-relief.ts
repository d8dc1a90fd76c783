/**
 * Gives a burst's memory back once the burst is over.
 *
 * V8 collects garbage when the program allocates. After an event flood, `roamwatch watch` goes
 * quiet and allocates next to nothing, so the garbage of the flood (hundreds of MB of decoded
 * events that were processed long ago) stays in the heap, and the process stays at its peak
 * size for as long as it runs (measured: bench/watch/flood.mjs). Every `intervalMs` this checks
 * the heap; when it is more than `slackBytes` above the smallest heap seen after a collection,
 * it runs one full collection. Under a steady load V8 collects on its own anyway, so the extra
 * collection costs at most one major GC per interval, only while the heap is inflated.
 *
 * The collector is reached through V8's `--expose-gc` flag, set at run time (v8.setFlagsFromString)
 * and read from a fresh context (vm.runInNewContext('gc')): no command-line flag needed. If that
 * ever fails, relief is off and nothing else changes.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface MemoryReliefOptions {
  /** How often to look (ms). Default 5000. */
  intervalMs?: number;
  /** Heap above the resting level tolerated before a collection (bytes). Default 16 MiB. */
  slackBytes?: number;
}

function collector(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts the periodic check; returns a function that stops it. */
export function startMemoryRelief({ intervalMs = 5000, slackBytes = 16 * 1024 * 1024 }: MemoryReliefOptions = {}): () => void {
  const gc = collector();
  if (!gc) return () => undefined;
  let resting = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const heap = process.memoryUsage().heapUsed;
    if (heap <= resting + slackBytes) {
      resting = Math.min(resting, heap);
      return;
    }
    gc();
    resting = Math.min(Math.max(resting, 1), process.memoryUsage().heapUsed);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
