/**
 * What the agent needs from a sink, and what a sink reports for agent.status.
 */
import type { RoamwatchEvent } from '@roamwatch/core';
import type { SpoolRecord, SpoolStats } from './spool.js';

export type SinkState = 'ok' | 'degraded' | 'down';

/** Fields of agent.status that come from the sink side. */
export interface SinkStatusReport {
  sink: { kind: string; state: SinkState; lastError?: string };
  spool: { bytes: number; events: number; limitBytes: number; droppedEvents: number; holding?: boolean; heldBytes?: number; effectiveLimitBytes?: number };
  eventsSent: number;
  eventsDropped: number;
  /** Age of the oldest event not yet acknowledged by the transport (0 when none). */
  lagMs: number;
}

/**
 * A transport delivers spooled records, in order, to one destination (Kafka, stdout, a file).
 * `send` resolves only when the destination has accepted the whole batch; a rejection means
 * nothing may be assumed delivered (the batch is resent: duplicates keep their event id).
 */
export interface Transport {
  /** `kafka`, `stdout`, `file`. */
  readonly kind: string;
  /** Connects (retryable: called again after a failure). */
  connect(): Promise<void>;
  send(records: readonly SpoolRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the delivery loop needs from the spool (agent/src/sinks/spool.ts implements it): a
 * narrow door, so the sink knows nothing of segments, locks, framing or bounds.
 */
export interface SpoolPort {
  /** The highest sequence number handed in (the next event gets lastSeq + 1). */
  readonly lastSeq: number;
  readonly ackedSeq: number;
  /** Stores one encoded envelope; false when the bound refused it (announced as a gap). */
  append(seq: number, line: string, timeUs: number): boolean;
  /** Stored, unacknowledged records after `afterSeq`, in order, within the limits. */
  read(afterSeq: number, maxRecords: number, maxBytes: number): SpoolRecord[];
  /** Everything up to `seq` is delivered. */
  ack(seq: number): void;
  /** Resolves when records after `seq` are readable (or on wake()/close()). */
  waitForRecordsAfter(seq: number): Promise<void>;
  wake(): void;
  /** Stores what was appended this turn now (flush, shutdown). */
  writePending(): void;
  oldestPendingTimeUs(): number | undefined;
  stats(): SpoolStats;
  close(): void;
}

/** The agent's view of a sink: it takes envelopes synchronously and never blocks the caller. */
export interface Sink {
  readonly kind: string;
  /** Called for every envelope, in sequence order. Must not wait on I/O. */
  write(event: RoamwatchEvent): void;
  /** Starts delivering in the background. */
  start(): void;
  /** Waits until everything written so far is delivered, at most `timeoutMs`; true when it is. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stops delivering after what can be sent within `timeoutMs`; unsent events stay spooled. */
  close(timeoutMs?: number): Promise<void>;
  report(): SinkStatusReport;
  /** The last sequence number stored by this sink (the agent continues after it). */
  readonly lastSeq: number;
}
