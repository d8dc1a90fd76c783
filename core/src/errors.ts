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

/**
 * A long-running pipeline failed at run time (an exception inside a stage: a bug or a state
 * it cannot continue from). Not retriable in-process: the process ends with `EXIT.failed` so
 * that its supervisor restarts it, and the restart resumes from what was committed.
 */
export class PipelineError extends RoamwatchError {
  constructor(stage: string, cause: unknown) {
    super(`${stage} failed: ${errorMessage(cause)}`, { code: 'PIPELINE_FAILED', retriable: false, cause, context: { stage } });
    this.name = 'PipelineError';
  }
}

/** Exit codes shared by every subcommand. */
export const EXIT = {
  ok: 0,
  /** doctor: something is at risk; other commands: the run found a problem it reports. */
  findings: 1,
  /** Bad usage, bad config or an error that stopped the command, which a restart cannot fix (systemd: RestartPreventExitStatus=2). */
  error: 2,
  /**
   * A long-running command failed at run time (its pipeline or consumer crashed, an uncaught
   * exception): a restart may fix it, so supervisors restart it.
   */
  failed: 3,
} as const;

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
