/**
 * Skim and slim of a task, compiled once against its dataset's record schema: the predicate (CEL,
 * through @marcbachmann/cel-js: parsed, type-checked, never `eval`) and the fields to deliver.
 */
import { Environment } from '@marcbachmann/cel-js';
import { celTypeName, type CelType, type FieldInfo, type RecordSchema } from './RecordSchema.js';

export interface SelectionSpec {
  /** A CEL predicate over the record's fields; events for which it is false are not sent. */
  readonly skim?: string | null | undefined;
  /** Names of the fields to deliver, `*` matching any run of characters and `?` any one. */
  readonly slim?: readonly string[] | null | undefined;
}

/** Where in a predicate an error is: 0-based offset, 1-based line and column. */
export interface SourcePosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** A skim or slim that cannot be applied: a syntax error, an unknown field, a wrong type. */
export class SelectionError extends Error {
  override readonly name = 'SelectionError';
  constructor(
    message: string,
    /** Which part of the task is wrong. */
    readonly field: 'skim' | 'slim',
    readonly position: SourcePosition | null = null,
  ) {
    super(message);
  }
}

export interface Selection {
  readonly skim: string | null;
  readonly slim: readonly string[] | null;
  readonly records: RecordSchema['records'];
  readonly tree: string | null;
  /** The fields each delivered record holds, in schema order. */
  readonly columns: readonly FieldInfo[];
  /** True when every field is delivered (no slim, or a slim matching every field). */
  readonly allColumns: boolean;
  /** The fields the predicate reads. */
  readonly predicateFields: readonly FieldInfo[];
  /** Fields read from the source: the delivered ones and those the predicate reads, in schema order. */
  readonly reads: readonly FieldInfo[];
  /** The predicate on one record (`get` returns a field's value as read); true when there is no skim. */
  test(get: (field: string) => unknown): boolean;
}

export const MAX_SKIM_LENGTH = 4096;
export const MAX_SLIM_PATTERNS = 4096;

