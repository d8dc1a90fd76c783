// Checks that this machine can run the strongSwan lab. Quick (no processes started).
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHARON_BIN = '/usr/lib/ipsec/charon';
export const SWANCTL_BIN = '/usr/sbin/swanctl';
export const LIBIPSEC_PLUGIN = '/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so';
export const INSTALL_HINT = 'run: bash scripts/lab/install.sh';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

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

/** Returns what is missing for the lab (empty when all is there). Never throws. */
export function labPrerequisiteProblems(): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('the lab needs root (network namespaces, mounts, charon)');
  }
  if (!executable(CHARON_BIN)) problems.push(`charon not found at ${CHARON_BIN} (Debian package strongswan-charon)`);
  if (!executable(SWANCTL_BIN)) problems.push(`swanctl not found at ${SWANCTL_BIN} (Debian package strongswan-swanctl)`);
  if (!existsSync(LIBIPSEC_PLUGIN)) problems.push(`kernel-libipsec plugin missing (Debian package libcharon-extra-plugins)`);
  for (const { command, debianPackage } of labCommands()) {
    if (command === CHARON_BIN || command === 'swanctl') continue; // checked above
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
export function checkLabPrerequisites(): void {
  const problems = labPrerequisiteProblems();
  if (problems.length > 0) {
    throw new Error(`strongSwan lab prerequisites missing:\n  - ${problems.join('\n  - ')}\n${INSTALL_HINT}`);
  }
}

/** The command that installs the lab's prerequisites. */
export const LAB_INSTALL_COMMAND = 'bash scripts/lab/install.sh';

/**
 * The lab's entry for test/setup/global-setup.ts `checks` (structurally a ServerCheck):
 * charon, swanctl, kernel-libipsec, the lab's commands (ip, unshare, ping …) present,
 * /dev/net/tun, running as root.
 */
export function labCheck(): { name: string; fix: string; run: () => void; timeoutMs: number } {
  return {
    name: 'strongSwan lab (charon 5.9.8 + swanctl + kernel-libipsec, as root)',
    fix: LAB_INSTALL_COMMAND,
    timeoutMs: 5_000,
    run: () => {
      const problems = labPrerequisiteProblems();
      if (problems.length > 0) throw new Error(problems.join('; '));
    },
  };
}
