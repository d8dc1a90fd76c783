/**
 * The data that flows through the processor pipeline.
 *
 * The pipeline is a pure function from a stream of `PipelineInput` to a stream of
 * `PipelineOutput`: no I/O and no clock inside. The edges (Kafka source, InfluxDB sink,
 * findings and dead-letter producers, the CLI) feed records in and act on what comes out.
 *
 * `R` is an opaque reference the edge attaches to each record (for Kafka: topic, partition,
 * offset). Every record comes out exactly once as part of a `release`, after every point,
 * finding and dead letter it contributed to has been emitted; an edge that acknowledges
 * those outputs before acting on the release (committing the offset) gets at-least-once
 * delivery with idempotent points. See docs/processor.md "Commits and state".
 */
import type { RoamwatchEvent, Fix } from '@roamwatch/core';
import type { HostCheckpoint } from './checkpoint.js';

/** One record to process: an encoded envelope (a Kafka value, a JSON line) or an already decoded one. */
export interface RecordInput<R> {
  type: 'record';
  value: string | Buffer | RoamwatchEvent;
  ref?: R;
  /** The record's timestamp (Kafka CreateTime or LogAppendTime, ms): bounds clock skew (decode.ts). */
  recordTimeMs?: number;
  /**
   * Set when the record is a batch (NDJSON of many events, its headers say so: core's
   * batchEventsOf): the number of events its header announces (NaN: unreadable). Absent: one event.
   */
  batchEvents?: number;
}

/**
 * Processing-time progress from the edge's clock, µs since the epoch. Lets hosts that fall
 * silent finish their open work (see `idle` in docs/processor.md). Replays send none, so
 * their output depends on the events alone.
 */
export interface TickInput {
  type: 'tick';
  nowUs: number;
  /**
   * Processing time was not the hosts' time until now (the consumer was paused by
   * backpressure): count every host's silence from this tick on instead.
   */
  restart?: boolean;
}

/**
 * Scale-out (docs/processor.md "Scale-out"): ask for the checkpoints of the hosts whose
 * released state changed since their last one (`all`: every host), or restore one host from
 * its checkpoint before its partition's records are re-read. Only a pipeline built with
 * `checkpoints: true` answers; the others ignore both.
 */
export type ControlInput = { type: 'checkpoint'; all?: boolean } | { type: 'restore'; checkpoint: HostCheckpoint };

export type PipelineInput<R> = RecordInput<R> | TickInput | ControlInput;

/** A host's checkpoint (checkpoint.ts) and the last record it covers (its partition). */
export interface CheckpointOutput<R> {
  type: 'checkpoint';
  checkpoint: HostCheckpoint;
  ref: R | undefined;
}

/** A metric point in the shape of docs/metrics.md; `timeNs` is a decimal string (ns do not fit a double). */
export interface MetricPoint {
  measurement: string;
  tags: Record<string, string>;
  /** Integer fields (written with the `i` suffix). */
  ints?: Record<string, number>;
  floats?: Record<string, number>;
  strings?: Record<string, string>;
  timeNs: string;
}

export type Classification = 'spurious' | 'address-moved' | 'legitimate' | 'scheduled' | 'manual' | 'peer' | 'unknown';
export const CLASSIFICATIONS: readonly Classification[] = ['spurious', 'address-moved', 'legitimate', 'scheduled', 'manual', 'peer', 'unknown'];

export type NetKind = 'route' | 'address' | 'link' | 'rule';

export interface Trigger {
  kind: NetKind;
  /** e.g. `route 203.0.113.0/24 added to table main by bgp via 10.0.0.254 dev eth0`. */
  summary: string;
  /** added, removed, replaced, changed, or coalesced for a route storm's summary (absent in findings written before it existed). */
  op?: 'added' | 'removed' | 'replaced' | 'changed' | 'coalesced';
  /** What changed: a route's destination prefix, `address/len`, a link name, a rule, `storm` for a route storm's summary (incidents group on kind + op + target). */
  target?: string;
  /** ISO-8601 with µs (formatUs). */
  time: string;
  timeUs: number;
  /** Envelope id of the event. */
  eventId: string;
}

/** One reauthentication, explained. */
export interface ReauthFinding {
  type: 'reauth';
  /** Deterministic: `host/conn/oldUniqueId/startUs`; the same events give the same id. */
  id: string;
  host: string;
  conn: string;
  classification: Classification;
  /** Why this class, in one sentence naming the evidence. */
  reason: string;
  /** make-before-break (new SA up before the old one went down) or break-before-make. */
  order: 'break-before-make' | 'make-before-break';
  /** ISO time charon started the reauth (first log line, else the old SA's down event). */
  time: string;
  timeUs: number;
  oldUniqueId: string;
  newUniqueId: string | null;
  localBefore: string | null;
  localAfter: string | null;
  remoteBefore: string | null;
  remoteAfter: string | null;
  /** Earliest trigger → reauth start; null without triggers. */
  latencyMs: number | null;
  /** Old CHILD_SAs down → new ones up (0 for make-before-break); null when not observed. */
  downtimeMs: number | null;
  triggers: Trigger[];
  /** Triggers in the window beyond the `triggers` list (route storms). */
  moreTriggers: number;
  /** charon's log lines about this reauth, as delivered over VICI. */
  evidence: string[];
  /** From the latest path.verdict for this SA (or connection), when there is one. */
  fix?: Fix;
  fixes?: Fix[];
}

/** The path analyzer's verdict for an IKE_SA moved into or out of `at-risk`. */
export interface AtRiskFinding {
  type: 'at-risk';
  id: string;
  host: string;
  conn: string;
  uniqueId: string;
  time: string;
  timeUs: number;
  atRisk: boolean;
  verdict: string;
  previous: string | null;
  reasonCode: string;
  reason: string;
  localHost: string | null;
  remoteHost: string | null;
  consequence?: string;
  fix?: Fix;
  fixes?: Fix[];
}

export type Finding = ReauthFinding | AtRiskFinding;

export interface DeadLetter<R> {
  type: 'dead-letter';
  /** Why it was rejected: the validation message naming the fields. */
  reason: string;
  /** Bounded error code: `not-json`, `invalid-event`, `unsupported-version`, `unknown-kind`, `clock-skew`, `truncated-batch`, `garbled-batch`. */
  code: string;
  /** The whole original record, byte for byte (so it can be reprocessed after a fix); for one event of a batch record, its line. */
  raw: string | Buffer;
  ref?: R;
  /**
   * Set when this is one event (line `batchIndex`, from 0) of a batch record whose other events
   * went on: the dead letter does not release the record (`ref`); a `release` does, once all
   * its events are done.
   */
  batchIndex?: number;
  /**
   * Set when the whole of a batch record is the dead letter (broken framing): the count its
   * header announced, so that the dead-letter record carries the batch headers again and reads
   * as what it was.
   */
  batchEvents?: number;
}

export type PipelineOutput<R> =
  | { type: 'point'; point: MetricPoint }
  | { type: 'finding'; finding: Finding }
  | DeadLetter<R>
  | { type: 'release'; refs: R[] }
  | CheckpointOutput<R>;
