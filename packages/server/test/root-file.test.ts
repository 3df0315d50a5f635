// The jsroot adapter (src/root/RootFile.ts) over every real ROOT file of ../shared/data/root:
// what it reads through our byte reader equals what jsroot reads from the file by itself, entry
// by entry; it refuses the branch types jsroot reads wrongly; read errors are not swallowed.
import { describe, expect, it } from 'vitest';
import { open, readFile } from 'node:fs/promises';
import { RootError, RootTree, classifyBranch, parseRootUuid, type RootBytes } from '../src/root/RootFile.js';
import { ROOT_SAMPLES, branchNames, comparable, readDirect, rootSample } from './root-direct.js';

/** A sample file as RootBytes, counting the byte spans read (and failing on demand). */
async function fileBytes(name: string): Promise<RootBytes<number> & { spans: [number, number][]; failFrom: number | null }> {
  const data = await readFile(rootSample(name));
  const bytes = {
    name,
    size: data.length,
    spans: [] as [number, number][],
    failFrom: null as number | null,
    read: async (offset: number, into: Buffer) => {
      if (bytes.failFrom !== null && bytes.spans.length >= bytes.failFrom) throw new Error('origin went away');
      bytes.spans.push([offset, into.length]);
      data.copy(into, 0, offset, offset + into.length);
      return into.length;
    },
  };
  return bytes;
}

