// Parses `swanctl --list-sas --pretty` output. The lab reads charon's state through
// swanctl (not through roamwatch's own VICI client) so that it is an independent
// oracle for the code under test.

export type ViciValue = string | ViciValue[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

export interface ViciMessage {
  /** e.g. 'list-sa event', 'list-sas reply' */
  name: string;
  body: ViciSection;
}

/**
 * Parses swanctl's `--pretty` dump: a sequence of `name {` … `}` blocks with
 * `key = value`, `key = [` items `]` and nested `key {` … `}`.
 */
export function parsePretty(text: string): ViciMessage[] {
  const lines = text.split('\n');
  const messages: ViciMessage[] = [];
  let i = 0;

  function parseSection(): ViciSection {
    const sec: ViciSection = {};
    while (i < lines.length) {
      const line = (lines[i++] ?? '').trim();
      if (line === '') continue;
      if (line === '}') return sec;
      if (line.endsWith(' {')) {
        sec[line.slice(0, -2)] = parseSection();
        continue;
      }
      const eq = line.indexOf(' = ');
      if (eq < 0) {
        // "key =" with an empty value
        if (line.endsWith(' =')) sec[line.slice(0, -2)] = '';
        continue;
      }
      const key = line.slice(0, eq);
      const value = line.slice(eq + 3);
      if (value === '[') {
        const items: string[] = [];
        while (i < lines.length) {
          const item = (lines[i++] ?? '').trim();
          if (item === ']') break;
          items.push(item);
        }
        sec[key] = items;
      } else {
        sec[key] = value;
      }
    }
    return sec;
  }

  while (i < lines.length) {
    const line = (lines[i++] ?? '').trim();
    if (line.endsWith(' {')) messages.push({ name: line.slice(0, -2), body: parseSection() });
  }
  return messages;
}

export interface ChildSa {
  /** Child config name, e.g. 'net'. */
  name: string;
  uniqueid: number;
  reqid?: number;
  state: string;
  localTs: string[];
  remoteTs: string[];
  spiIn?: string;
  spiOut?: string;
  raw: ViciSection;
}

export interface IkeSa {
  /** Connection name, e.g. 'rw'. */
  name: string;
  uniqueid: number;
  state: string;
  localHost: string;
  remoteHost: string;
  localId: string;
  remoteId: string;
  /** True when this charon was the initiator of this IKE_SA. */
  initiator: boolean;
  initiatorSpi: string;
  responderSpi: string;
  /** Seconds since establishment, if established. */
  established?: number;
  reauthTime?: number;
  rekeyTime?: number;
  /** Active tasks, e.g. ['IKE_REAUTH'] while a reauth is in flight. */
  tasksActive: string[];
  children: ChildSa[];
  raw: ViciSection;
}

function str(v: ViciValue | undefined): string {
  return typeof v === 'string' ? v : '';
}
function num(v: ViciValue | undefined): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
function list(v: ViciValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
function section(v: ViciValue | undefined): ViciSection {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

/** Converts `swanctl --list-sas --pretty` output to IkeSa objects. */
export function parseListSas(text: string): IkeSa[] {
  const sas: IkeSa[] = [];
  for (const msg of parsePretty(text)) {
    if (msg.name !== 'list-sa event') continue;
    for (const [name, v] of Object.entries(msg.body)) {
      const s = section(v);
      const children: ChildSa[] = Object.values(section(s['child-sas'])).map((cv) => {
        const c = section(cv);
        return {
          name: str(c['name']),
          uniqueid: num(c['uniqueid']) ?? 0,
          reqid: num(c['reqid']),
          state: str(c['state']),
          localTs: list(c['local-ts']),
          remoteTs: list(c['remote-ts']),
          spiIn: str(c['spi-in']) || undefined,
          spiOut: str(c['spi-out']) || undefined,
          raw: c,
        };
      });
      sas.push({
        name,
        uniqueid: num(s['uniqueid']) ?? 0,
        state: str(s['state']),
        localHost: str(s['local-host']),
        remoteHost: str(s['remote-host']),
        localId: str(s['local-id']),
        remoteId: str(s['remote-id']),
        initiator: str(s['initiator']) === 'yes',
        initiatorSpi: str(s['initiator-spi']),
        responderSpi: str(s['responder-spi']),
        established: num(s['established']),
        reauthTime: num(s['reauth-time']),
        rekeyTime: num(s['rekey-time']),
        tasksActive: list(s['tasks-active']),
        children,
        raw: s,
      });
    }
  }
  return sas;
}
