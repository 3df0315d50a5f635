/**
 * The deterministic event generator: any event of a generated dataset is a pure function of
 * (generator parameters, fileIndex, entry), so it can be regenerated alone, byte for byte.
 */
import { MsgpackWriter } from './msgpack-writer.js';
import { binLayout, encodeKey, writeBinHeader } from './record-encoder.js';
import { Xoshiro128, exp, ln, murmur3String, murmur3Words, splitUint53 } from './prng.js';
import { nameProblem } from './dataset-names.js';

export type SizeDist = 'fixed' | 'exp' | 'lognormal';

/** Generator parameters: together with (fileIndex, entry) they fix an event's bytes. */
export interface GenParams {
  /** Any integer 0 .. 2^53 - 1. */
  seed: number;
  scope: string;
  name: string;
  /** Number of files (>= 1). */
  files: number;
  /** Events in each file (>= 1). */
  eventsPerFile: number;
  /** Mean (for `fixed`: exact) encoded record size in bytes. */
  sizeMean: number;
  sizeDist: SizeDist;
  /** Sigma of ln(size) for `lognormal` (default 0.5). */
  sizeSigma?: number;
}

export const DEFAULT_SIZE_SIGMA = 0.5;
/** Target record sizes are capped at this multiple of sizeMean. */
export const MAX_SIZE_FACTOR = 20;
/** Largest accepted sizeMean (256 MiB). */
export const MAX_SIZE_MEAN = 256 * 1024 * 1024;
/** Version of the generation algorithm (stored in generated files' footer meta). */
export const GENERATOR_VERSION = 1;

/** Events per luminosity block and its duration in seconds. */
const EVENTS_PER_LUMI = 500;
const LUMI_SECONDS = 60;
/** Event numbers advance by 1..EVENT_STRIDE within a run (a sparse, stream-like subset). */
const EVENT_STRIDE = 16;
const MAX_RUNS = 3;

/** PRNG stream numbers (last word of the hash key). */
const STREAM_PHYSICS = 1;
const STREAM_PAYLOAD = 2;
const STREAM_EVENT_NUMBER = 4;
const STREAM_GUID = 5;

/** Validates parameters and fills defaults; throws a RangeError naming the bad parameter. */
export function normalizeGenParams(p: GenParams): GenParams & { sizeSigma: number } {
  const fail = (msg: string): never => {
    throw new RangeError(`invalid generator parameters: ${msg}`);
  };
  if (!Number.isSafeInteger(p.seed) || p.seed < 0) fail(`seed must be an integer 0..2^53-1 (got ${p.seed})`);
  const problem = nameProblem(p.scope, 'scope') ?? nameProblem(p.name, 'name');
  if (problem !== undefined) fail(problem);
  if (!Number.isSafeInteger(p.files) || p.files < 1 || p.files > 1_000_000) fail(`files must be an integer 1..1000000 (got ${p.files})`);
  if (!Number.isSafeInteger(p.eventsPerFile) || p.eventsPerFile < 1 || p.eventsPerFile > 100_000_000) {
    fail(`eventsPerFile must be an integer 1..100000000 (got ${p.eventsPerFile})`);
  }
  if (!Number.isSafeInteger(p.sizeMean) || p.sizeMean < 1 || p.sizeMean > MAX_SIZE_MEAN) {
    fail(`sizeMean must be an integer number of bytes 1..${MAX_SIZE_MEAN} (got ${p.sizeMean})`);
  }
  if (p.sizeDist !== 'fixed' && p.sizeDist !== 'exp' && p.sizeDist !== 'lognormal') {
    fail(`sizeDist must be fixed, exp or lognormal (got ${String(p.sizeDist)})`);
  }
  const sizeSigma = p.sizeSigma ?? DEFAULT_SIZE_SIGMA;
  if (!Number.isFinite(sizeSigma) || sizeSigma <= 0 || sizeSigma > 3) fail(`sizeSigma must be a number in (0, 3] (got ${sizeSigma})`);
  return {
    seed: p.seed,
    scope: p.scope,
    name: p.name,
    files: p.files,
    eventsPerFile: p.eventsPerFile,
    sizeMean: p.sizeMean,
    sizeDist: p.sizeDist,
    sizeSigma,
  };
}

