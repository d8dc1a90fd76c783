/**
 * A reader for strongswan.conf (and swanctl.conf, same syntax), following libstrongswan's
 * settings lexer/parser (src/libstrongswan/settings/settings_lexer.l, settings_parser.y):
 *
 *   statements := (section | setting | include | NEWLINE)*
 *   section    := NAME [':' ref (',' ref)*] [NEWLINE] '{' statements '}'
 *   setting    := NAME '=' value?            value ends at a newline, '#' or '}'
 *   include    := 'include' pattern           glob, relative to the including file's dir
 *
 * - `#` starts a comment (also at the end of a line); names may hold any printable
 *   character except `# { } = " :` `,` and white space;
 * - a value is the words after `=` joined by one space; `"..."` strings keep white space
 *   and understand `\n \r \t \<any>` escapes and `\`-newline continuation;
 * - a later setting overrides an earlier one; a section given twice is merged;
 * - `include` works anywhere (also inside a section, whose settings the included files
 *   then extend); patterns are globbed and the matches read in sorted order; a pattern
 *   that matches nothing is not an error (charon only logs it).
 *
 * Section references (`name : other.section`) make lookups fall back to the referenced
 * sections, as charon 5.7+ does.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { RoamwatchError } from '@roamwatch/core/errors';

export interface ConfValue {
  value: string;
  file: string;
  line: number;
}

export interface ConfSection {
  kv: Map<string, ConfValue>;
  sections: Map<string, ConfSection>;
  /** Absolute (dotted) paths of referenced sections, in order. */
  refs: string[];
}

export interface ConfFs {
  readFile(path: string): string;
  /** Entries of a directory (names only); throws when it is not a directory. */
  readdir(path: string): string[];
  isFile(path: string): boolean;
}

export const nodeFs: ConfFs = {
  readFile: (p) => readFileSync(p, 'utf8'),
  readdir: (p) => readdirSync(p),
  isFile: (p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  },
};

