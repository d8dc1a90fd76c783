/**
 * One error hierarchy for roamwatch. Every error carries a bounded, machine-readable
 * `code` (used as the `error_code` label of internal telemetry and in logs), whether
 * retrying can help (`retriable`; retry loops decide on this alone), and its `cause`.
 */
export interface RoamwatchErrorOptions {
  code: string;
  retriable?: boolean;
  cause?: unknown;
  /** Structured context (broker, topic, path…): logged, never secrets. */
  context?: Record<string, unknown>;
}

export class RoamwatchError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly context: Record<string, unknown> | undefined;
  constructor(message: string, { code, retriable = false, cause, context }: RoamwatchErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RoamwatchError';
    this.code = code;
    this.retriable = retriable;
    this.context = context;
  }
}

/** Bad configuration: names the key and the bad value. Fatal at start (exit code 2). */
export class ConfigError extends RoamwatchError {
  readonly key: string;
  constructor(key: string, message: string, opts: { cause?: unknown } = {}) {
    super(`config ${key}: ${message}`, { code: 'CONFIG_INVALID', retriable: false, cause: opts.cause, context: { key } });
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** Exit codes shared by every subcommand. */
export const EXIT = {
  ok: 0,
  /** doctor: something is at risk; other commands: the run found a problem it reports. */
  findings: 1,
  /** Bad usage, bad config or an error that stopped the command: a restart cannot fix it. */
  error: 2,
  /**
   * A runtime failure (an uncaught exception) that a restart may fix: supervisors restart on
   * it (deploy/roamwatch-agent.service prevents restarts only on 2).
   */
  runtime: 3,
} as const;

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
