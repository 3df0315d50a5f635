/** Summaries of a V8 .cpuprofile (node --cpu-prof): self time by function and by component. */
import { readFileSync } from 'node:fs';
import { REPO } from './paths.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  readonly name: string;
  readonly where: string;
  readonly component: string;
  readonly selfMs: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly functions: readonly FunctionTime[];
  readonly components: readonly { readonly component: string; readonly selfMs: number }[];
}

/** Which part of the system a frame belongs to, from its script URL. */
export function componentOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'native (uWS, libuv, syscalls, V8 outside JS)';
  if (url === '') return 'native (uWS, libuv, syscalls, V8 outside JS)';
  const m = /packages\/(\w+)\/(?:src|dist)\/(?:(\w+)\/)?/.exec(url);
  if (m) return m[1] === 'server' && m[2] ? `ess server: ${m[2]}/` : `ess ${m[1]}`;
  if (url.includes('/uws-js-unofficial/')) return 'uWebSockets.js (JS side)';
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  return 'other';
}

function shortWhere(url: string, line: number): string {
  if (!url) return '(native)';
  let u = url.replace(/^file:\/\//, '');
  u = u.replace(`${REPO}/`, '');
  u = u.replace(/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '');
  // Code run through tsx is compiled onto one line: its line numbers say nothing.
  return line > 0 ? `${u}:${line + 1}` : u;
}

/** A window of the profile, in ms before the profile's end (the process's exit). */
export interface ProfileWindow {
  readonly fromMsBeforeEnd: number;
  readonly toMsBeforeEnd: number;
}

export function summarizeProfile(path: string, top = 15, window?: ProfileWindow): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const from = window ? p.endTime - window.fromMsBeforeEnd * 1000 : -Infinity;
  const to = window ? p.endTime - window.toMsBeforeEnd * 1000 : Infinity;
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const id = p.samples[i]!;
    // timeDeltas[i] is the time before sample i; attribute the following delta to it.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  /** An anonymous function is named after the function it was created in. */
  const nameOf = (n: ProfileNode): string => {
    if (n.callFrame.functionName) return n.callFrame.functionName;
    const up = parent.get(n.id);
    const pn = up !== undefined ? byId.get(up) : undefined;
    return pn && pn.callFrame.functionName && pn.callFrame.url === n.callFrame.url ? `(anonymous in ${pn.callFrame.functionName})` : '(anonymous)';
  };
  const fns = new Map<string, { name: string; where: string; component: string; selfMs: number }>();
  const comps = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const name = nameOf(n);
    const url = n.callFrame.url;
    total += ms;
    const component = componentOf(url, name);
    if (component === 'idle') {
      idle += ms;
      continue;
    }
    const key = `${name}@${url}:${n.callFrame.lineNumber}:${n.callFrame.columnNumber}`;
    const f = fns.get(key) ?? { name, where: shortWhere(url, n.callFrame.lineNumber), component, selfMs: 0 };
    f.selfMs += ms;
    fns.set(key, f);
    comps.set(component, (comps.get(component) ?? 0) + ms);
  }
  const functions = [...fns.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  const components = [...comps].map(([component, selfMs]) => ({ component, selfMs })).sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: total, idleMs: idle, busyMs: total - idle, functions, components };
}
