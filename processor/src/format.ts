/**
 * Findings as a person reads them on a terminal (`roamwatch watch`, `replay`, `processor
 * --print-findings`). JSON lines use the finding objects themselves.
 */
import { formatTime } from '@roamwatch/core';
import type { Finding } from './types.js';

// Times in UTC with the zone shown (2026-11-27 15:50:38.123Z), as in text logs: see core/src/terminal.ts.
const clock = formatTime;

function ms(x: number | null): string {
  if (x === null) return '?';
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`;
}

export function formatFinding(f: Finding, { color = false }: { color?: boolean } = {}): string {
  const c = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  if (f.type === 'at-risk') {
    const head = f.atRisk
      ? `${clock(f.time)} ${f.host} ${f.conn}[${f.uniqueId}]: ${c(33, 'AT RISK')}: the next route change will reauthenticate it (${f.reasonCode})`
      : `${clock(f.time)} ${f.host} ${f.conn}[${f.uniqueId}]: ${c(32, 'no longer at risk')} (${f.verdict}, ${f.reasonCode})`;
    const lines = [head, `    why: ${f.reason}`];
    if (f.fix) lines.push(`    fix: ${f.fix.command}`);
    return lines.join('\n');
  }
  const cls = f.classification.toUpperCase();
  const clsC = f.classification === 'spurious' ? c(31, cls) : f.classification === 'address-moved' ? c(33, cls) : c(36, cls);
  const first = f.triggers[0];
  const cause = first ? `, ${ms(f.latencyMs)} after ${first.summary}${f.triggers.length + f.moreTriggers > 1 ? ` (+${f.triggers.length + f.moreTriggers - 1} more)` : ''}` : '';
  const down = f.downtimeMs === null ? 'downtime unknown' : `tunnel down ${ms(f.downtimeMs)}`;
  const lines = [`${clock(f.time)} ${f.host} ${f.conn}: ${clsC} reauth ${f.oldUniqueId}→${f.newUniqueId ?? '(none)'}${cause}; ${down}`];
  const same = f.localBefore === f.localAfter && f.remoteBefore === f.remoteAfter;
  lines.push(
    `    addresses: ${f.localBefore ?? '?'} ↔ ${f.remoteBefore ?? '?'}${same ? ' (unchanged)' : ` → ${f.localAfter ?? '?'} ↔ ${f.remoteAfter ?? '?'}`}`,
  );
  lines.push(`    why: ${f.reason}`);
  if (f.fix) lines.push(`    fix: ${f.fix.command}`);
  return lines.join('\n');
}