/** strongswan.conf does not parse: names the file and line (not retriable: the file must be fixed). */
export class StrongswanConfError extends RoamwatchError {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`, { code: 'STRONGSWAN_CONF_INVALID', retriable: false, context: { file, line } });
    this.name = 'StrongswanConfError';
  }
}

export interface ParsedConf {
  root: ConfSection;
  /** Every file read, in order. */
  files: string[];
  /** Non-fatal problems (include patterns without matches, unreadable included files). */
  warnings: string[];
}

export function emptySection(): ConfSection {
  return { kv: new Map(), sections: new Map(), refs: [] };
}

type Tok =
  | { t: 'name'; s: string; line: number }
  | { t: 'string'; s: string; line: number }
  | { t: 'nl'; line: number }
  | { t: '{' | '}' | '=' | ':' | ','; line: number }
  | { t: 'include'; pattern: string; line: number };

const NAME_CHAR = /[^#{}:,="\r\n\t ]/;
const VALUE_CHAR = /[^#}"\r\n\t ]/;
const INCLUDE_CHAR = /[^"\\#}\r\n\t ]/;

/** Tokenizes one file (the lexer's INITIAL, val, inc and str states). */
function tokenize(text: string, file: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const err = (m: string): never => {
    throw new StrongswanConfError(file, line, m);
  };

  const readString = (): string => {
    // after the opening quote
    let s = '';
    for (;;) {
      if (i >= n) err('unterminated string');
      const c = text[i] ?? '';
      if (c === '"') {
        i++;
        return s;
      }
      if (c === '\r') {
        i++;
        continue;
      }
      if (c === '\\') {
        const d = text[i + 1];
        if (d === undefined) err('unterminated string');
        if (d === 'n') s += '\n';
        else if (d === 'r') s += '\r';
        else if (d === 't') s += '\t';
        else if (d === '\n') line++;
        else if (d === '\r' && text[i + 2] === '\n') {
          line++;
          i++;
        } else s += d;
        i += 2;
        continue;
      }
      if (c === '\n') line++;
      s += c;
      i++;
    }
  };

  while (i < n) {
    const c = text[i] ?? '';
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\n') {
      toks.push({ t: 'nl', line });
      line++;
      i++;
      continue;
    }
    if (c === '{' || c === '}' || c === ':' || c === ',') {
      toks.push({ t: c, line });
      i++;
      continue;
    }
    if (c === '"') err('unexpected string');
    if (c === '=') {
      toks.push({ t: '=', line });
      i++;
      // value state
      for (;;) {
        const v = text[i];
        if (v === undefined || v === '\n' || v === '#' || v === '}') break;
        if (v === ' ' || v === '\t' || v === '\r') {
          i++;
          continue;
        }
        if (v === '"') {
          i++;
          const l = line;
          toks.push({ t: 'string', s: readString(), line: l });
          continue;
        }
        let s = '';
        while (i < n && VALUE_CHAR.test(text[i] ?? '')) s += text[i++];
        toks.push({ t: 'name', s, line });
      }
      continue;
    }
    // include <pattern>: "include" followed by blanks and then not '='
    const m = /^include[\t ]+/.exec(text.slice(i, i + 64));
    if (m && text[i + m[0].length] !== '=' && text[i + m[0].length] !== '\n') {
      const l = line;
      i += m[0].length;
      let pattern = '';
      for (;;) {
        const v = text[i];
        if (v === undefined || v === '\n' || v === '#' || v === '}' || v === ' ' || v === '\t') break;
        if (v === '\r') {
          i++;
          continue;
        }
        if (v === '"') {
          i++;
          pattern += readString();
          break;
        }
        if (v === '\\') {
          const d = text[i + 1];
          if (d === '"' || d === '#' || d === '}' || d === ' ') {
            pattern += d;
            i += 2;
          } else {
            pattern += '\\';
            i++;
          }
          continue;
        }
        while (i < n && INCLUDE_CHAR.test(text[i] ?? '')) pattern += text[i++];
      }
      toks.push({ t: 'include', pattern, line: l });
      continue;
    }
    let s = '';
    while (i < n && NAME_CHAR.test(text[i] ?? '')) s += text[i++];
    if (s === '') err(`unexpected character ${JSON.stringify(c)}`);
    toks.push({ t: 'name', s, line });
  }
  return toks;
}

function globToRegExp(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i] ?? '';
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let body = seg.slice(i + 1, end);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** glob(3) over `fs`: matches sorted, hidden files only with an explicit leading dot. */
export function expandGlob(pattern: string, fs: ConfFs): string[] {
  if (!/[*?[]/.test(pattern)) return fs.isFile(pattern) ? [pattern] : [];
  const abs = isAbsolute(pattern);
  const segs = pattern.split('/').filter((s, idx) => s !== '' || idx === 0);
  let bases = [abs ? '/' : '.'];
  for (const seg of segs) {
    if (seg === '') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!/[*?[]/.test(seg)) {
        next.push(join(base, seg));
        continue;
      }
      let entries: string[];
      try {
        entries = fs.readdir(base);
      } catch {
        continue;
      }
      const re = globToRegExp(seg);
      for (const e of entries.sort()) {
        if (e.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(e)) next.push(join(base, e));
      }
    }
    bases = next;
  }
  return bases.filter((p) => fs.isFile(p)).sort();
}

function mergeSection(into: ConfSection, from: ConfSection): void {
  for (const [k, v] of from.kv) into.kv.set(k, v);
  for (const [k, s] of from.sections) {
    const existing = into.sections.get(k);
    if (existing) mergeSection(existing, s);
    else into.sections.set(k, s);
  }
  for (const r of from.refs) if (!into.refs.includes(r)) into.refs.push(r);
}

/**
 * Parses strongswan.conf text. `file` names it in errors and is the base directory of
 * relative includes; includes are read through `fs` (the real file system by default).
 */
export function parseStrongswanConf(text: string, opts: { file?: string; fs?: ConfFs; maxDepth?: number } = {}): ParsedConf {
  const fs = opts.fs ?? nodeFs;
  const file = opts.file ?? '<string>';
  const result: ParsedConf = { root: emptySection(), files: [file], warnings: [] };
  parseInto(result.root, text, file, fs, result, 0, opts.maxDepth ?? 10);
  return result;
}

/** Reads and parses a strongswan.conf file and everything it includes. */
export function loadStrongswanConf(path: string, opts: { fs?: ConfFs } = {}): ParsedConf {
  const fs = opts.fs ?? nodeFs;
  const abs = resolve(path);
  const text = fs.readFile(abs);
  return parseStrongswanConf(text, { file: abs, fs });
}

function parseInto(
  target: ConfSection,
  text: string,
  file: string,
  fs: ConfFs,
  result: ParsedConf,
  depth: number,
  maxDepth: number,
): void {
  const toks = tokenize(text, file);
  let p = 0;
  const stack: ConfSection[] = [target];
  const peek = (o = 0): Tok | undefined => toks[p + o];
  const err = (tok: Tok | undefined, m: string): never => {
    throw new StrongswanConfError(file, tok?.line ?? 0, m);
  };
  while (p < toks.length) {
    const tok = toks[p] as Tok;
    const cur = stack[stack.length - 1] as ConfSection;
    if (tok.t === 'nl') {
      p++;
      continue;
    }
    if (tok.t === '}') {
      if (stack.length === 1) err(tok, "unexpected '}'");
      stack.pop();
      p++;
      continue;
    }
    if (tok.t === 'include') {
      p++;
      if (depth >= maxDepth) {
        result.warnings.push(`${file}:${tok.line}: include nesting too deep, '${tok.pattern}' skipped`);
        continue;
      }
      const pattern = isAbsolute(tok.pattern) ? tok.pattern : join(dirname(file), tok.pattern);
      const files = expandGlob(pattern, fs);
      if (files.length === 0) result.warnings.push(`${file}:${tok.line}: no files found matching '${pattern}'`);
      for (const f of files) {
        let inc: string;
        try {
          inc = fs.readFile(f);
        } catch (e) {
          result.warnings.push(`${file}:${tok.line}: failed to open '${f}': ${(e as Error).message}`);
          continue;
        }
        result.files.push(f);
        parseInto(cur, inc, f, fs, result, depth + 1, maxDepth);
      }
      continue;
    }
    if (tok.t !== 'name') err(tok, `unexpected '${tok.t === 'string' ? tok.s : tok.t}'`);
    const name = (tok as { s: string }).s;
    const next = peek(1);
    if (next?.t === '=') {
      p += 2;
      const parts: string[] = [];
      while (p < toks.length) {
        const v = toks[p] as Tok;
        if (v.t === 'name' || v.t === 'string') {
          parts.push(v.s);
          p++;
        } else break;
      }
      cur.kv.set(name, { value: parts.join(' '), file, line: tok.line });
      continue;
    }
    // section start: NAME [':' refs] [NEWLINE] '{'
    p++;
    const refs: string[] = [];
    if (peek()?.t === ':') {
      p++;
      for (;;) {
        const r = peek();
        if (r?.t !== 'name') err(r, 'expected a section reference');
        refs.push((r as { s: string }).s);
        p++;
        if (peek()?.t === ',') {
          p++;
          continue;
        }
        break;
      }
    }
    while (peek()?.t === 'nl') p++;
    if (peek()?.t !== '{') err(peek() ?? tok, `expected '{' or '=' after '${name}'`);
    p++;
    let sec = cur.sections.get(name);
    if (!sec) {
      sec = emptySection();
      cur.sections.set(name, sec);
    }
    for (const r of refs) if (!sec.refs.includes(r)) sec.refs.push(r);
    stack.push(sec);
  }
  if (stack.length > 1) throw new StrongswanConfError(file, toks[toks.length - 1]?.line ?? 0, "missing '}'");
}

/** Merges several parsed files (later ones win), e.g. strongswan.conf and a test override. */
export function mergeConfs(...confs: ParsedConf[]): ParsedConf {
  const out: ParsedConf = { root: emptySection(), files: [], warnings: [] };
  for (const c of confs) {
    mergeSection(out.root, c.root);
    out.files.push(...c.files);
    out.warnings.push(...c.warnings);
  }
  return out;
}

function findSection(root: ConfSection, path: string[], seen: Set<string> = new Set()): ConfSection | undefined {
  let sec: ConfSection | undefined = root;
  for (let i = 0; i < path.length && sec; i++) {
    const seg = path[i] as string;
    const direct: ConfSection | undefined = sec.sections.get(seg);
    if (direct) {
      sec = direct;
      continue;
    }
    // fall back to referenced sections
    let viaRef: ConfSection | undefined;
    for (const r of sec.refs) {
      if (seen.has(r)) continue;
      seen.add(r);
      const target = findSection(root, [...r.split('.'), seg], seen);
      if (target) {
        viaRef = target;
        break;
      }
    }
    sec = viaRef;
  }
  return sec;
}

/** The raw value at a dotted key (`charon.plugins.kernel-netlink.roam_events`), with its origin. */
export function lookupValue(root: ConfSection, key: string): ConfValue | undefined {
  const parts = key.split('.');
  const leaf = parts.pop();
  if (leaf === undefined) return undefined;
  const sec = findSection(root, parts);
  if (!sec) return undefined;
  const v = sec.kv.get(leaf);
  if (v) return v;
  const seen = new Set<string>();
  for (const r of sec.refs) {
    if (seen.has(r)) continue;
    seen.add(r);
    const rv = lookupValue(root, `${r}.${leaf}`);
    if (rv) return rv;
  }
  return undefined;
}

/** libstrongswan's settings_value_as_bool(): yes/true/enabled/1 and no/false/disabled/0. */
export function asBool(v: string | undefined, def: boolean): boolean {
  if (v === undefined) return def;
  const s = v.toLowerCase();
  if (s === '1' || s === 'yes' || s === 'true' || s === 'enabled') return true;
  if (s === '0' || s === 'no' || s === 'false' || s === 'disabled') return false;
  return def;
}

/** settings_value_as_int(): a whole decimal number, else the default. */
export function asInt(v: string | undefined, def: number): number {
  if (v === undefined || !/^[+-]?\d+$/.test(v.trim())) return def;
  return Number(v.trim());
}
