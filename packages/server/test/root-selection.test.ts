// Skim and slim compiled against a record schema (src/marshal/Selection.ts): CEL predicates over
// ROOT branches and ESS record fields, slim patterns with wildcards, and every refusal with its
// reason and position; and the MessagePack helpers that slim ESS records byte for byte.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { MsgpackWriter, decodeEvent, generateEvent, normalizeGenParams } from '@ess/format';
import { packStandard, unpackStandard } from '@ess/protocol';
import { mapEntries, skipValue, slimRecord } from '../src/marshal/Msgpack.js';
import { ESS_SCHEMA, rootSchema, type RecordSchema } from '../src/marshal/RecordSchema.js';
import { SelectionError, compileSelection, globPattern } from '../src/marshal/Selection.js';
import { RootTree } from '../src/root/RootFile.js';
import { readDirect, rootSample } from './root-direct.js';

async function schemaOf(file: string): Promise<RecordSchema> {
  const data = await readFile(rootSample(file));
  return rootSchema(await RootTree.open({ name: file, size: data.length, read: async (o, into) => void data.copy(into, 0, o, o + into.length) }));
}

function refusal(f: () => unknown): SelectionError {
  try {
    f();
  } catch (e) {
    if (e instanceof SelectionError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('slim', () => {
  it('delivers the named branches and wildcard matches in tree order; all of them without a slim', async () => {
    const hzz = await schemaOf('uproot-HZZ.root');
    const s = compileSelection(hzz, { slim: ['MET_px', 'Muon_P?', 'NMuon'] });
    expect(s.columns.map((c) => c.name)).toEqual(['NMuon', 'Muon_Px', 'Muon_Py', 'Muon_Pz', 'MET_px']);
    expect(s.columns.map((c) => c.column)).toEqual(['int32', 'list<float32>', 'list<float32>', 'list<float32>', 'float32']);
    expect(s.allColumns).toBe(false);
    const all = compileSelection(hzz, {});
    expect(all.columns).toHaveLength(hzz.fields.length);
    expect(all.allColumns).toBe(true);
    expect(compileSelection(hzz, { slim: ['*'] }).columns).toHaveLength(hzz.fields.length);
    expect(globPattern('Jet_*').test('Jet_Px')).toBe(true);
    expect(globPattern('Jet.*').test('JetX')).toBe(false);
  });

  it('refuses names that are no field, patterns that match nothing, and an empty slim', async () => {
    const hzz = await schemaOf('uproot-HZZ.root');
    expect(refusal(() => compileSelection(hzz, { slim: ['met_px'] })).message).toMatch(/"met_px", which is no branch of TTree events \(did you mean "MET_px"\?\)/);
    expect(refusal(() => compileSelection(hzz, { slim: ['Tau_*'] })).message).toMatch(/slim pattern "Tau_\*" matches no branch/);
    expect(refusal(() => compileSelection(hzz, { slim: [] })).field).toBe('slim');
    expect(refusal(() => compileSelection(ESS_SCHEMA, { slim: ['jets.pt'] })).message).toMatch(/no field of the ESS event record/);
  });

  it('refuses branches jsroot reads wrongly when named, skips them in wildcards, and refuses a full delivery that would hold them', () => {
    const schema: RecordSchema = {
      records: 'root',
      tree: 't',
      fields: [
        { name: 'pt', column: 'float32', cel: 'double', refused: null },
        { name: 'met', column: null, cel: 'int', refused: 'TBranchElement of class TVector2 is not supported' },
      ],
    };
    expect(refusal(() => compileSelection(schema, { slim: ['met'] })).message).toMatch(/cannot be read correctly: TBranchElement of class TVector2/);
    expect(compileSelection(schema, { slim: ['*'] }).columns.map((c) => c.name)).toEqual(['pt']);
    expect(refusal(() => compileSelection(schema, {})).message).toMatch(/1 branches of TTree t cannot be read correctly: "met".*slim/);
    const e = refusal(() => compileSelection(schema, { slim: ['pt'], skim: 'pt > 1.0 && met > 2' }));
    expect(e.message).toMatch(/field "met" cannot be read correctly/);
    expect(e.position).toEqual({ offset: 12, line: 1, column: 13 });
  });
});

describe('skim', () => {
  it('evaluates CEL over ROOT branches: ints, doubles, lists, macros; reads only what it uses besides the slim', async () => {
    const hzz = await schemaOf('uproot-HZZ.root');
    const s = compileSelection(hzz, { skim: 'NMuon >= 2 && MET_px > 0.0 && Muon_Px.exists(p, p > 20.0)', slim: ['Jet_Px'] });
    expect(s.predicateFields.map((f) => f.name)).toEqual(['NMuon', 'Muon_Px', 'MET_px']);
    expect(s.reads.map((f) => f.name)).toEqual(['Jet_Px', 'NMuon', 'Muon_Px', 'MET_px']);
    const rec = (o: Record<string, unknown>) => (name: string) => o[name];
    expect(s.test(rec({ NMuon: 2, MET_px: 1.5, Muon_Px: new Float32Array([25, -3]) }))).toBe(true);
    expect(s.test(rec({ NMuon: 2, MET_px: 1.5, Muon_Px: new Float32Array([5, -3]) }))).toBe(false);
    expect(s.test(rec({ NMuon: 1, MET_px: 1.5, Muon_Px: new Float32Array([25]) }))).toBe(false);
    // An error for one event (index out of range) means it does not pass.
    const idx = compileSelection(hzz, { skim: 'Muon_Px[1] > 0.0' });
    expect(idx.test(rec({ Muon_Px: [1] }))).toBe(false);
    expect(idx.test(rec({ Muon_Px: [1, 2] }))).toBe(true);
  });

  it('counts exactly the events a direct computation over the file selects', async () => {
    const hzz = await schemaOf('uproot-HZZ.root');
    const s = compileSelection(hzz, { skim: 'NMuon >= 2 && MET_px > 0.0 && size(Jet_Px) >= 1' });
    const rows = await readDirect(rootSample('uproot-HZZ.root'), 'events', ['NMuon', 'MET_px', 'Jet_Px']);
    const direct = rows.filter((r) => (r.values.NMuon as number) >= 2 && (r.values.MET_px as number) > 0 && (r.values.Jet_Px as number[]).length >= 1).length;
    const passed = rows.filter((r) => s.test((name) => r.values[name])).length;
    expect(passed).toBe(direct);
    expect(direct).toBeGreaterThan(50);
    expect(direct).toBeLessThan(rows.length);
  });

  it('evaluates CEL over ESS records: nested maps, lists of maps, integers', () => {
    const params = normalizeGenParams({ seed: 3, scope: 's', name: 'n', files: 1, eventsPerFile: 50, sizeMean: 3000, sizeDist: 'fixed' });
    const s = compileSelection(ESS_SCHEMA, { skim: 'size(jets) >= 4 && met.pt > 20.0 && tracks.exists(t, t.q == -1) && run > 0', slim: ['run', 'event', 'met'] });
    let passed = 0;
    for (let entry = 0; entry < 50; entry++) {
      const ev = decodeEvent(generateEvent(params, 0, entry));
      const want = ev.jets.length >= 4 && ev.met.pt > 20 && ev.tracks.some((t) => t.q === -1) && ev.run > 0;
      expect(s.test((name) => (ev as unknown as Record<string, unknown>)[name])).toBe(want);
      if (want) passed++;
    }
    expect(passed).toBeGreaterThan(0);
    expect(passed).toBeLessThan(50);
  });

  it('refuses invalid predicates at compile time with the position of the error', async () => {
    const hzz = await schemaOf('uproot-HZZ.root');
    const syntax = refusal(() => compileSelection(hzz, { skim: 'NMuon >= 2 &&\n  (MET_px > ' }));
    expect(syntax.field).toBe('skim');
    expect(syntax.position).toMatchObject({ line: 2, column: 13 });
    expect(syntax.message).toMatch(/^invalid skim at line 2, column 13: /);
    const unknown = refusal(() => compileSelection(hzz, { skim: 'NMuon >= 2 && nJet > 1' }));
    expect(unknown.message).toMatch(/at line 1, column 15: Unknown variable: nJet/);
    expect(unknown.position?.offset).toBe(14);
    expect(refusal(() => compileSelection(hzz, { skim: 'NMuon + 1' })).message).toMatch(/must be a bool, it is int/);
    expect(refusal(() => compileSelection(hzz, { skim: 'MET_px == 1' })).message).toMatch(/no such overload/);
    expect(refusal(() => compileSelection(ESS_SCHEMA, { skim: 'met.px > 1.0' })).message).toMatch(/px/);
    expect(refusal(() => compileSelection(hzz, { skim: ' ' })).message).toMatch(/empty/);
    expect(refusal(() => compileSelection(hzz, { skim: 'x'.repeat(5000) })).message).toMatch(/longer than/);
  });
});

describe('MessagePack helpers', () => {
  it('skips every standard type and slims a record keeping the kept pairs byte for byte', () => {
    const params = normalizeGenParams({ seed: 9, scope: 's', name: 'n', files: 1, eventsPerFile: 5, sizeMean: 4000, sizeDist: 'fixed' });
    const record = generateEvent(params, 0, 3);
    expect(skipValue(record, 0)).toBe(record.length);
    expect(mapEntries(record).map((e) => e.key)).toEqual(['run', 'event', 'lumi', 'entry', 'timestamp', 'met', 'jets', 'tracks', 'muons', 'electrons', 'payload']);
    const w = new MsgpackWriter(16);
    slimRecord(record, new Set(['event', 'met', 'muons']), w);
    const full = unpackStandard(record) as Record<string, unknown>;
    expect(unpackStandard(w.bytes())).toEqual({ event: full.event, met: full.met, muons: full.muons });
    // The kept values are the original bytes (float 32 stays float 32).
    const kept = mapEntries(record).filter((e) => ['event', 'met', 'muons'].includes(e.key));
    expect(w.bytes().subarray(1)).toEqual(Buffer.concat(kept.map((e) => record.subarray(e.start, e.end))));
    const odd = packStandard({ a: [null, true, -1, -200, 70000, -70000, 2 ** 40, -(2 ** 40), 1.5, 'x'.repeat(40), new Uint8Array(300)], b: { c: 'd' } });
    expect(skipValue(odd, 0)).toBe(odd.length);
    expect(() => skipValue(odd.subarray(0, odd.length - 3), 0)).toThrow(/ends inside/);
  });

  it('writes integers, reals and strings in standard form', () => {
    const w = new MsgpackWriter(4);
    const ints = [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1];
    w.array(ints.length + 5);
    for (const n of ints) w.int(n);
    w.f32(1.5);
    w.f64(0.1);
    w.bool(true);
    w.str('é'.repeat(20));
    w.str('y'.repeat(300));
    expect(unpackStandard(w.bytes())).toEqual([...ints, 1.5, 0.1, true, 'é'.repeat(20), 'y'.repeat(300)]);
  });
});