function checkEvent(p: GenParams, fileIndex: number, entry: number): void {
  if (!Number.isSafeInteger(fileIndex) || fileIndex < 0 || fileIndex >= p.files) {
    throw new RangeError(`fileIndex ${fileIndex} is outside the dataset (0..${p.files - 1})`);
  }
  if (!Number.isSafeInteger(entry) || entry < 0 || entry >= p.eventsPerFile) {
    throw new RangeError(`entry ${entry} is outside the file (0..${p.eventsPerFile - 1})`);
  }
}

/** Hash key of one event's PRNG stream. */
function eventKey(seed: number, fileIndex: number, entry: number, stream: number): number[] {
  const [sLo, sHi] = splitUint53(seed);
  const [eLo, eHi] = splitUint53(entry);
  return [sLo, sHi, fileIndex, eLo, eHi, stream];
}

/** A dataset-level hash (run numbers, start times): key (seed lo, seed hi, 0xffffffff, i). */
function datasetHash(seed: number, i: number): number {
  const [sLo, sHi] = splitUint53(seed);
  return murmur3Words([sLo, sHi, 0xffffffff, i], 0);
}

/** Run, event, lumi block and timestamp of one event: cheap, no event generation needed. */
export interface EventHeader {
  run: number;
  event: number;
  lumi: number;
  timestamp: number;
}

/**
 * The event's run/event/lumi/timestamp. Files are split into min(files, 3) runs of
 * consecutive files; within a run, event numbers rise by 1..16 per event (a sparse subset of
 * the run, like a trigger stream), so (run, event) is unique across the dataset.
 */
export function eventHeader(params: GenParams, fileIndex: number, entry: number): EventHeader {
  checkEvent(params, fileIndex, entry);
  const { seed, files, eventsPerFile } = params;
  const nRuns = Math.min(files, MAX_RUNS);
  const r = Math.floor((fileIndex * nRuns) / files);
  let run = 300_000 + (datasetHash(seed, 0) % 100_000);
  let start = 1_500_000_000 + (datasetHash(seed, 100) % 200_000_000);
  for (let i = 1; i <= r; i++) {
    run += 1 + (datasetHash(seed, i) % 40);
    start += 43_200 + (datasetHash(seed, 100 + i) % 172_800);
  }
  const eventBase = 1 + (datasetHash(seed, 200 + r) % 1_000_000);
  const firstFileOfRun = Math.ceil((r * files) / nRuns);
  const p = (fileIndex - firstFileOfRun) * eventsPerFile + entry;
  const jitter = murmur3Words(eventKey(seed, fileIndex, entry, STREAM_EVENT_NUMBER), 0) % EVENT_STRIDE;
  const lumi = 1 + Math.floor(p / EVENTS_PER_LUMI);
  const timestamp = start + (lumi - 1) * LUMI_SECONDS + Math.floor(((p % EVENTS_PER_LUMI) * LUMI_SECONDS) / EVENTS_PER_LUMI);
  return { run, event: eventBase + p * EVENT_STRIDE + jitter, lumi, timestamp };
}

/** The (run, event) pair of one event (the key used for event picking). */
export function eventIds(params: GenParams, fileIndex: number, entry: number): { run: number; event: number } {
  const { run, event } = eventHeader(params, fileIndex, entry);
  return { run, event };
}

/** LFN of file `fileIndex` (0-based): `<name>._000001.ess` for file 0 (1-based, like ATLAS). */
export function fileLfn(params: Pick<GenParams, 'name'>, fileIndex: number): string {
  return `${params.name}._${String(fileIndex + 1).padStart(6, '0')}.ess`;
}

