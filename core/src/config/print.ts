/**
 * Showing a configuration without its secrets: `--print-config` and URLs in logs.
 */
import { stringify as stringifyYaml } from 'yaml';
import type { ConfigTable, Origin } from './table.js';

export const MASK = '<redacted>';

/**
 * The effective configuration as YAML (nested keys), every secret replaced by `<redacted>`
 * (or '' when unset), each line commented with where its value came from when not the default.
 */
export function formatConfig(loaded: { values: Record<string, unknown>; origins: Record<string, Origin>; table: ConfigTable }): string {
  const root: Record<string, unknown> = {};
  const origins: string[] = [];
  for (const k of Object.keys(loaded.table).sort()) {
    const spec = loaded.table[k]!;
    let v = loaded.values[k];
    if (spec.secret) v = v ? MASK : '';
    else if (typeof v === 'string') v = maskUrl(v);
    const parts = k.split('.');
    let node = root;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = v;
    if (loaded.origins[k] && loaded.origins[k] !== 'default') origins.push(`#   ${k}: ${loaded.origins[k]}`);
  }
  const head = ['# roamwatch effective configuration (secrets redacted)'];
  if (origins.length) head.push('# not defaults:', ...origins);
  return `${head.join('\n')}\n${stringifyYaml(root, { lineWidth: 120 })}`;
}

/**
 * A URL safe to log: user info and credential-looking query parameters replaced by `<redacted>`.
 * Text that is not a URL is returned unchanged.
 */
export function maskUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return text.replace(/\/\/[^/@]*@/, `//${MASK}@`);
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = MASK;
    u.password = '';
    changed = true;
  }
  for (const key of [...u.searchParams.keys()]) {
    if (/token|password|passwd|secret|key|auth|^p$|^u$/i.test(key)) {
      u.searchParams.set(key, MASK);
      changed = true;
    }
  }
  return changed ? u.toString().replace(/%3Credacted%3E/g, MASK) : text;
}
