/** A benchmark scenario: a module in this folder, listed in index.ts, that returns one section of BENCHMARKS.md. */
import type { BenchContext, Section } from '../lib/context.js';

export interface Scenario {
  /** For `--only`. */
  readonly id: string;
  readonly title: string;
  /** Rough wall time in quick and full mode (s), for the plan printed at start. */
  readonly estimate: { readonly quick: number; readonly full: number };
  run(ctx: BenchContext): Promise<Section>;
}

/** One transfer measured: payload bytes and events moved, wall seconds, and the serving process's CPU seconds. */
export interface Measure {
  readonly bytes: number;
  readonly events: number;
  readonly seconds: number;
  readonly cpu: number;
}

export const gbps = (m: Measure): number => m.bytes / m.seconds / 1e9;
export const eventsPerSecond = (m: Measure): number => m.events / m.seconds;
export const cpuPerGB = (m: Measure): number => m.cpu / (m.bytes / 1e9);

/** Rejects after `ms` with `what` in the message. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
