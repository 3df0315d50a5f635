/**
 * ROOT files as dataset files: what the catalogue keeps of one (its TTree, the branches holding run
 * and event numbers), read from the file itself when it is registered: entries, GUID (the file's UUID).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { RootError, RootTree, type RootBytes } from '../root/RootFile.js';

export const ROOT_FILE_SUFFIX = '.root';

/** How the catalogue reads a ROOT file: the TTree, and the branches that give each entry's (run, event). */
export interface RootFileRef {
  readonly tree: string;
  readonly run?: string | undefined;
  readonly event?: string | undefined;
}

/** What a registration may say about ROOT files (anything left out is found in the file). */
export interface RootFileWish {
  readonly tree?: string | undefined;
  readonly run?: string | undefined;
  readonly event?: string | undefined;
}

export interface RootFileFacts {
  readonly ref: RootFileRef;
  readonly guid: string;
  readonly events: number;
}

/** Branch pairs taken as (run, event) when a registration names none. */
const RUN_EVENT_NAMES: readonly (readonly [string, string])[] = [
  ['run', 'event'],
  ['Run', 'Event'],
  ['runNumber', 'eventNumber'],
  ['RunNumber', 'EventNumber'],
];

const INTEGER = /^u?int(8|16|32|64)$/;

/** Opens the file's tree (through `bytes`), checks the run/event branches and returns the catalogue's facts. */
export async function describeRootFile(bytes: RootBytes, wish: RootFileWish = {}): Promise<RootFileFacts> {
  const tree = await RootTree.open(bytes, { tree: wish.tree });
  const isId = (name: string) => INTEGER.test(tree.branch(name)?.type ?? '');
  let run = wish.run;
  let event = wish.event;
  if ((run === undefined) !== (event === undefined)) throw new RootError(`${bytes.name}: name both the run and the event branch, or neither`);
  if (run !== undefined && event !== undefined) {
    for (const [what, name] of [['run', run], ['event', event]] as const) {
      const b = tree.branch(name);
      if (!b) throw new RootError(`${bytes.name}: TTree ${tree.name} has no ${what} branch "${name}"`);
      if (!isId(name)) throw new RootError(`${bytes.name}: the ${what} branch "${name}" must hold one integer per entry, it is ${b.type ?? b.kind}`);
    }
  } else {
    const pair = RUN_EVENT_NAMES.find(([r, e]) => isId(r) && isId(e));
    run = pair?.[0];
    event = pair?.[1];
  }
  const guid = tree.uuid ?? derivedGuid(bytes.name, bytes.size);
  return { ref: { tree: tree.name, ...(run !== undefined && { run, event }) }, guid, events: tree.entries };
}

/** A stable GUID for a ROOT file whose header has no UUID: from its name and size. */
function derivedGuid(name: string, size: number): string {
  const h = createHash('sha256').update(`${name}\0${size}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A local file as RootBytes (for the data directory, read once when the node starts). */
export async function describeLocalRootFile(path: string, name: string, wish: RootFileWish = {}): Promise<RootFileFacts & { size: number }> {
  const fh = await open(path);
  try {
    const size = (await fh.stat()).size;
    const facts = await describeRootFile(
      {
        name,
        size,
        read: async (offset, into) => {
          const { bytesRead } = await fh.read(into, 0, into.length, offset);
          if (bytesRead !== into.length) throw new RootError(`${name}: short read at ${offset}`);
        },
      },
      wish,
    );
    return { ...facts, size };
  } finally {
    await fh.close();
  }
}