/** Deterministic GUID (UUID version-4 layout) of a generated file, from seed, dataset and index. */
export function fileGuid(params: Pick<GenParams, 'seed' | 'scope' | 'name'>, fileIndex: number): string {
  const [sLo, sHi] = splitUint53(params.seed);
  const ds = `${params.scope}:${params.name}`;
  const key = [sLo, sHi, fileIndex >>> 0, murmur3String(ds, 0), murmur3String(ds, 1), STREAM_GUID];
  const hex = [0, 1, 2, 3].map((s) => murmur3Words(key, s).toString(16).padStart(8, '0')).join('');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// Event content
// ---------------------------------------------------------------------------------------------

const PI = Math.PI;
const EXP_M_JETS = exp(-6);
const EXP_M_TRACKS = exp(-40);
const EXP_M_MUONS = exp(-1.5);
const EXP_M_ELECTRONS = exp(-1.2);

const K = {
  run: encodeKey('run'),
  event: encodeKey('event'),
  lumi: encodeKey('lumi'),
  entry: encodeKey('entry'),
  timestamp: encodeKey('timestamp'),
  met: encodeKey('met'),
  jets: encodeKey('jets'),
  tracks: encodeKey('tracks'),
  muons: encodeKey('muons'),
  electrons: encodeKey('electrons'),
  payload: encodeKey('payload'),
  pt: encodeKey('pt'),
  eta: encodeKey('eta'),
  phi: encodeKey('phi'),
  m: encodeKey('m'),
  btag: encodeKey('btag'),
  q: encodeKey('q'),
  d0: encodeKey('d0'),
  z0: encodeKey('z0'),
  iso: encodeKey('iso'),
  sumEt: encodeKey('sumEt'),
};

/** The target record size of the event, drawn first from the physics stream. */
function drawTargetSize(rng: Xoshiro128, p: GenParams & { sizeSigma: number }): number {
  const mean = p.sizeMean;
  let t: number;
  if (p.sizeDist === 'fixed') return mean;
  if (p.sizeDist === 'exp') t = rng.exponential(mean);
  else {
    const sigma = p.sizeSigma;
    t = exp(ln(mean) - (sigma * sigma) / 2 + sigma * rng.normal());
  }
  return Math.min(Math.round(t), MAX_SIZE_FACTOR * mean);
}

interface Lep {
  pt: number;
  eta: number;
  phi: number;
  q: number;
  iso: number;
}

function drawLeptons(rng: Xoshiro128, expMinusLambda: number, ptMin: number): Lep[] {
  const n = rng.poisson(expMinusLambda);
  const out: Lep[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ pt: ptMin + rng.exponential(20), eta: rng.between(-2.5, 2.5), phi: rng.between(-PI, PI), q: rng.sign(), iso: rng.exponential(0.05) });
  }
  return out.sort((a, b) => b.pt - a.pt);
}

function writeLeptons(enc: MsgpackWriter, leps: Lep[]): void {
  enc.array(leps.length);
  for (const l of leps) {
    enc.map(5);
    enc.raw(K.pt);
    enc.f32(l.pt);
    enc.raw(K.eta);
    enc.f32(l.eta);
    enc.raw(K.phi);
    enc.f32(l.phi);
    enc.raw(K.q);
    enc.int(l.q);
    enc.raw(K.iso);
    enc.f32(l.iso);
  }
}

const encoder = new MsgpackWriter();
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The exact bytes of one generated event record. Pure: depends only on the parameters that
 * shape events (seed, files, eventsPerFile, sizeMean, sizeDist, sizeSigma), fileIndex and entry.
 */
