// Finds the external commands that the project's scripts, tests, demo and benchmarks run,
// so that test/unit/commands.test.ts can hold them against scripts/commands.txt (the one
// list of external commands, each with its Debian package). docs/testing.md ("External
// commands") explains the rules; in short:
//
// - Shell (`*.sh`, extension-less files with a sh/bash shebang, the `scripts` of every
//   package.json): parsed with a real shell parser (mvdan-sh, the JavaScript build of
//   mvdan.cc/sh); the command word of every simple command, also inside `$(…)`, pipelines
//   and functions. Builtins, keywords and functions of the file (or of a file it sources)
//   are not external commands; a function that ends by running `"$@"` runs the arguments
//   its callers give it (after its `shift`s).
// - TypeScript/JavaScript (`*.ts`, `*.mjs`, `*.js`): parsed with the TypeScript compiler;
//   the command of every process call: `spawn`/`spawnSync`/`execFile`/`execFileSync`/
//   `execa` of node:child_process with a command and an argument array, `exec`/`execSync`
//   with a shell string, and calls of the project's own runner functions. A runner is
//   found from its body, never by its name: a function that passes its first parameter on
//   as the command (`sh('python3', …)` in a benchmark), or runs it as an argv, directly or
//   through a wrapper (the lab's `run(['ip', …])` and `gw.exec(['ip', …])`, which adds
//   `ip netns exec`). Runners of other files count through relative imports and
//   re-exports; methods through their name (`x.exec([…])` with an array). String
//   constants, local argv arrays (`const cmd = ['node', …]; spawn(cmd[0], cmd.slice(1))`)
//   and `opts.bin ?? 'ip'` (the default) resolve to their values.
// - Wrappers are looked through: `ip netns exec NS cmd`, `sh -c 'script'` / `bash -c`
//   (the script is parsed as shell, positional parameters filled in), `exec`, `env`,
//   `setsid`, `nohup`, `nice`, `stdbuf`, `timeout`, `unshare … --`, `xargs`, `command`.
// - A command word that is only known at run time (a variable, a path built from the
//   repository root) is not checked; a relative path is one of the project's own files;
//   `process.execPath` is `node`; `npx`/`npm run` targets and package.json scripts' tools
//   from node_modules/.bin are npm dependencies, not external commands.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import ts from 'typescript';
import mvdan, { type ShellNode } from 'mvdan-sh';

export interface Invocation {
  /** The command as the list names it: a bare name, or an absolute path outside the standard bin dirs. */
  command: string;
  /** Repository-relative file. */
  file: string;
  line: number;
}

export interface ScanResult {
  invocations: Invocation[];
  /** Calls whose command word is only known at run time (not checked). */
  dynamic: { file: string; line: number; text: string }[];
}

/** Shell builtins and keywords that mvdan-sh reports as simple commands. */
const SHELL_BUILTINS = new Set(
  (
    '. : [ alias bg break builtin caller cd command compgen complete continue declare dirs disown echo enable eval exec exit export ' +
    'false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return ' +
    'set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait'
  ).split(' '),
);

/** Directories whose commands the list names by bare name. */
const BIN_DIRS = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);

/** Node's child_process functions that take (command, args[, options]). */
const PROCESS_FNS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'execa', 'execaSync']);

/** Replaces `${…}` of a template literal: a shell parameter expansion, so only known at run time. */
const PLACEHOLDER = '${__runtime__}';

/** Stands for "the elements of the function's first parameter" while looking for runners. */
const SENTINEL = '\u0000param';

/** Shell function name → arguments consumed before it runs `"$@"`, or undefined when it does not. */
export type ShellFunctions = Map<string, number | undefined>;

/** A word: its literal value, or undefined when only known at run time. */
type Arg = string | undefined;

/**
 * Normalizes a literal command word: bare names stay; absolute paths in the standard bin
 * directories become their base name; other absolute paths stay whole; relative paths
 * (the project's own files) give undefined.
 */
export function normalizeCommand(word: string): string | undefined {
  if (!word.includes('/')) return word;
  if (!word.startsWith('/')) return undefined;
  return BIN_DIRS.has(dirname(word)) ? basename(word) : word;
}

