/**
 * Compiled validation: a checker generated once, at start-up, from the zod schemas of the
 * contract (payloads.ts, envelope.ts), so that the zod declaration stays the one definition.
 *
 * Why not zod alone: zod builds a new output value for every input (it strips unknown keys)
 * and collects issues as it goes; on the processor's hot path that cost 4.6× the correlation
 * itself (issue #16). zod 4's own `compile()` still builds the output and gained only ≈1.3× here.
 * The checker generated below only answers yes or no, and it answers yes only when zod would
 * accept the value *and* give back an equal value (no unknown key to strip, no undefined-valued
 * optional key, only plain objects and arrays): then the parsed JSON value itself is the event.
 * Every other value, including every invalid one, takes zod's path, which gives the precise
 * message naming the bad field (validate.ts). So the two paths accept exactly the same values;
 * core/src/events/fast-check.test.ts checks that over the examples and fuzzed mutations of them.
 *
 * What is compiled (zod 4 schema definitions, `schema._zod.def`): object, string (min/max/exact
 * length, regex), number (safe integer, bounds), boolean, literal, enum, union (and the
 * discriminated union of the envelope, dispatched on its key), array (length bounds),
 * optional, record of string keys to unknown. A check the generator does not know (the
 * `refine` of agent.gap) is run by zod on that node alone, after the compiled part passed. A
 * node type it does not know makes the checker answer no (the slow path), never a wrong yes.
 */
import type { z } from 'zod';

/** The fast check: true only when zod accepts `value` and returns it unchanged. */
export type FastCheck = (value: unknown) => boolean;

interface Def {
  type: string;
  [k: string]: unknown;
}

interface CheckDef {
  check: string;
  [k: string]: unknown;
}

type AnySchema = z.ZodType;

function defOf(s: AnySchema): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

function checksOf(s: AnySchema): CheckDef[] {
  const checks = (defOf(s).checks as Array<{ _zod: { def: CheckDef } }> | undefined) ?? [];
  return checks.map((c) => c._zod.def);
}

/** Nodes the generator could not compile, for the test that keeps the contract fully compiled. */
export interface CompileReport {
  /** Schema node types answered by the slow path. */
  unsupported: string[];
  /** Checks delegated to zod on their node (refinements). */
  delegated: string[];
}

class Generator {
  private readonly fns: string[] = [];
  private readonly ids = new Map<AnySchema, string>();
  /** Constants referenced by the generated code: regexes, value sets, zod schemas for delegated checks. */
  readonly consts: unknown[] = [];
  readonly report: CompileReport = { unsupported: [], delegated: [] };

  constructor(private readonly path: string[] = []) {}

  private constant(x: unknown): string {
    this.consts.push(x);
    return `k[${this.consts.length - 1}]`;
  }

  /** The name of the function that checks schema `s` (generated once per schema instance). */
  fn(s: AnySchema): string {
    const known = this.ids.get(s);
    if (known) return known;
    const name = `f${this.ids.size}`;
    this.ids.set(s, name);
    const body = this.body(s);
    this.fns.push(`function ${name}(v){${body}}`);
    return name;
  }

  source(root: string): string {
    return `${this.fns.join('\n')}\nreturn ${root};`;
  }

