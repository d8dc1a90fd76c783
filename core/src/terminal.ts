/**
 * Conventions for what roamwatch prints for a person (findings, text logs, progress):
 *
 * - **Time**: one convention everywhere, UTC with the zone shown:
 *   `2026-11-27 15:50:38.123Z`. Event times come from many gateways in many zones; a fleet
 *   reads one clock, and the trailing `Z` says which one (JSON output keeps RFC 3339).
 * - **Colour** follows the no-color.org convention and the `FORCE_COLOR` convention that Node
 *   itself honours: `FORCE_COLOR` set (and not `0`/`false`) forces colour even into a pipe;
 *   `FORCE_COLOR=0` turns it off; otherwise a non-empty `NO_COLOR` turns it off; otherwise colour
 *   is used only on a terminal whose `TERM` is not `dumb`. As in Node, `FORCE_COLOR` wins over
 *   `NO_COLOR` when both are set.
 */

/** `2026-11-27 15:50:38.123Z` for a Date, epoch milliseconds or an RFC 3339 string. */
export function formatTime(t: Date | number | string): string {
  let iso: string;
  if (typeof t === 'string') {
    // Keep the digits of an already-UTC timestamp as they are (µs are cut, not rounded).
    iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(t) ? t : new Date(t).toISOString();
  } else {
    iso = new Date(t).toISOString();
  }
  const frac = (iso.slice(19, -1) + '.000').slice(0, 4);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac}Z`;
}

/** Whether to colour what is written to `stream`, per the convention above. */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return !(force === '0' || force.toLowerCase() === 'false');
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}
