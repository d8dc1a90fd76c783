/**
 * `roamwatch agent --sink stdout` into a pipe whose reader goes away (`… | head -1`): the agent
 * ends at once and cleanly (exit 0), like any Unix filter; no "uncaught exception" loop.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './agent-harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-agent-epipe-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('roamwatch agent --sink stdout', () => {
  it('when the reader closes the pipe, then the agent stops cleanly with 0 and keeps the unread events spooled', async () => {
    const env = { ...process.env, ROAMWATCH_VICI_ENABLED: 'false', ROAMWATCH_RTNETLINK_ENABLED: 'false', ROAMWATCH_PATH_ENABLED: 'false', ROAMWATCH_LOG_FORMAT: 'json' };
    const agent = spawn(process.execPath, [CLI, 'agent', '--sink', 'stdout', '--spool-dir', path.join(dir, 'spool'), '--status-interval-ms', '20', '--host-id', 'pipe-gw'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    // Like `head -1`: read the first line, then close the read end.
    await new Promise<void>((resolve) => {
      let buf = '';
      agent.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('\n')) resolve();
      });
    });
    agent.stdout.destroy();
    const code = await exited;
    expect(stderr).not.toMatch(/uncaught exception/);
    expect(stderr).toMatch(/stdout closed by its reader; stopping/);
    expect(code).toBe(0);
  });
});
