// Checks that this machine can run the strongSwan lab. Quick (no processes started).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { charonBuildProblems, executable, labCharons, resolveCharon, type CharonSpec } from './charon.js';

/** Debian's charon and swanctl (the lab's '5.9' build; see charon.ts for the others). */
export const CHARON_BIN = '/usr/lib/ipsec/charon';
export const SWANCTL_BIN = '/usr/sbin/swanctl';
export const INSTALL_HINT = 'run: bash scripts/lab/install.sh';

function findInPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir && executable(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (executable(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/** Used when scripts/commands.txt is not found (the lab package outside its repository). */
const LAB_COMMANDS_FALLBACK = [
  { command: 'ip', debianPackage: 'iproute2' },
  { command: 'unshare', debianPackage: 'util-linux' },
  { command: 'mount', debianPackage: 'mount' },
  { command: 'sysctl', debianPackage: 'procps' },
  { command: 'ping', debianPackage: 'iputils-ping' },
];

/**
 * The commands the lab runs: group `lab` of scripts/commands.txt, the project's one list of
 * external commands (docs/testing.md), found in a directory above this file.
 */
export function labCommands(): { command: string; debianPackage: string }[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const file = join(dir, 'scripts', 'commands.txt');
    if (!existsSync(file)) continue;
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter(([command, debianPackage, groups]) => command && debianPackage && groups?.split(',').includes('lab'))
      .map(([command, debianPackage]) => ({ command: command!, debianPackage: debianPackage! }));
  }
  return LAB_COMMANDS_FALLBACK;
}

/**
 * Returns what is missing for the lab with these charon builds (default: every build of
 * the version matrix, labCharons()); empty when all is there. Never throws.
 */
export function labPrerequisiteProblems(charons: readonly CharonSpec[] = labCharons()): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('the lab needs root (network namespaces, mounts, charon)');
  }
  for (const spec of charons) {
    try {
      problems.push(...charonBuildProblems(resolveCharon(spec)).map((p) => `${spec}: ${p}`));
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  for (const { command, debianPackage } of labCommands()) {
    if (command === CHARON_BIN || command === 'swanctl') continue; // checked per build above
    const found = command.startsWith('/') ? executable(command) : findInPath(command) !== undefined;
    if (!found) problems.push(`${command} not found${command.startsWith('/') ? '' : ' in PATH'} (Debian package ${debianPackage})`);
  }
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun missing (kernel-libipsec needs a TUN device)');
  return problems;
}

/**
 * Throws when the lab cannot run here, with the command that fixes it. For the
 * integration globalSetup and for `roamwatch demo`.
 */
export function checkLabPrerequisites(charons?: readonly CharonSpec[]): void {
  const problems = labPrerequisiteProblems(charons);
  if (problems.length > 0) {
    throw new Error(`strongSwan lab prerequisites missing:\n  - ${problems.join('\n  - ')}\n${INSTALL_HINT}`);
  }
}

/** The command that installs the lab's prerequisites. */
export const LAB_INSTALL_COMMAND = 'bash scripts/lab/install.sh';

/**
 * The lab's entry for test/setup/global-setup.ts `checks` (structurally a ServerCheck):
 * charon, swanctl, kernel-libipsec of every build in the version matrix (labCharons():
 * Debian's 5.9.8 and the 6.0 source build by default), the lab's commands (ip, unshare,
 * ping …; group lab of scripts/commands.txt), /dev/net/tun, running as root.
 */
export function labCheck(): { name: string; fix: string; run: () => void; timeoutMs: number } {
  return {
    name: `strongSwan lab (charon ${labCharons().join(' and ')} + swanctl + kernel-libipsec, as root)`,
    fix: LAB_INSTALL_COMMAND,
    timeoutMs: 5_000,
    run: () => {
      const problems = labPrerequisiteProblems();
      if (problems.length > 0) throw new Error(problems.join('; '));
    },
  };
}
