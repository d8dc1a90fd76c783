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
    for (const name of ['agent', 'processor', 'watch', 'doctor', 'replay', 'incidents', 'health']) expect(r.stdout).toContain(name);
    expect(SUBCOMMANDS.map((s) => s.name)).toEqual(['agent', 'processor', 'watch', 'doctor', 'replay', 'incidents', 'health']);
  });

  it('when a command is unknown, then it exits 2 and says so', async () => {
    const r = await run(['teleport']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'teleport'/);
    expect(r.stderr).not.toMatch(/did you mean/);
    expect(r.stdout).toBe('');
  });

  it.each([
    [['agnet', '--help'], 'agnet', 'agent'],
    [['agnet'], 'agnet', 'agent'],
    [['help', 'doctr'], 'doctr', 'doctor'],
    [['--help', 'replya'], 'replya', 'replay'],
    [['procesor', '--version'], 'procesor', 'processor'],
  ])('when `roamwatch %j` misspells a command, then it exits 2 naming the command and what was meant', async (args, typo, meant) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`unknown command '${typo}' (did you mean '${meant}'?)`);
    expect(r.stdout).toBe('');
  });

  it('when `help <command>` names a real command, then its help is printed and the exit code is 0', async () => {
    const r = await run(['help', 'doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: roamwatch doctor');
  });

  it('when plain `help` is asked, then the top-level help is printed and the exit code is 0', async () => {
    const r = await run(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: roamwatch');
  });

  it.each(['agent', 'processor', 'watch', 'doctor', 'replay'])('when `%s --help` is asked, then it exits 0 with usage text', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: roamwatch ${name}`);
  });
});
