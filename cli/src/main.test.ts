import { describe, expect, it, vi } from 'vitest';
import { main, SUBCOMMANDS } from './main.js';

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  try {
    const code = await main(['node', 'roamwatch', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('roamwatch CLI', () => {
  it('when run with --help, then every subcommand is listed and the exit code is 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['agent', 'processor', 'watch', 'doctor', 'replay']) expect(r.stdout).toContain(name);
    expect(SUBCOMMANDS.map((s) => s.name)).toEqual(['agent', 'processor', 'watch', 'doctor', 'replay']);
  });

  it('when a command is unknown, then it exits 2 and says so', async () => {
    const r = await run(['teleport']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'teleport'/);
  });

  it.each(['agent', 'processor', 'watch', 'doctor', 'replay'])('when `%s --help` is asked, then it exits 0 with usage text', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: roamwatch ${name}`);
  });
});
