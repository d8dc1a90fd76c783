// Checks that this machine can run the strongSwan lab. Quick (no processes started).
import { accessSync, constants, existsSync, statSync } from 'node:fs';

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

/** Returns what is missing for the lab (empty when all is there). Never throws. */
export function labPrerequisiteProblems(): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('the lab needs root (network namespaces, mounts, charon)');
  }
  if (!executable(CHARON_BIN)) problems.push(`charon not found at ${CHARON_BIN} (Debian package strongswan-charon)`);
  if (!executable(SWANCTL_BIN)) problems.push(`swanctl not found at ${SWANCTL_BIN} (Debian package strongswan-swanctl)`);
  if (!existsSync(LIBIPSEC_PLUGIN)) problems.push(`kernel-libipsec plugin missing (Debian package libcharon-extra-plugins)`);
  for (const tool of ['ip', 'unshare', 'mount']) {
    if (!findInPath(tool)) problems.push(`${tool} not found in PATH`);
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
 * charon, swanctl, kernel-libipsec, ip/unshare present, /dev/net/tun, running as root.
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