function positionAt(text: string, offset: number): SourcePosition {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { offset, line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

function where(p: SourcePosition): string {
  return `at line ${p.line}, column ${p.column}`;
}

/** A `*`/`?` glob as an anchored regular expression. */
export function globPattern(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The fields a slim names, in schema order; refuses patterns that match nothing and named fields that cannot be read. */
function slimFields(schema: RecordSchema, slim: readonly string[] | null): FieldInfo[] {
  const what = schema.records === 'root' ? `branch of TTree ${schema.tree}` : 'field of the ESS event record';
  const readable = schema.fields.filter((f) => !f.refused);
  if (slim === null) {
    const refused = schema.fields.filter((f) => f.refused);
    if (refused.length > 0) {
      const list = refused.slice(0, 5).map((f) => `"${f.name}" (${f.refused})`).join('; ');
      throw new SelectionError(
        `${refused.length} ${what.replace('branch', 'branches')} cannot be read correctly: ${list}${refused.length > 5 ? '; ...' : ''}. ` +
          'Name the branches to deliver with slim (["*"] delivers every readable branch)',
        'slim',
      );
    }
    return readable;
  }
  if (slim.length === 0) throw new SelectionError('slim names no field', 'slim');
  if (slim.length > MAX_SLIM_PATTERNS) throw new SelectionError(`slim has more than ${MAX_SLIM_PATTERNS} patterns`, 'slim');
  const chosen = new Set<string>();
  for (const pattern of slim) {
    if (pattern.length === 0 || pattern.length > 1024) throw new SelectionError(`slim pattern "${pattern.slice(0, 40)}" must have 1 to 1024 characters`, 'slim');
    const wild = /[*?]/.test(pattern);
    if (!wild) {
      const f = schema.fields.find((x) => x.name === pattern);
      if (!f) throw new SelectionError(`slim names "${pattern}", which is no ${what}${hint(schema, pattern)}`, 'slim');
      if (f.refused) throw new SelectionError(`slim names "${pattern}", which cannot be read correctly: ${f.refused}`, 'slim');
      chosen.add(f.name);
      continue;
    }
    const re = globPattern(pattern);
    const matched = schema.fields.filter((f) => re.test(f.name));
    if (matched.length === 0) throw new SelectionError(`slim pattern "${pattern}" matches no ${what}`, 'slim');
    const ok = matched.filter((f) => !f.refused);
    if (ok.length === 0) throw new SelectionError(`slim pattern "${pattern}" matches only fields that cannot be read correctly (${matched[0]!.name}: ${matched[0]!.refused})`, 'slim');
    for (const f of ok) chosen.add(f.name);
  }
  return schema.fields.filter((f) => chosen.has(f.name));
}

function hint(schema: RecordSchema, name: string): string {
  const lower = name.toLowerCase();
  const near = schema.fields.filter((f) => f.name.toLowerCase() === lower || f.name.toLowerCase().includes(lower)).slice(0, 3);
  return near.length > 0 ? ` (did you mean ${near.map((f) => `"${f.name}"`).join(', ')}?)` : '';
}

// ---- the predicate --------------------------------------------------------------------------------

interface CelErrorLike {
  readonly summary?: string;
  readonly message: string;
  readonly range?: { readonly start: number; readonly end: number } | null;
}

interface AstNode {
  readonly op: string;
  readonly args: unknown;
  readonly start?: number;
}

/** Identifiers used in an expression (variables, and also macro-bound names), with their first offset. */
function identifiers(ast: unknown, out = new Map<string, number>()): Map<string, number> {
  if (Array.isArray(ast)) {
    for (const x of ast) identifiers(x, out);
    return out;
  }
  if (ast === null || typeof ast !== 'object') return out;
  const node = ast as AstNode;
  if (node.op === 'id' && typeof node.args === 'string') {
    if (!out.has(node.args)) out.set(node.args, node.start ?? 0);
    return out;
  }
  if ('args' in node) identifiers(node.args, out);
  return out;
}

type Convert = (v: unknown) => unknown;

/** How a value as read (number, typed array, decoded map) becomes the CEL value of its declared type. */
function converter(t: CelType): Convert {
  if (t === 'int') return (v) => (typeof v === 'bigint' ? v : typeof v === 'boolean' ? BigInt(v ? 1 : 0) : BigInt(Math.trunc(Number(v))));
  if (t === 'double') return (v) => Number(v);
  if (t === 'bool') return (v) => Boolean(v);
  if (t === 'string') return (v) => (typeof v === 'string' ? v : String(v));
  if (t === 'bytes') return (v) => (v instanceof Uint8Array ? v : new Uint8Array(0));
  if ('list' in t) {
    const item = converter(t.list);
    return (v) => {
      if (v === null || v === undefined || typeof v !== 'object') return [];
      const arr = v as ArrayLike<unknown>;
      const out = new Array<unknown>(arr.length);
      for (let i = 0; i < arr.length; i++) out[i] = item(arr[i]);
      return out;
    };
  }
  const fields = Object.entries(t.fields).map(([k, ft]) => [k, converter(ft)] as const);
  return (v) => {
    const src = (v ?? {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, c] of fields) out[k] = c(src[k]);
    return out;
  };
}

function structs(t: CelType, out: Map<string, Readonly<Record<string, CelType>>>): void {
  if (typeof t === 'string') return;
  if ('list' in t) return structs(t.list, out);
  out.set(t.struct, t.fields);
  for (const f of Object.values(t.fields)) structs(f, out);
}

const CEL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CEL_RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

function compilePredicate(schema: RecordSchema, skim: string): { fields: FieldInfo[]; test: (get: (f: string) => unknown) => boolean } {
  if (skim.trim().length === 0) throw new SelectionError('skim is empty', 'skim');
  if (skim.length > MAX_SKIM_LENGTH) throw new SelectionError(`skim is longer than ${MAX_SKIM_LENGTH} characters`, 'skim');
  const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 100, maxCallArguments: 8 } });
  const types = new Map<string, Readonly<Record<string, CelType>>>();
  for (const f of schema.fields) structs(f.cel, types);
  for (const [name, fields] of types) {
    env.registerType(name, { fields: Object.fromEntries(Object.entries(fields).map(([k, t]) => [k, celTypeName(t)])) });
  }
  const usable = schema.fields.filter((f) => CEL_IDENTIFIER.test(f.name) && !CEL_RESERVED.has(f.name));
  // Refused fields are declared too (as dyn) so that using one is reported as such, not as unknown.
  for (const f of usable) env.registerVariable(f.name, f.refused ? 'dyn' : celTypeName(f.cel));

  const fail = (e: CelErrorLike): never => {
    const pos = positionAt(skim, e.range?.start ?? 0);
    const summary = e.summary ?? e.message.split('\n')[0] ?? 'invalid predicate';
    throw new SelectionError(`invalid skim ${where(pos)}: ${summary}\n${caret(skim, pos)}`, 'skim', pos);
  };
  let check: { valid: boolean; type?: string; error?: CelErrorLike };
  try {
    check = env.check(skim) as typeof check;
  } catch (e) {
    return fail(e as CelErrorLike);
  }
  if (!check.valid) return fail(check.error ?? { message: 'invalid predicate' });
  if (check.type !== 'bool') {
    throw new SelectionError(`invalid skim: the predicate must be a bool, it is ${check.type ?? 'unknown'}`, 'skim', positionAt(skim, 0));
  }
  let evaluate: (ctx: Record<string, unknown>) => unknown;
  try {
    evaluate = env.parse(skim) as unknown as (ctx: Record<string, unknown>) => unknown;
  } catch (e) {
    return fail(e as CelErrorLike);
  }
  const ids = identifiers((evaluate as unknown as { ast: unknown }).ast);
  const fields = usable.filter((f) => ids.has(f.name));
  for (const f of fields) {
    if (f.refused) {
      const pos = positionAt(skim, ids.get(f.name)!);
      throw new SelectionError(`invalid skim ${where(pos)}: field "${f.name}" cannot be read correctly: ${f.refused}`, 'skim', pos);
    }
  }
  const converts = fields.map((f) => [f.name, converter(f.cel)] as const);
  const test = (get: (f: string) => unknown): boolean => {
    const ctx: Record<string, unknown> = {};
    for (const [name, c] of converts) ctx[name] = c(get(name));
    try {
      return evaluate(ctx) === true;
    } catch {
      // An error for this event (an index out of range, a missing map key): it does not pass.
      return false;
    }
  };
  return { fields, test };
}

function caret(text: string, p: SourcePosition): string {
  const line = text.split('\n')[p.line - 1] ?? '';
  return `  ${line}\n  ${' '.repeat(Math.max(0, p.column - 1))}^`;
}

/** Compiles a task's skim and slim against the record schema; throws SelectionError with the reason (and the position, for the predicate). */
export function compileSelection(schema: RecordSchema, spec: SelectionSpec): Selection {
  const slim = spec.slim ?? null;
  const skim = spec.skim ?? null;
  const columns = slimFields(schema, slim);
  const predicate = skim === null ? null : compilePredicate(schema, skim);
  const readNames = new Set([...columns, ...(predicate?.fields ?? [])].map((f) => f.name));
  return {
    skim,
    slim,
    records: schema.records,
    tree: schema.tree,
    columns,
    allColumns: columns.length === schema.fields.length,
    predicateFields: predicate?.fields ?? [],
    reads: schema.fields.filter((f) => readNames.has(f.name)),
    test: predicate?.test ?? (() => true),
  };
}
