/**
 * Reading ROOT files directly with jsroot (its own file access, none of ours), for tests that
 * check what ESS delivers against the original file, entry by entry.
 */
/// <reference path="../src/root/jsroot.d.ts" />
import { openFile } from 'jsroot/io';
import { TSelector, treeProcess } from 'jsroot/tree';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared folder of real ROOT files (scikit-hep-testdata). */
export const ROOT_DATA_DIR = fileURLToPath(new URL('../../../../shared/data/root/', import.meta.url));

/** The sample files, their TTree and entries (docs: ../shared/data/root/README.md). */
export const ROOT_SAMPLES = [
  { file: 'uproot-Zmumu.root', tree: 'events', entries: 2304 },
  { file: 'uproot-HZZ.root', tree: 'events', entries: 2421 },
  { file: 'nanoAOD_2015_CMS_Open_Data_ttbar.root', tree: 'Events', entries: 200 },
] as const;

export const rootSample = (file: string): string => join(ROOT_DATA_DIR, file);

/** A value as plain JS: typed arrays become arrays. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/** Entries first..last of `branches`, read by jsroot from the file by path: one record (branch → value) per entry. */
export async function readDirect(path: string, tree: string, branches: readonly string[], first = 0, last?: number): Promise<{ entry: number; values: Record<string, unknown> }[]> {
  const file = (await openFile(path)) as { readObject(name: string): Promise<{ fEntries: number }> };
  const t = await file.readObject(tree);
  const end = last ?? t.fEntries - 1;
  const selector = new TSelector();
  branches.forEach((b, i) => selector.addBranch(b, `b${i}`));
  const out: { entry: number; values: Record<string, unknown> }[] = [];
  selector.Process = function (entry: number) {
    const values: Record<string, unknown> = {};
    branches.forEach((b, i) => (values[b] = plain(this.tgtobj[`b${i}`])));
    out.push({ entry, values });
  };
  await treeProcess(t, selector, { firstentry: first, numentries: end - first + 1 });
  return out;
}

/** The names of a tree's top-level branches, read directly. */
export async function branchNames(path: string, tree: string): Promise<string[]> {
  const file = (await openFile(path)) as { readObject(name: string): Promise<{ fBranches: { arr: { fName: string }[] } }> };
  return (await file.readObject(tree)).fBranches.arr.map((b) => b.fName);
}

/** A value of a column of `type` in one comparable form: numbers for every integer (bigint too), booleans for bools, arrays for lists. */
export function comparable(type: string, v: unknown): unknown {
  const list = /^list<(.+)>$/.exec(type);
  if (list) return Array.from((v ?? []) as ArrayLike<unknown>, (x) => comparable(list[1]!, x));
  if (type === 'bool') return v === true || v === 1;
  if (typeof v === 'bigint') return Number(v);
  return v;
}
