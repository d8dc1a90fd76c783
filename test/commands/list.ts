// Reads scripts/commands.txt, the one list of external commands (see the file's header and
// docs/testing.md "External commands"). scripts/commands.sh reads the same file in bash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const COMMAND_GROUPS = ['base', 'lab', 'build', 'servers', 'bench', 'node', 'package', 'optional'] as const;
export type CommandGroup = (typeof COMMAND_GROUPS)[number];

export interface CommandEntry {
  command: string;
  debianPackage: string;
  groups: CommandGroup[];
  line: number;
}

export const COMMAND_LIST = 'scripts/commands.txt';

/** Parses the list; throws with the line number on a malformed line. */
export function parseCommandList(text: string, file = COMMAND_LIST): CommandEntry[] {
  const out: CommandEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) return;
    const [command, debianPackage, groups] = fields;
    const where = `${file}:${i + 1}`;
    if (fields.length !== 3 || !command || !debianPackage || !groups) throw new Error(`${where}: want COMMAND DEBIAN-PACKAGE GROUPS, got '${raw.trim()}'`);
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(debianPackage)) throw new Error(`${where}: '${debianPackage}' is not a Debian package name`);
    const gs = groups.split(',');
    for (const g of gs) {
      if (!(COMMAND_GROUPS as readonly string[]).includes(g)) throw new Error(`${where}: unknown group '${g}' (known: ${COMMAND_GROUPS.join(', ')})`);
    }
    out.push({ command, debianPackage, groups: gs as CommandGroup[], line: i + 1 });
  });
  return out;
}

export function readCommandList(root: string): CommandEntry[] {
  return parseCommandList(readFileSync(join(root, COMMAND_LIST), 'utf8'));
}
