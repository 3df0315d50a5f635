// The demo's payload: reads a range file like a physics job would (every event decoded), spends a
// little CPU per event, prints a one-line summary, and removes the file it consumed.
import { rm } from 'node:fs/promises';
import { decodeEvents, openEventFile } from '../packages/format/dist/index.js';

const path = process.argv[2];
const file = await openEventFile(path);
const { index } = file;
let jets = 0;
let met = 0;
for (const e of decodeEvents(await file.readSpan(index.firstEntry, index.lastEntry))) {
  jets += e.jets.length;
  met += e.met.pt;
  const until = performance.now() + 1; // ~1 ms of "reconstruction" per event
  while (performance.now() < until);
}
await file.close();
await rm(path);
process.stdout.write(`payload: ${index.count} events, ${jets} jets, <MET> ${(met / index.count).toFixed(1)} GeV\n`);
