/**
 * `roamwatch <cmd> --help | head -1`: the reader of stdout goes away before (or while) the help
 * is written. The CLI must end quietly with 0 like any Unix filter, not with Node's
 * "Unhandled 'error' event … write EPIPE" stack trace and exit 1.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './agent-harness.js';

/** Runs the built CLI with its stdout pipe closed by the reader before the CLI writes anything. */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Closing our read end now, before Node has even started in the child, makes every write
  // of the child to stdout fail with EPIPE (what `| head -1` does once it has its line).
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe('roamwatch --help into a closed pipe', () => {
  it.each([[['--help']], [['agent', '--help']], [['processor', '--help']], [['watch', '--help']], [['doctor', '--help']], [['replay', '--help']], [['--version']], [['help', 'doctor']]])(
    'when `roamwatch %j | head -1` closes the pipe, then it exits 0 without a stack trace',
    async (args) => {
      const { code, stderr } = await runWithClosedStdout(args);
      expect(stderr).not.toMatch(/EPIPE|Unhandled 'error' event|at /);
      expect(stderr).toBe('');
      expect(code).toBe(0);
    },
  );
});