interface Sink {
  add(command: string, line: number): void;
  dynamic(line: number, text: string): void;
  /**
   * Shell functions in this context: name → how many leading arguments it consumes before
   * running the rest as a command (`phase NAME cmd…` that ends in `"$@"`), or undefined.
   */
  functions: ShellFunctions;
  /** Called when SENTINEL ends up as a command (while looking for runner functions). */
  sentinel?: () => void;
}

// ---------------------------------------------------------------- wrappers (argv level)

/** Options of `unshare` that take a separate value. */
const UNSHARE_VALUE_OPTS = new Set(['--propagation', '--setgroups', '-S', '--setuid', '-G', '--setgid', '-R', '--root', '-w', '--wd']);

/**
 * Records argv[0] and whatever command a wrapper in argv runs; the script of `sh -c` is
 * scanned as shell, with the positional parameters that follow it.
 */
export function unwrapArgv(argv: readonly Arg[], line: number, sink: Sink, depth = 0): void {
  if (depth > 8 || argv.length === 0) return;
  const word = argv[0];
  if (word === SENTINEL) {
    sink.sentinel?.();
    return;
  }
  if (word === undefined || word.includes(PLACEHOLDER)) {
    sink.dynamic(line, '(argv[0] known only at run time)');
    return;
  }
  const cmd = normalizeCommand(word);
  if (cmd === undefined) return; // one of the project's own files
  if (sink.functions.has(cmd)) {
    // A function that runs its arguments (after `shift`s) as a command.
    const consumed = sink.functions.get(cmd);
    if (consumed !== undefined) unwrapArgv(argv.slice(1 + consumed), line, sink, depth + 1);
    return;
  }
  const rest = argv.slice(1);
  const inner = (from: number) => unwrapArgv(rest.slice(from), line, sink, depth + 1);
  const skipOptions = (from = 0, valueOpts: ReadonlySet<string> = new Set()) => {
    let i = from;
    while (i < rest.length) {
      const a = rest[i];
      if (a === '--') return i + 1;
      if (a === undefined || !a.startsWith('-')) return i;
      i += valueOpts.has(a) ? 2 : 1;
    }
    return i;
  };
  if (SHELL_BUILTINS.has(cmd)) {
    // `exec cmd` and `command cmd` run cmd; `command -v cmd` only looks it up.
    if (cmd === 'exec') inner(skipOptions());
    else if (cmd === 'command' && rest[0] !== '-v' && rest[0] !== '-V') inner(skipOptions());
    return;
  }
  sink.add(cmd, line);
  switch (cmd) {
    case 'ip': {
      // ip [options] netns exec NAME cmd…
      const i = rest.indexOf('netns');
      if (i >= 0 && rest[i + 1] === 'exec') inner(i + 3);
      return;
    }
    case 'sh':
    case 'bash':
    case 'dash': {
      const c = rest.indexOf('-c');
      if (c < 0) return; // a script file: scanned on its own
      const script = rest[c + 1];
      if (script === undefined) {
        sink.dynamic(line, `${cmd} -c (script known only at run time)`);
        return;
      }
      // $0 is the argument after the script, then $1, $2, …
      scanShellText(script, line, sink, rest.slice(c + 2));
      return;
    }
    case 'env': {
      let i = 0;
      while (i < rest.length && (rest[i]?.startsWith('-') || /^\w+=/.test(rest[i] ?? ''))) i++;
      inner(i);
      return;
    }
    case 'setsid':
    case 'nohup':
    case 'xargs':
    case 'stdbuf':
      inner(skipOptions());
      return;
    case 'nice':
      inner(skipOptions(0, new Set(['-n'])));
      return;
    case 'timeout': {
      const i = skipOptions(0, new Set(['-s', '--signal', '-k', '--kill-after']));
      inner(i + 1); // after the duration
      return;
    }
    case 'unshare':
      inner(skipOptions(0, UNSHARE_VALUE_OPTS));
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------- shell

type ShNode = ShellNode;
const { syntax } = mvdan;

/**
 * The literal value of a shell word, or undefined when it depends on the run time.
 * Handles plain words, single and double quotes without expansions, `${VAR:-literal}`
 * (the default counts) and `"$N"` with known positional parameters.
 */
export function shellWordValue(text: string, positional: readonly Arg[] = []): Arg {
  const plain = /^[A-Za-z0-9_@%+,./:=-]+$/;
  if (plain.test(text)) return text;
  let m = /^'([^']*)'$/.exec(text);
  if (m) return m[1];
  m = /^"([^"$`\\]*)"$/.exec(text);
  if (m) return m[1];
  m = /^\$\{\w+:?-([A-Za-z0-9_@%+,./:=-]+)\}$/.exec(text);
  if (m) return m[1];
  m = /^"?\$\{?(\d)\}?"?$/.exec(text);
  if (m) return positional[Number(m[1])];
  return undefined;
}

/**
 * The functions a shell text defines. A function whose body runs `"$@"` is a runner: the
 * value is the number of arguments its `shift`s consume first (`phase() { local n=$1; shift;
 * "$@"; }` → 1).
 */
export function shellFunctions(text: string, file = 'script.sh'): ShellFunctions {
  const out: ShellFunctions = new Map();
  const bytes = Buffer.from(text, 'utf8');
  const word = (w: ShNode) => bytes.subarray(w.Pos().Offset(), w.End().Offset()).toString('utf8');
  const f = syntax.NewParser().Parse(text, file);
  syntax.Walk(f, (n: ShNode | null) => {
    if (!n || syntax.NodeType(n) !== 'FuncDecl') return true;
    let shifts = 0;
    let runs = false;
    syntax.Walk(n['Body'] as ShNode, (c: ShNode | null) => {
      if (!c || syntax.NodeType(c) !== 'CallExpr' || runs) return true;
      const args = (c['Args'] as ShNode[]).map(word);
      if (args[0] === 'shift') shifts += args[1] && /^\d+$/.test(args[1]) ? Number(args[1]) : 1;
      else if (args[0] === '"$@"' || args[0] === '$@') runs = true;
      return true;
    });
    out.set((n['Name'] as { Value: string }).Value, runs ? shifts : undefined);
    return true;
  });
  return out;
}

/** Scans a shell text; `lineBase` is the line the text starts at (for `sh -c` strings in other files). */
export function scanShellText(text: string, lineBase: number, sink: Sink, positional: readonly Arg[] = []): void {
  let f: ShNode;
  try {
    f = syntax.NewParser().Parse(text, 'script.sh') as ShNode;
  } catch (err) {
    const msg = typeof (err as { Error?: () => string }).Error === 'function' ? (err as { Error: () => string }).Error() : String(err);
    throw new Error(`cannot parse shell text: ${msg}`);
  }
  const local: Sink = { ...sink, functions: new Map([...sink.functions, ...shellFunctions(text)]) };
  // The parser's offsets count bytes (UTF-8), not UTF-16 code units.
  const bytes = Buffer.from(text, 'utf8');
  syntax.Walk(f, (n: ShNode | null) => {
    if (!n || syntax.NodeType(n) !== 'CallExpr') return true;
    const args = n['Args'] as ShNode[];
    if (args.length === 0) return true; // assignments only
    const line = lineBase + n.Pos().Line() - 1;
    const words = args.map((w) => bytes.subarray(w.Pos().Offset(), w.End().Offset()).toString('utf8'));
    const argv = words.map((w) => shellWordValue(w, positional));
    if (words[0] === '[') return true; // test
    if (words[0] === '"$@"' || words[0] === '$@') return true; // a runner function's body: its callers are scanned
    if (argv[0] === undefined) local.dynamic(line, words.join(' ').slice(0, 80));
    else unwrapArgv(argv, line, local);
    return true;
  });
}

// ---------------------------------------------------------------- TypeScript / JavaScript

interface TsFile {
  file: string;
  sf: ts.SourceFile;
  /** Top-level `const NAME = 'literal'`. */
  consts: Map<string, string>;
  /** Names imported from node:child_process. */
  cpImports: Set<string>;
  /** Local name → [resolved repository-relative file, imported name] of relative imports. */
  imports: Map<string, [string, string]>;
  /** Names imported from other (workspace) packages. */
  packageImports: Set<string>;
}

/**
 * Functions that run a command for their caller, found from their bodies (never by name):
 * a `cmd` runner passes its first parameter on as the command (`sh('python3', args)`); an
 * `argv` runner runs its first parameter as an argv array (the lab's `run(['ip', …])` and
 * `gw.exec(['ip', …])`, which wraps it in `ip netns exec`).
 */
interface Runners {
  cmd: Map<string, Set<string>>;
  argv: Map<string, Set<string>>;
  /** Class and object methods that are argv runners (called as `x.name([...])`). */
  argvMethods: Set<string>;
  /** Re-exports per file (`export { run } from './exec.js'`, `export * from './lab.js'`). */
  reexports: Map<string, { named: Map<string, [string, string]>; star: string[] }>;
  /** Names of exported runner functions, for imports from workspace packages. */
  exportedArgv: Set<string>;
  exportedCmd: Set<string>;
}

function stringConsts(sf: ts.SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st) || !(st.declarationList.flags & ts.NodeFlags.Const)) continue;
    for (const d of st.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer && ts.isStringLiteralLike(d.initializer)) out.set(d.name.text, d.initializer.text);
    }
  }
  return out;
}

function loadTsFile(file: string, text: string): TsFile {
  const kind = file.endsWith('.ts') || file.endsWith('.mts') || file.endsWith('.cts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const cpImports = new Set<string>();
  const imports = new Map<string, [string, string]>();
  const packageImports = new Set<string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const spec = st.moduleSpecifier.text;
    const nb = st.importClause?.namedBindings;
    if (!nb || !ts.isNamedImports(nb)) continue;
    for (const el of nb.elements) {
      if (/^(node:)?child_process$/.test(spec)) cpImports.add(el.name.text);
      else if (spec.startsWith('.')) {
        const target = join(dirname(file), spec).replace(/\.js$/, '.ts');
        imports.set(el.name.text, [target, (el.propertyName ?? el.name).text]);
      } else packageImports.add(el.name.text);
    }
  }
  return { file, sf, consts: stringConsts(sf), cpImports, imports, packageImports };
}

/** Follows re-exports from (file, name) to the file that defines a runner of that name. */
function resolveReexport(file: string, name: string, runners: Runners, depth = 0): [string, string] {
  if (depth > 5 || runners.argv.get(file)?.has(name) || runners.cmd.get(file)?.has(name)) return [file, name];
  const re = runners.reexports.get(file);
  const named = re?.named.get(name);
  if (named) return resolveReexport(named[0], named[1], runners, depth + 1);
  for (const target of re?.star ?? []) {
    const r = resolveReexport(target, name, runners, depth + 1);
    if (runners.argv.get(r[0])?.has(r[1]) || runners.cmd.get(r[0])?.has(r[1])) return r;
  }
  return [file, name];
}

/** Re-exports of a TS/JS text, with targets resolved to repository-relative .ts files. */
function reexportsOf(file: string, text: string): { named: Map<string, [string, string]>; star: string[] } {
  const target = (spec: string) => join(dirname(file), spec).replace(/\.js$/, '.ts');
  const named = new Map<string, [string, string]>();
  const star: string[] = [];
  for (const m of text.matchAll(/^export\s*\{([^}]*)\}\s*from\s*['"](\.[^'"]+)['"]/gm)) {
    for (const part of m[1]!.split(',')) {
      const [orig, alias] = part.replace(/^\s*type\s+/, '').trim().split(/\s+as\s+/);
      if (orig) named.set(alias ?? orig, [target(m[2]!), orig]);
    }
  }
  for (const m of text.matchAll(/^export\s*\*\s*from\s*['"](\.[^'"]+)['"]/gm)) star.push(target(m[1]!));
  return { named, star };
}

function calleeName(e: ts.Expression): string | undefined {
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

type CallKind = 'cmd' | 'argv' | 'shell' | undefined;

function callKind(call: ts.CallExpression, tf: TsFile, runners: Runners): CallKind {
  const name = calleeName(call.expression);
  if (!name) return undefined;
  if (ts.isIdentifier(call.expression)) {
    if (PROCESS_FNS.has(name) && (tf.cpImports.has(name) || name.startsWith('execa'))) return 'cmd';
    if ((name === 'exec' || name === 'execSync') && tf.cpImports.has(name)) return 'shell';
    const imported = tf.imports.get(name);
    const [file, orig] = imported ? resolveReexport(imported[0], imported[1], runners) : [tf.file, name];
    if (runners.argv.get(file)?.has(orig)) return 'argv';
    if (runners.cmd.get(file)?.has(orig)) return 'cmd';
    // Imported from a workspace package (`@roamwatch/lab`): an exported runner of that name.
    if (tf.packageImports.has(name)) {
      if (runners.exportedArgv.has(name)) return 'argv';
      if (runners.exportedCmd.has(name)) return 'cmd';
    }
    return undefined;
  }
  const a0 = call.arguments[0];
  if (runners.argvMethods.has(name) && a0 && (ts.isArrayLiteralExpression(a0) || (ts.isIdentifier(a0) && localArray(a0)))) return 'argv';
  return undefined;
}

interface Ctx {
  tf: TsFile;
  globalConsts: Map<string, string>;
  /** The first parameter's name while looking for runners. */
  param?: string;
  /** Names bound to the parameter's first element (`const [file] = argv`). */
  heads?: Set<string>;
}

function tsValue(e: ts.Expression | undefined, ctx: Ctx): Arg {
  if (!e) return undefined;
  if (ts.isStringLiteralLike(e)) return e.text;
  if (ts.isTemplateExpression(e)) return e.head.text + e.templateSpans.map((sp) => PLACEHOLDER + sp.literal.text).join('');
  if (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) return tsValue(e.expression, ctx);
  if (ts.isIdentifier(e)) {
    if (ctx.heads?.has(e.text)) return SENTINEL;
    return ctx.tf.consts.get(e.text) ?? ctx.globalConsts.get(e.text);
  }
  if (ts.isElementAccessExpression(e) && ts.isIdentifier(e.expression) && e.argumentExpression.getText() === '0') {
    if (ctx.param && e.expression.text === ctx.param) return SENTINEL;
    // `cmd[0]` of a local `const cmd = ['node', …]`
    const arr = localArray(e.expression);
    if (arr && ts.isArrayLiteralExpression(arr)) return tsArgv(arr, ctx)[0];
  }
  if (ts.isPropertyAccessExpression(e) && e.getText() === 'process.execPath') return 'node';
  // `opts.bin ?? 'ip'`: the default is the command the project runs.
  if (ts.isBinaryExpression(e) && (e.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || e.operatorToken.kind === ts.SyntaxKind.BarBarToken)) {
    return tsValue(e.right, ctx);
  }
  return undefined;
}

function tsArgv(arr: ts.ArrayLiteralExpression, ctx: Ctx): Arg[] {
  const out: Arg[] = [];
  for (const el of arr.elements) {
    if (ts.isSpreadElement(el)) {
      const x = el.expression;
      if (ts.isArrayLiteralExpression(x)) out.push(...tsArgv(x, ctx));
      else if (ctx.param && ts.isIdentifier(x) && x.text === ctx.param) {
        out.push(SENTINEL);
        break;
      } else if (ts.isConditionalExpression(x)) out.push(undefined);
      else break; // the rest is only known at run time
    } else out.push(tsValue(el, ctx));
  }
  return out;
}

/** The argv a process or runner call runs, or undefined when its command is only known at run time. */
function callArgv(call: ts.CallExpression, kind: 'cmd' | 'argv', ctx: Ctx): Arg[] {
  const [a0, a1] = call.arguments;
  // `spawn(cmd[0], cmd.slice(1))` of a local `const cmd = [...]`: the whole array is the argv.
  if (kind === 'cmd' && a0 && a1 && ts.isCallExpression(a1) && ts.isPropertyAccessExpression(a1.expression) && a1.expression.name.text === 'slice') {
    const base = a1.expression.expression;
    const arr = ts.isIdentifier(base) ? localArray(base) : undefined;
    if (arr && ts.isArrayLiteralExpression(arr) && a1.arguments[0]?.getText() === '1') return tsArgv(arr, ctx);
  }
  if (kind === 'argv') {
    const arr = a0 && ts.isIdentifier(a0) ? localArray(a0) : a0;
    return arr && ts.isArrayLiteralExpression(arr) ? tsArgv(arr, ctx) : [tsValue(a0, ctx)];
  }
  const cmd = ctx.param && a0 && ts.isIdentifier(a0) && a0.text === ctx.param ? SENTINEL + 'cmd' : tsValue(a0, ctx);
  return [cmd, ...(a1 && ts.isArrayLiteralExpression(a1) ? tsArgv(a1, ctx) : [])];
}

/** The array literal a local `const NAME = [...]` of the enclosing function binds, if any. */
function localArray(id: ts.Identifier): ts.Expression | undefined {
  let fn: ts.Node | undefined = id.parent;
  while (fn && !ts.isFunctionLike(fn) && !ts.isSourceFile(fn)) fn = fn.parent;
  let found: ts.Expression | undefined;
  const find = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === id.text && n.initializer && ts.isArrayLiteralExpression(n.initializer)) {
      found = n.initializer;
    }
    if (!found) ts.forEachChild(n, find);
  };
  if (fn) find(fn);
  return found;
}

interface NamedFn {
  name: string;
  fn: ts.SignatureDeclaration & { body?: ts.Node | undefined };
  method: boolean;
  exported: boolean;
}

function namedFunctions(sf: ts.SourceFile): NamedFn[] {
  const out: NamedFn[] = [];
  const walk = (n: ts.Node): void => {
    const exported = (n: ts.Node) => ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (ts.isFunctionDeclaration(n) && n.name) out.push({ name: n.name.text, fn: n, method: false, exported: exported(n) });
    else if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))) {
      out.push({ name: n.name.text, fn: n.initializer, method: false, exported: exported(n.parent.parent) });
    } else if (ts.isMethodDeclaration(n) && ts.isIdentifier(n.name)) out.push({ name: n.name.text, fn: n, method: true, exported: false });
    ts.forEachChild(n, walk);
  };
  walk(sf);
  return out;
}

/** Whether fn runs its first parameter as a command ('cmd') or as an argv ('argv'). */
function runnerKind(f: NamedFn, tf: TsFile, runners: Runners, globalConsts: Map<string, string>): 'cmd' | 'argv' | undefined {
  const p = f.fn.parameters[0];
  if (!p || !ts.isIdentifier(p.name) || !f.fn.body) return undefined;
  const param = p.name.text;
  const heads = new Set<string>();
  const collectHeads = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isArrayBindingPattern(n.name) && n.initializer && ts.isIdentifier(n.initializer) && n.initializer.text === param) {
      const first = n.name.elements[0];
      if (first && ts.isBindingElement(first) && ts.isIdentifier(first.name) && !first.dotDotDotToken) heads.add(first.name.text);
    }
    ts.forEachChild(n, collectHeads);
  };
  collectHeads(f.fn.body);
  const ctx: Ctx = { tf, globalConsts, param, heads };
  let found: 'cmd' | 'argv' | undefined;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isCallExpression(n)) {
      const kind = callKind(n, tf, runners);
      if (kind === 'cmd' || kind === 'argv') {
        const argv = callArgv(n, kind, ctx);
        if (argv[0] === SENTINEL + 'cmd') found = 'cmd';
        else {
          const probe: Sink = { functions: new Map(), add: () => undefined, dynamic: () => undefined, sentinel: () => (found = 'argv') };
          unwrapArgv(argv, 0, probe);
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(f.fn.body);
  return found;
}

/** Finds the runner functions of every file (to a fixpoint: runners may call runners). */
function findRunners(files: TsFile[], globalConsts: Map<string, string>, reexports: Runners['reexports']): Runners {
  const runners: Runners = { cmd: new Map(), argv: new Map(), argvMethods: new Set(), reexports, exportedArgv: new Set(), exportedCmd: new Set() };
  const fns = files.map((tf) => [tf, namedFunctions(tf.sf)] as const);
  for (let changed = true, pass = 0; changed && pass < 10; pass++) {
    changed = false;
    for (const [tf, list] of fns) {
      for (const f of list) {
        const kind = runnerKind(f, tf, runners, globalConsts);
        if (!kind) continue;
        const map = kind === 'cmd' ? runners.cmd : runners.argv;
        const set = map.get(tf.file) ?? new Set<string>();
        map.set(tf.file, set);
        if (!set.has(f.name)) {
          set.add(f.name);
          changed = true;
        }
        if (kind === 'argv' && f.method && !runners.argvMethods.has(f.name)) {
          runners.argvMethods.add(f.name);
          changed = true;
        }
        const exported = f.exported ? (kind === 'argv' ? runners.exportedArgv : runners.exportedCmd) : undefined;
        if (exported && !exported.has(f.name)) {
          exported.add(f.name);
          changed = true;
        }
      }
    }
  }
  return runners;
}

function scanTsFile(tf: TsFile, runners: Runners, globalConsts: Map<string, string>, sink: Sink): void {
  const { sf } = tf;
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      const kind = callKind(n, tf, runners);
      if (kind) {
        const line = lineOf(n);
        const ctx: Ctx = { tf, globalConsts };
        if (kind === 'shell') {
          const script = tsValue(n.arguments[0], ctx);
          if (script === undefined) sink.dynamic(line, n.getText(sf).slice(0, 80));
          else scanShellText(script, line, sink);
        } else {
          const argv = callArgv(n, kind, ctx);
          const a0 = n.arguments[0];
          // Inside a runner the command is the runner's parameter: its callers are checked.
          if (argv[0] === undefined && a0 && forwardsParameter(a0)) return ts.forEachChild(n, visit);
          unwrapArgv(argv, line, { ...sink, dynamic: (l) => sink.dynamic(l, n.getText(sf).slice(0, 80)) });
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}

/** Whether e is (or is taken from) a parameter of a function around it. */
function forwardsParameter(e: ts.Expression): boolean {
  let x: ts.Expression = e;
  while (ts.isNonNullExpression(x) || ts.isElementAccessExpression(x) || ts.isPropertyAccessExpression(x) || ts.isParenthesizedExpression(x)) x = x.expression;
  if (!ts.isIdentifier(x)) return false;
  const name = x.text;
  for (let n: ts.Node | undefined = x.parent; n; n = n.parent) {
    if (!ts.isFunctionLike(n)) continue;
    const body = (n as { body?: ts.Node }).body;
    const p = n.parameters[0];
    if (!p || !ts.isIdentifier(p.name)) continue;
    if (p.name.text === name) return true;
    // `const [file, ...args] = argv`
    let bound = false;
    const find = (m: ts.Node): void => {
      if (ts.isVariableDeclaration(m) && ts.isArrayBindingPattern(m.name) && m.initializer?.getText() === (p.name as ts.Identifier).text) {
        for (const el of m.name.elements) if (ts.isBindingElement(el) && ts.isIdentifier(el.name) && el.name.text === name) bound = true;
      }
      ts.forEachChild(m, find);
    };
    if (body) find(body);
    if (bound) return true;
  }
  return false;
}

// ---------------------------------------------------------------- the repository

/** Directories never scanned: dependencies, build output, recorded data. */
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', 'results', 'fixtures', 'coverage', '.cache']);

export interface SourceFile {
  file: string;
  lang: 'shell' | 'ts' | 'package-json';
}

/** The files the scan covers, repository-relative and sorted. */
export function projectFiles(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(abs);
        continue;
      }
      if (!e.isFile()) continue;
      const rel = relative(root, abs);
      if (e.name === 'package.json') out.push({ file: rel, lang: 'package-json' });
      else if (e.name.endsWith('.sh')) out.push({ file: rel, lang: 'shell' });
      else if (/\.(m|c)?[jt]s$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push({ file: rel, lang: 'ts' });
      else if (!e.name.includes('.') && statSync(abs).size < 1 << 20 && /^#!.*\b(ba|da)?sh\b/.test(readFileSync(abs, 'utf8').split('\n', 1)[0] ?? '')) {
        out.push({ file: rel, lang: 'shell' });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

/** Scans in-memory files (repository-relative name → text); `npmBins` are the tools in node_modules/.bin. */
export function scanFiles(files: readonly SourceFile[], texts: ReadonlyMap<string, string>, npmBins: ReadonlySet<string> = new Set()): ScanResult {
  const shFunctions = new Map<string, ShellFunctions>();
  for (const f of files) if (f.lang === 'shell') shFunctions.set(f.file, shellFunctions(texts.get(f.file)!, f.file));
  // Parsing every TS/JS file is the slow part: parse those that can run something (they
  // use child_process or call something with an array literal), then those that call a
  // runner exported by one of them.
  const maybeRuns = (t: string) => t.includes('child_process') || /[\w$]\(\[/.test(t);
  const tsFiles = files.filter((f) => f.lang === 'ts' && maybeRuns(texts.get(f.file)!)).map((f) => loadTsFile(f.file, texts.get(f.file)!));
  // Exported string constants of every TS/JS file, for argv elements imported from elsewhere
  // (the lab's CHARON_BIN); a name exported with two values is left out.
  const globalConsts = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const f of files) {
    if (f.lang !== 'ts') continue;
    for (const m of texts.get(f.file)!.matchAll(/^export const (\w+)(?::\s*string)?\s*=\s*(['"])([^'"\\\n]*)\2;?$/gm)) {
      const [k, v] = [m[1]!, m[3]!];
      if (globalConsts.has(k) && globalConsts.get(k) !== v) ambiguous.add(k);
      globalConsts.set(k, v);
    }
  }
  for (const k of ambiguous) globalConsts.delete(k);
  const reexports: Runners['reexports'] = new Map(files.filter((f) => f.lang === 'ts').map((f) => [f.file, reexportsOf(f.file, texts.get(f.file)!)]));
  let runners = findRunners(tsFiles, globalConsts, reexports);
  const exportedNames = [...runners.exportedArgv, ...runners.exportedCmd];
  const more = files.filter((f) => f.lang === 'ts' && !maybeRuns(texts.get(f.file)!) && exportedNames.some((n) => texts.get(f.file)!.includes(`${n}(`)));
  if (more.length > 0) {
    tsFiles.push(...more.map((f) => loadTsFile(f.file, texts.get(f.file)!)));
    runners = findRunners(tsFiles, globalConsts, reexports);
  }

  const result: ScanResult = { invocations: [], dynamic: [] };
  const sinkFor = (f: SourceFile, functions: ShellFunctions): Sink => ({
    functions,
    add: (command, line) => {
      if (f.lang === 'package-json' && npmBins.has(command)) return; // an npm dependency's tool
      result.invocations.push({ command, file: f.file, line });
    },
    dynamic: (line, t) => result.dynamic.push({ file: f.file, line, text: t }),
  });
  for (const f of files) {
    const text = texts.get(f.file)!;
    if (f.lang === 'shell') {
      const functions: ShellFunctions = new Map(shFunctions.get(f.file));
      // Functions of the files it sources (matched by base name).
      for (const m of text.matchAll(/^\s*(?:source|\.)\s+.*?([\w.-]+\.sh)["']?\s*$/gm)) {
        for (const [other, fns] of shFunctions) if (basename(other) === m[1]) for (const [fn, consumed] of fns) functions.set(fn, consumed);
      }
      scanShellText(text, 1, sinkFor(f, functions));
    } else if (f.lang === 'ts') {
      const tf = tsFiles.find((t) => t.file === f.file);
      if (tf) scanTsFile(tf, runners, globalConsts, sinkFor(f, new Map()));
    } else {
      const pkg = JSON.parse(text) as { scripts?: Record<string, string> };
      for (const script of Object.values(pkg.scripts ?? {})) {
        const at = text.indexOf(JSON.stringify(script));
        scanShellText(script, at < 0 ? 1 : text.slice(0, at).split('\n').length, sinkFor(f, new Map()));
      }
    }
  }
  return result;
}

/** Scans every project file under root. */
export function scanProject(root: string): ScanResult {
  const files = projectFiles(root);
  const texts = new Map(files.map((f) => [f.file, readFileSync(join(root, f.file), 'utf8')]));
  const binDir = join(root, 'node_modules/.bin');
  return scanFiles(files, texts, existsSync(binDir) ? new Set(readdirSync(binDir)) : new Set());
}