describe.each(ROOT_SAMPLES)('RootTree over $file', (sample) => {
  it('finds the TTree, its entries, the file UUID and a type for every branch', async () => {
    const tree = await RootTree.open(await fileBytes(sample.file));
    expect(tree.name).toBe(sample.tree);
    expect(tree.entries).toBe(sample.entries);
    expect(tree.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(tree.branches.map((b) => b.name)).toEqual(await branchNames(rootSample(sample.file), sample.tree));
    // These files hold only plain branches of basic types: nothing is refused.
    expect(tree.branches.filter((b) => b.refused)).toEqual([]);
  });

  it('reads chosen entry ranges of every branch equal to jsroot reading the file itself, entry by entry', async () => {
    const bytes = await fileBytes(sample.file);
    const tree = await RootTree.open(bytes);
    const names = tree.branches.map((b) => b.name);
    const types = new Map(tree.branches.map((b) => [b.name, b.type!]));
    const n = sample.entries;
    for (const [first, last] of [
      [0, Math.min(99, n - 1)],
      [Math.floor(n / 2) - 7, Math.floor(n / 2) + 30],
      [n - 13, n - 1],
    ] as const) {
      const got: { entry: number; values: unknown[] }[] = [];
      await tree.read(names, first, last, (entry, values) => got.push({ entry, values: values.map((v, i) => comparable(types.get(names[i]!)!, v)) }));
      const want = await readDirect(rootSample(sample.file), sample.tree, names, first, last);
      expect(got.map((g) => g.entry)).toEqual(want.map((w) => w.entry));
      for (let k = 0; k < got.length; k++) {
        const w = names.map((name) => comparable(types.get(name)!, want[k]!.values[name]));
        expect(got[k]!.values, `entry ${got[k]!.entry}`).toEqual(w);
      }
    }
  });
});

describe('RootTree', () => {
  it('reads only the baskets of the branches asked for, all of them within basketSpans', async () => {
    const bytes = await fileBytes('uproot-HZZ.root');
    const tree = await RootTree.open(bytes);
    const opened = bytes.spans.length;
    const names = ['Jet_Px', 'MET_px'];
    const spans = tree.basketSpans(names, 100, 600);
    expect(spans.length).toBeGreaterThan(0);
    await tree.read(names, 100, 600, () => undefined);
    const reads = bytes.spans.slice(opened);
    expect(reads.length).toBeGreaterThan(0);
    for (const [offset, length] of reads) {
      expect(spans.some((s) => offset >= s.offset && offset + length <= s.offset + s.length), `read at ${offset}+${length} lies in a basket span`).toBe(true);
    }
    // The count branch of a jagged branch is read with it.
    const njet = tree.basketSpans(['NJet'], 100, 600);
    for (const s of njet) expect(spans.some((x) => s.offset >= x.offset && s.offset + s.length <= x.offset + x.length)).toBe(true);
    // Fewer bytes than the whole tree's baskets.
    const all = tree.basketSpans(tree.branches.map((b) => b.name), 0, tree.entries - 1).reduce((n, s) => n + s.length, 0);
    expect(spans.reduce((n, s) => n + s.length, 0)).toBeLessThan(all / 5);
  });

  it('passes each read report to the caller of read, and fails (not swallows) a read error', async () => {
    const bytes = await fileBytes('uproot-Zmumu.root');
    const tree = await RootTree.open(bytes);
    let reported = 0;
    await tree.read<number>(['E1', 'Run'], 0, 99, () => undefined, (n) => (reported += n));
    expect(reported).toBeGreaterThan(0);
    bytes.failFrom = bytes.spans.length;
    await expect(tree.read(['px1'], 0, 2303, () => undefined)).rejects.toThrow(/origin went away/);
    // Reads of one tree run one at a time and the tree stays usable.
    bytes.failFrom = null;
    const seen: number[] = [];
    await Promise.all([tree.read(['Run'], 0, 9, (e) => seen.push(e)), tree.read(['Run'], 10, 19, (e) => seen.push(e))]);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('serves consecutive ranges of the same branches from the entries it decoded past the last one, equal to reading them afresh', async () => {
    const bytes = await fileBytes('uproot-HZZ.root');
    const tree = await RootTree.open(bytes);
    const names = ['NJet', 'Jet_Px', 'Jet_ID', 'MET_px'];
    const types = names.map((n) => tree.branch(n)!.type!);
    const collect = async (t: RootTree, ns: readonly string[], a: number, b: number) => {
      const out: unknown[] = [];
      await t.read(ns, a, b, (e, v) => out.push([e, ...v.map((x, i) => comparable(types[i] ?? 'float32', x))]));
      return out;
    };
    const fresh = async (a: number, b: number) => collect(await RootTree.open(await fileBytes('uproot-HZZ.root')), names, a, b);
    const opened = bytes.spans.length;
    expect(await collect(tree, names, 0, 99)).toEqual(await fresh(0, 99));
    const afterFirst = bytes.spans.length;
    expect(afterFirst).toBeGreaterThan(opened);
    // The next ranges come from what the first read decoded: no more reads.
    expect(await collect(tree, names, 100, 349)).toEqual(await fresh(100, 349));
    expect(await collect(tree, names, 1000, 1100)).toEqual(await fresh(1000, 1100));
    expect(bytes.spans.length).toBe(afterFirst);
    // Other branches are read afresh, and do not disturb each other.
    expect(await collect(tree, ['MET_px'], 5, 9)).toEqual((await fresh(5, 9)).map((r) => (r as unknown[]).filter((_, i) => i === 0 || i === 4)));
    expect(await collect(tree, names, 2400, 2420)).toEqual(await fresh(2400, 2420));
  });

  it('refuses entries outside the tree, unknown branches, and files that are not ROOT or have no such tree', async () => {
    const tree = await RootTree.open(await fileBytes('uproot-Zmumu.root'));
    await expect(tree.read(['E1'], 2300, 2304, () => undefined)).rejects.toThrow(RootError);
    await expect(tree.read(['nope'], 0, 1, () => undefined)).rejects.toThrow(/no branch "nope"/);
    await expect(RootTree.open(await fileBytes('uproot-Zmumu.root'), { tree: 'Events' })).rejects.toThrow(/has no TTree "Events" \(it has events\)/);
    const notRoot = { name: 'x.root', size: 1000, read: async (_o: number, into: Buffer) => void into.fill(7) };
    await expect(RootTree.open(notRoot)).rejects.toThrow(/not a readable ROOT file/);
  });

  it('reads the UUID of small- and large-file headers', async () => {
    const fh = await open(rootSample('uproot-HZZ.root'));
    const head = Buffer.alloc(100);
    await fh.read(head, 0, 100, 0);
    await fh.close();
    expect(parseRootUuid(head)).toBe('76a647e8-03ee-11e2-9717-668ba983beef');
    const big = Buffer.alloc(100);
    big.write('root', 0, 'latin1');
    big.writeUInt32BE(1_062_206, 4);
    Buffer.from('00112233445566778899aabbccddeeff', 'hex').copy(big, 59);
    expect(parseRootUuid(big)).toBe('00112233-4455-6677-8899-aabbccddeeff');
    expect(parseRootUuid(Buffer.alloc(100))).toBeNull();
  });
});

describe('classifyBranch', () => {
  const leaf = (type: string, o: Record<string, unknown> = {}) => ({ _typename: type, fName: 'x', fLen: 1, ...o });
  const branch = (o: Record<string, unknown>) =>
    ({
      _typename: 'TBranch',
      fName: 'b',
      fLeaves: { arr: [leaf('TLeafF')] },
      fBranches: { arr: [] },
      fWriteBasket: 0,
      fBasketBytes: [],
      fBasketEntry: [],
      fBasketSeek: [],
      ...o,
    }) as Parameters<typeof classifyBranch>[0];

  it('types plain leaves: scalars, jagged and fixed-size arrays, unsigned, strings', () => {
    expect(classifyBranch(branch({})).type).toBe('float32');
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafI', { fIsUnsigned: true })] } })).type).toBe('uint32');
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafL')] } })).type).toBe('int64');
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafO')] } })).type).toBe('bool');
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafC', { fLen: 3 })] } })).type).toBe('string');
    const jagged = classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafD', { fLeafCount: leaf('TLeafI', { fName: 'n' }) })] } }));
    expect(jagged).toMatchObject({ type: 'list<float64>', count: 'n', refused: null });
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafB', { fLen: 4 })] } })).type).toBe('list<int8>');
  });

  it('refuses object branches (an unsplit TVector2), leaf lists, 2-D arrays and unknown leaf types, saying why', () => {
    const tvector = classifyBranch(branch({ _typename: 'TBranchElement', fClassName: 'TVector2', fLeaves: { arr: [leaf('TLeafElement')] } }));
    expect(tvector.type).toBeNull();
    expect(tvector.refused).toMatch(/TBranchElement of class TVector2 is not supported.*TVector2/);
    expect(classifyBranch(branch({ _typename: 'TBranchObject', fClassName: 'TLorentzVector' })).refused).toMatch(/TBranchObject of class TLorentzVector/);
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafF'), leaf('TLeafF')] } })).refused).toMatch(/leaf list of 2 leaves/);
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafF', { fLen: 3, fLeafCount: leaf('TLeafI') })] } })).refused).toMatch(/two-dimensional/);
    expect(classifyBranch(branch({ fLeaves: { arr: [leaf('TLeafF16')] } })).refused).toMatch(/leaf type TLeafF16 is not supported/);
    expect(classifyBranch(branch({ fBranches: { arr: [branch({})] } })).refused).toMatch(/sub-branches/);
  });
});