  private body(s: AnySchema): string {
    const def = defOf(s);
    const checks = checksOf(s);
    // Statements after the type test; each returns false when its condition fails.
    const extra: string[] = [];
    const need = (cond: string) => extra.push(`if(!(${cond}))return false;`);
    const delegated: string[] = [];
    const delegate = (what: string) => {
      this.report.delegated.push(what);
      delegated.push(`if(!${this.constant(s)}.safeParse(v).success)return false;`);
    };
    let tail = 'return true;';
    let base: string;
    switch (def.type) {
      case 'string': {
        base = `typeof v==='string'`;
        for (const c of checks) {
          if (c.check === 'min_length') need(`v.length>=${Number(c.minimum)}`);
          else if (c.check === 'max_length') need(`v.length<=${Number(c.maximum)}`);
          else if (c.check === 'length_equals') need(`v.length===${Number(c.length)}`);
          else if (c.check === 'string_format' && c.format === 'regex' && c.pattern instanceof RegExp && !c.pattern.global && !c.pattern.sticky) need(`${this.constant(c.pattern)}.test(v)`);
          else delegate(`string ${c.check}${c.format ? ` ${String(c.format)}` : ''}`);
        }
        break;
      }
      case 'number': {
        // z.number() refuses NaN and ±Infinity.
        base = `typeof v==='number'&&Number.isFinite(v)`;
        for (const c of checks) {
          if (c.check === 'number_format' && c.format === 'safeint') need('Number.isSafeInteger(v)');
          else if (c.check === 'greater_than') need(`v${c.inclusive ? '>=' : '>'}${Number(c.value)}`);
          else if (c.check === 'less_than') need(`v${c.inclusive ? '<=' : '<'}${Number(c.value)}`);
          else delegate(`number ${c.check}${c.format ? ` ${String(c.format)}` : ''}`);
        }
        break;
      }
      case 'boolean':
        base = `typeof v==='boolean'`;
        for (const c of checks) delegate(`boolean ${c.check}`);
        break;
      case 'literal': {
        const values = def.values as unknown[];
        base = values.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
          ? `(${values.map((x) => `v===${JSON.stringify(x)}`).join('||')})`
          : this.unsupported('literal of a non-primitive value');
        break;
      }
      case 'enum': {
        const values = Object.values(def.entries as Record<string, unknown>);
        base = values.every((x) => typeof x === 'string') ? `${this.constant(new Set(values))}.has(v)` : this.unsupported('enum of non-strings');
        break;
      }
      case 'optional':
        base = `(v===undefined||${this.fn(def.innerType as AnySchema)}(v))`;
        break;
      case 'array': {
        base = `Array.isArray(v)`;
        for (const c of checks) {
          if (c.check === 'min_length') need(`v.length>=${Number(c.minimum)}`);
          else if (c.check === 'max_length') need(`v.length<=${Number(c.maximum)}`);
          else delegate(`array ${c.check}`);
        }
        const el = this.fn(def.element as AnySchema);
        // An array element may not be undefined: zod would keep a hole as undefined, JSON has none.
        extra.push(`for(let i=0;i<v.length;i++){const x=v[i];if(x===undefined||!${el}(x))return false}`);
        break;
      }
      case 'object': {
        if (def.catchall !== undefined) {
          base = this.unsupported('object with a catchall');
          break;
        }
        // Plain objects only (what JSON.parse and object literals make): anything else takes zod's path.
        base = `v!==null&&typeof v==='object'&&Object.getPrototypeOf(v)===P`;
        const shape = def.shape as Record<string, AnySchema>;
        const counted: string[] = [];
        let required = 0;
        for (const [key, field] of Object.entries(shape)) {
          const fd = defOf(field);
          const acc = `v[${JSON.stringify(key)}]`;
          if (fd.type === 'optional') {
            need(`${this.fn(field)}(${acc})`);
            counted.push(`(${acc}!==undefined?1:0)`);
          } else if (fd.type === 'unknown' || fd.type === 'any') {
            need(this.unsupported('required unknown field'));
          } else {
            need(`${this.fn(field)}(${acc})`);
            required += 1;
          }
        }
        // No key beyond the shape (zod would strip it) and no optional key holding undefined.
        extra.push(`{let n=0;for(const _ in v)n++;if(n!==${[String(required), ...counted].join('+')})return false}`);
        for (const c of checks) delegate(`object ${c.check}`);
        break;
      }
      case 'record': {
        const kd = defOf(def.keyType as AnySchema);
        const vd = defOf(def.valueType as AnySchema);
        if (kd.type !== 'string' || checksOf(def.keyType as AnySchema).length > 0) {
          base = this.unsupported('record with checked keys');
          break;
        }
        base = `v!==null&&typeof v==='object'&&Object.getPrototypeOf(v)===P`;
        if (vd.type !== 'unknown' && vd.type !== 'any') {
          const f = this.fn(def.valueType as AnySchema);
          extra.push(`for(const x of Object.keys(v)){if(v[x]===undefined||!${f}(v[x]))return false}`);
        } else {
          // z.unknown() gives back each value as it is; an inherited enumerable key would differ.
          extra.push(`for(const x in v){if(!Object.prototype.hasOwnProperty.call(v,x))return false}`);
        }
        for (const c of checks) delegate(`record ${c.check}`);
        break;
      }
      case 'union': {
        const options = def.options as AnySchema[];
        const disc = def.discriminator as string | undefined;
        if (disc !== undefined) {
          // Discriminated: zod picks the option by the key's literal value.
          const table = new Map<unknown, string>();
          let ok = true;
          for (const o of options) {
            const od = defOf(o);
            const keyDef = od.type === 'object' ? defOf((od.shape as Record<string, AnySchema>)[disc]!) : undefined;
            if (!keyDef || keyDef.type !== 'literal' || (keyDef.values as unknown[]).length !== 1) {
              ok = false;
              break;
            }
            table.set((keyDef.values as unknown[])[0], this.fn(o));
          }
          if (!ok) {
            base = this.unsupported('discriminated union without literal keys');
            break;
          }
          const names = [...table.values()];
          const index = this.constant(new Map([...table.keys()].map((k, i) => [k, i])));
          base = `v!==null&&typeof v==='object'`;
          tail = `switch(${index}.get(v[${JSON.stringify(disc)}])){${names.map((n, i) => `case ${i}:return ${n}(v);`).join('')}default:return false}`;
        } else {
          base = `(${options.map((o) => `${this.fn(o)}(v)`).join('||')})`;
        }
        for (const c of checks) delegate(`union ${c.check}`);
        break;
      }
      case 'unknown':
      case 'any':
        base = 'true';
        break;
      default:
        base = this.unsupported(def.type);
    }
    return `if(!(${base}))return false;${extra.join('')}${delegated.join('')}${tail}`;
  }

  private unsupported(what: string): string {
    this.report.unsupported.push(what);
    return 'false';
  }
}

/**
 * Compiles `schema` into a FastCheck. Call once (start-up): it generates and compiles code.
 * `report` lists what the checker leaves to zod.
 */
export function compileFastCheck(schema: AnySchema): FastCheck & { report: CompileReport; source: string } {
  const g = new Generator();
  const root = g.fn(schema);
  const source = g.source(root);
  const make = new Function('k', 'P', source) as (k: unknown[], P: object) => FastCheck;
  const check = make(g.consts, Object.prototype) as FastCheck & { report: CompileReport; source: string };
  check.report = g.report;
  check.source = source;
  return check;
}
