/**
 * Last line of defence against secrets in logs: every secret value a command loaded (Kafka
 * password, TLS key passphrase, InfluxDB token) is registered here, and the loggers of
 * createLogger replace it by `<redacted>` wherever it appears in a line (message or fields,
 * nested). The code does not log secrets to begin with; this catches what a library puts in
 * an error message (a URL with credentials, a server echoing a token).
 */
import winston from 'winston';

const secrets = new Set<string>();

/** Registers secret values to redact from every log line (values shorter than 4 characters are ignored: too many false hits). */
export function registerSecrets(values: Iterable<string>): void {
  for (const v of values) if (typeof v === 'string' && v.length >= 4) secrets.add(v);
}

/** For tests: forget the registered secrets. */
export function clearSecrets(): void {
  secrets.clear();
}

/** Replaces every registered secret in a string. */
export function redactText(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('<redacted>');
  return out;
}

function redactValue(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactText(v);
  if (depth > 4 || v === null || typeof v !== 'object') return v;
  if (v instanceof Error) return redactText(v.message);
  if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactValue(x, depth + 1);
  return out;
}

/** winston format: redacts registered secrets from the message and every field. */
export const redactFormat = winston.format((info) => {
  if (secrets.size === 0) return info;
  for (const key of Object.keys(info)) (info as Record<string, unknown>)[key] = redactValue((info as Record<string, unknown>)[key], 0);
  return info;
});
