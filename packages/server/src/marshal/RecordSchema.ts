/**
 * What a dataset's event records hold, field by field, for skim and slim: the ESS event record of
 * docs/FORMAT.md §3, or the branches of a ROOT TTree with their column and predicate types.
 */
import type { ColumnType, RootTree } from '../root/RootFile.js';

/**
 * A field's type in a predicate (CEL): scalars, lists, and named structs (the ESS record's
 * `met`, `jets`...). Every integer, signed or unsigned, is a CEL `int`; every real a `double`.
 */
export type CelType =
  | 'int'
  | 'double'
  | 'bool'
  | 'string'
  | 'bytes'
  | { readonly list: CelType }
  | { readonly struct: string; readonly fields: Readonly<Record<string, CelType>> };

export interface FieldInfo {
  readonly name: string;
  /** Column type of a ROOT branch (for the Arrow schema); null for ESS record fields. */
  readonly column: ColumnType | null;
  readonly cel: CelType;
  /** Why the field cannot be delivered or used, when it cannot (a branch type jsroot reads wrongly). */
  readonly refused: string | null;
}

export interface RecordSchema {
  /** `ess`: ESS event records; `root`: entries of a TTree (a map branch → value). */
  readonly records: 'ess' | 'root';
  /** The TTree, for ROOT. */
  readonly tree: string | null;
  readonly fields: readonly FieldInfo[];
}

const MET: CelType = { struct: 'Met', fields: { pt: 'double', phi: 'double', sumEt: 'double' } };
const JET: CelType = { struct: 'Jet', fields: { pt: 'double', eta: 'double', phi: 'double', m: 'double', btag: 'double' } };
const TRACK: CelType = { struct: 'Track', fields: { pt: 'double', eta: 'double', phi: 'double', q: 'int', d0: 'double', z0: 'double' } };
const LEPTON: CelType = { struct: 'Lepton', fields: { pt: 'double', eta: 'double', phi: 'double', q: 'int', iso: 'double' } };

const essField = (name: string, cel: CelType): FieldInfo => ({ name, column: null, cel, refused: null });

/** The ESS event record (docs/FORMAT.md §3). */
export const ESS_SCHEMA: RecordSchema = {
  records: 'ess',
  tree: null,
  fields: [
    essField('run', 'int'),
    essField('event', 'int'),
    essField('lumi', 'int'),
    essField('entry', 'int'),
    essField('timestamp', 'int'),
    essField('met', MET),
    essField('jets', { list: JET }),
    essField('tracks', { list: TRACK }),
    essField('muons', { list: LEPTON }),
    essField('electrons', { list: LEPTON }),
    essField('payload', 'bytes'),
  ],
};

function celOfColumn(t: ColumnType): CelType {
  const list = t.startsWith('list<');
  const scalar = list ? t.slice(5, -1) : t;
  const base: CelType = scalar === 'bool' ? 'bool' : scalar === 'string' ? 'string' : scalar.startsWith('float') ? 'double' : 'int';
  return list ? { list: base } : base;
}

/** The branches of a TTree as record fields (refused branches keep their reason). */
export function rootSchema(tree: RootTree): RecordSchema {
  return {
    records: 'root',
    tree: tree.name,
    fields: tree.branches.map((b) => ({ name: b.name, column: b.type, cel: b.type ? celOfColumn(b.type) : 'int', refused: b.refused })),
  };
}

/** The CEL type as written in a declaration (`list<Jet>`). */
export function celTypeName(t: CelType): string {
  if (typeof t === 'string') return t;
  if ('list' in t) return `list<${celTypeName(t.list)}>`;
  return t.struct;
}