export function generateEvent(params: GenParams, fileIndex: number, entry: number): Buffer {
  const p = normalizeGenParams(params);
  const hdr = eventHeader(p, fileIndex, entry);
  const rng = Xoshiro128.fromKey(eventKey(p.seed, fileIndex, entry, STREAM_PHYSICS));

  // Draw order (part of the format's determinism contract): size, jets, tracks, muons,
  // electrons, met.
  const target = drawTargetSize(rng, p);

  const nJets = rng.poisson(EXP_M_JETS);
  const jets: { pt: number; eta: number; phi: number; m: number; btag: number }[] = [];
  for (let i = 0; i < nJets; i++) {
    const pt = 20 + rng.exponential(30);
    const eta = rng.between(-2.5, 2.5);
    const phi = rng.between(-PI, PI);
    const m = pt * (0.04 + 0.16 * rng.uniform());
    const u = rng.uniform();
    jets.push({ pt, eta, phi, m, btag: u * u * u });
  }
  jets.sort((a, b) => b.pt - a.pt);

  const enc = encoder;
  enc.reset();
  enc.map(11);
  enc.raw(K.run);
  enc.int(hdr.run);
  enc.raw(K.event);
  enc.int(hdr.event);
  enc.raw(K.lumi);
  enc.int(hdr.lumi);
  enc.raw(K.entry);
  enc.int(entry);
  enc.raw(K.timestamp);
  enc.int(hdr.timestamp);

  // met depends on the objects, so it is drawn last but written first: leave room for it.
  // met map: fixmap(3) + 3 x (key + float32) = 1 + (3+5) + (4+5) + (6+5) = 29 bytes.
  enc.raw(K.met);
  const metAt = enc.pos;
  enc.raw(METROOM);

  enc.raw(K.jets);
  enc.array(jets.length);
  for (const j of jets) {
    enc.map(5);
    enc.raw(K.pt);
    enc.f32(j.pt);
    enc.raw(K.eta);
    enc.f32(j.eta);
    enc.raw(K.phi);
    enc.f32(j.phi);
    enc.raw(K.m);
    enc.f32(j.m);
    enc.raw(K.btag);
    enc.f32(j.btag);
  }

  const nTracks = rng.poisson(EXP_M_TRACKS);
  enc.raw(K.tracks);
  enc.array(nTracks);
  for (let i = 0; i < nTracks; i++) {
    enc.map(6);
    enc.raw(K.pt);
    enc.f32(0.5 + rng.exponential(1.5));
    enc.raw(K.eta);
    enc.f32(rng.between(-2.5, 2.5));
    enc.raw(K.phi);
    enc.f32(rng.between(-PI, PI));
    enc.raw(K.q);
    enc.int(rng.sign());
    enc.raw(K.d0);
    enc.f32(0.02 * rng.normal());
    enc.raw(K.z0);
    enc.f32(45 * rng.normal());
  }

  const muons = drawLeptons(rng, EXP_M_MUONS, 5);
  const electrons = drawLeptons(rng, EXP_M_ELECTRONS, 7);
  enc.raw(K.muons);
  writeLeptons(enc, muons);
  enc.raw(K.electrons);
  writeLeptons(enc, electrons);

  let sumPt = 0;
  for (const j of jets) sumPt += j.pt;
  for (const l of muons) sumPt += l.pt;
  for (const l of electrons) sumPt += l.pt;
  const metPt = 25 * Math.sqrt(-2 * ln(rng.uniform()));
  const metPhi = rng.between(-PI, PI);
  const sumEt = sumPt + 50 + rng.exponential(100);
  const end = enc.pos;
  enc.pos = metAt;
  enc.map(3);
  enc.raw(K.pt);
  enc.f32(metPt);
  enc.raw(K.phi);
  enc.f32(metPhi);
  enc.raw(K.sumEt);
  enc.f32(sumEt);
  enc.pos = end;

  enc.raw(K.payload);
  const head = enc.bytes();

  // Payload: a bin field making the record exactly `target` bytes when that is possible.
  const { header, length } = binLayout(Math.max(2, target - head.length));
  const total = head.length + header + length;
  const payloadStart = head.length + header;
  // Place the record so the payload starts on a 4-byte boundary of the ArrayBuffer and can be
  // filled through a Uint32Array.
  const shift = (4 - (payloadStart % 4)) % 4;
  const ab = new ArrayBuffer(total + shift);
  const out = Buffer.from(ab, shift, total);
  head.copy(out, 0);
  writeBinHeader(out, head.length, header, length);
  fillPayload(ab, shift + payloadStart, length, eventKey(p.seed, fileIndex, entry, STREAM_PAYLOAD));
  return out;
}

const METROOM = Buffer.alloc(29);

/**
 * Fills `length` bytes at `at` (a multiple of 4) of `ab` with the payload stream: successive
 * xoshiro128** outputs, each written as 4 little-endian bytes; the last output is cut short
 * when length is not a multiple of 4.
 */
function fillPayload(ab: ArrayBuffer, at: number, length: number, key: number[]): void {
  const rng = Xoshiro128.fromKey(key);
  const whole = length >>> 2;
  rng.fill(new Uint32Array(ab, at, whole));
  if (!LITTLE_ENDIAN) Buffer.from(ab, at, whole * 4).swap32();
  const rest = length & 3;
  if (rest > 0) {
    const last = rng.nextUint32();
    const bytes = new Uint8Array(ab, at + whole * 4, rest);
    for (let i = 0; i < rest; i++) bytes[i] = (last >>> (8 * i)) & 0xff;
  }
}
