/**
 * Types of the event record (one MessagePack map per event) as the generator writes it;
 * units: GeV for momenta and masses, radians for angles, mm for impact parameters.
 */

/** Missing transverse momentum. */
export interface Met {
  /** Magnitude, GeV. */
  pt: number;
  /** Azimuth, radians in (-pi, pi). */
  phi: number;
  /** Scalar sum of transverse energy, GeV. */
  sumEt: number;
}

export interface Jet {
  pt: number;
  eta: number;
  phi: number;
  /** Mass, GeV. */
  m: number;
  /** b-tagging score in [0, 1). */
  btag: number;
}

export interface Track {
  pt: number;
  eta: number;
  phi: number;
  /** Charge, -1 or +1. */
  q: number;
  /** Transverse impact parameter, mm. */
  d0: number;
  /** Longitudinal impact parameter, mm. */
  z0: number;
}

/** A muon or an electron. */
export interface Lepton {
  pt: number;
  eta: number;
  phi: number;
  q: number;
  /** Relative isolation (sum of nearby pt / pt), >= 0. */
  iso: number;
}

/** One event as decoded from its record. Producers other than the generator may add fields. */
export interface EventRecord {
  run: number;
  /** Physics event number, unique within the run. */
  event: number;
  /** Luminosity block. */
  lumi: number;
  /** 0-based position in the original dataset file. */
  entry: number;
  /** Unix time, seconds. */
  timestamp: number;
  met: Met;
  jets: Jet[];
  tracks: Track[];
  muons: Lepton[];
  electrons: Lepton[];
  /** Opaque bytes that bring the record to its target size. */
  payload: Uint8Array;
  [key: string]: unknown;
}
