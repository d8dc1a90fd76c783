/**
 * The options of `roamwatch doctor` for guided remediation (--apply, --undo, --journal…),
 * kept apart from doctor-remedy.ts so that doctor loads the remediation code only when
 * one of them is given.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_REMEDIATION_DIR, NET_SYSTEMS } from '@roamwatch/agent/path';

export function addRemedyOptions(cmd: Command): void {
  cmd
    .option('--apply', 'apply, per IKE_SA at risk, the first route fix, verify that the verdict becomes valid (else roll back) and journal it')
    .option('--yes', 'with --apply: do not ask for confirmation (needed when stdin is not a terminal)')
    .option('--dry-run', 'with --apply: show exactly which commands would run; change nothing')
    .option('--conn <name...>', 'with --apply: only these connections')
    .option('--apply-config', 'with --apply: also write the first config-level fix (literal local_addrs, a strongswan.conf setting) of each SA no route fixed, as the diff shows it (backup, journal), then swanctl --load-conns (strongswan.conf: restart charon yourself)')
    .addOption(new Option('--persist [system]', `with --apply: also write the route into the gateway's network configuration (backing up the file); system: ${NET_SYSTEMS.join(', ')} (default: the detected one)`))
    .option('--net-root <dir>', 'root directory of the network configuration files (default /; for chroots and tests)')
    .option('--undo [id]', 'undo one journaled change, or (without ID) every change still in place, newest first')
    .option('--journal', 'list the remediation journal')
    .option('--state-dir <dir>', 'remediation journal directory', DEFAULT_REMEDIATION_DIR);
}

export function isRemedy(options: Record<string, unknown>): boolean {
  return options['apply'] === true || options['undo'] !== undefined || options['journal'] === true;
}

/** Remediation options given without the one they belong to: a usage error (exit 2). */
export function remedyUsageError(options: Record<string, unknown>): string | undefined {
  const applyOnly = ['yes', 'dryRun', 'conn', 'persist', 'netRoot', 'applyConfig'].filter((k) => options[k] !== undefined);
  if (options['apply'] !== true && applyOnly.length > 0) {
    return `${applyOnly.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} only go with --apply`;
  }
  if ([options['apply'] === true, options['undo'] !== undefined, options['journal'] === true].filter(Boolean).length > 1) return '--apply, --undo and --journal exclude each other';
  return undefined;
}
