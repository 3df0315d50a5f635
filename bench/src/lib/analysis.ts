/**
 * The closing note of BENCHMARKS.md: the main ratios of this run, where ESS is behind and why,
 * and the product changes that would close the gaps — written from this run's numbers.
 */
import type { BenchContext } from './context.js';
import type { ProfileSummary } from './cpuprofile.js';
import type { RunInfo } from './report.js';
import { num } from './stats.js';

const pct = (x: number) => `${Math.round(x * 100)} %`;

/** Share of the profiled node's busy time spent in frames matching `test`. */
function share(p: ProfileSummary | undefined, test: (component: string, name: string) => boolean): number {
  if (!p || !(p.busyMs > 0)) return NaN;
  // Components cover everything; functions only the top ones, so use components where possible.
  return p.components.filter((c) => test(c.component, '')).reduce((a, c) => a + c.selfMs, 0) / p.busyMs;
}

function fnShare(p: ProfileSummary | undefined, names: readonly string[]): number {
  if (!p || !(p.busyMs > 0)) return NaN;
  return p.functions.filter((f) => names.some((n) => f.name === n || f.name.startsWith(n))).reduce((a, f) => a + f.selfMs, 0) / p.busyMs;
}

export function closingNote(ctx: BenchContext, info: RunInfo): string[] {
  const h = (k: string) => ctx.headlines.get(k);
  const raw = (k: string) => h(k)?.raw;
  const out: string[] = [];
  const bullet = (k: string) => {
    const x = h(k);
    if (x) out.push(`- ${x.label}: **${x.value}**`);
  };
  out.push('**The main ratios of this run** (ESS over the other, per repetition, then median ±half-range):');
  out.push('');
  for (const k of ['essGbps', 'essVsCeiling', 'essVsNginx', 'essVsNginx1', 'essVsXrootd', 'essVsXrootd1', 'essVsCurl', 'essVsXrdcp', 'essCpuPerGB', 'poolGain']) bullet(k);
  for (const k of ['eff50', 'steady50', 'first50', 'memPerConn', 'dispatchRate', 'slowHold', 'warmVsCold']) bullet(k);
  out.push('');

  const prof = ctx.raw.profile as (ProfileSummary & { probe?: { plain: { fresh: number; reused: number; crc: number } } }) | undefined;
  const gc = share(prof, (c) => c === 'garbage collection');
  const copy = fnShare(prof, ['_copyActual', 'createUnsafeBuffer']);
  const send = fnShare(prof, ['(anonymous in flush)']);
  const crc = share(prof, (c) => c === 'node: zlib');
  const dispatch = share(prof, (c) => c.startsWith('ess server: dispatch') || c === 'npm: better-sqlite3');
  const essCpu = raw('essCpuPerGB');
  const noPoolCpu = raw('noPoolCpu');
  const nginxCpu = raw('cpu_nginx4');
  const xrdCpu = raw('cpu_xrd4');
  const ceilCpu = raw('cpu_ceiling');
  const behind = [raw('essVsNginx'), raw('essVsXrootd'), raw('essVsCeiling')].some((r) => r !== undefined && r < 1);

  out.push('### Where ESS is behind, and why');
  out.push('');
  if (essCpu !== undefined) {
    out.push(
      `- **CPU per byte on the node.** On two cores shared by every server and every client, throughput is set by CPU per byte. The ESS node spent **${num(essCpu)} CPU-seconds per GB**, the bare uWS.js ceiling ${num(ceilCpu ?? NaN)}, nginx ${num(nginxCpu ?? NaN)} and XRootD ${num(xrdCpu ?? NaN)} (scenario 1, same N). ` +
        (behind ? 'That, not the transport, is why ESS is behind where it is: nginx and XRootD hand the page cache to the kernel with sendfile, the ceiling sends prebuilt frames, while the node copies every chunk from its cache into a frame, checksums it, and dispatches every range through its ledger. ' : '') +
        (prof
          ? `The profile (section "Where the time goes") splits the node's busy time: garbage collection ${pct(gc)}, copying each chunk from the cache into its frame ${pct(copy)} (\`_copyActual\`; in a tight loop this machine copies ${num(prof.probe?.plain.reused ?? NaN)} GB/s into a reused buffer and ${num(prof.probe?.plain.fresh ?? NaN)} GB/s into fresh ones), the uWS sends themselves ${pct(send)}, CRC-32 of the payload ${pct(crc)}, and dispatch with the SQLite ledger ${pct(dispatch)}.`
          : ''),
    );
  }
  if (raw('cpu_ceilAlloc') !== undefined && raw('cpu_ceilPool') !== undefined && ceilCpu !== undefined) {
    const alloc = raw('cpu_ceilAlloc')!;
    const poolCpu = raw('cpu_ceilPool')!;
    out.push(
      `- **A fresh frame per chunk on the bare transport.** The ceiling server spent ${num(ceilCpu)} CPU-s/GB sending prebuilt frames, ${num(alloc)} when it copied each frame into a freshly allocated buffer first, and ${num(poolCpu)} when it copied into a few reused buffers. ` +
        (alloc > 1.2 * Math.max(ceilCpu, poolCpu)
          ? 'Allocating a frame per send costs even there; reusing buffers takes it back.'
          : 'There, where each frame is freed as soon as it is sent and the heap is tiny, a fresh buffer per send costs little: the allocation alone does not explain the node\'s cost. In the node a frame lives longer (read two chunks ahead, queued in the outbox) beside a larger heap, so garbage collection runs more and the copies land in fresh pages — the profile and the probe in "Where the time goes" show both.'),
    );
  }
  if (raw('poolGain') !== undefined) {
    out.push(
      `- **What the profile changed.** The node's first profile put a fresh 1 MiB frame per chunk at the top: page faults while copying into new memory, and garbage collection driven by a megabyte of external memory per chunk. Chunk frames now come from a pool and go back once uWS has their bytes (\`--frame-pool\`, packages/server/src/marshal/FramePool.ts). In this run the default node delivered **${h('poolGain')!.value}** the throughput of the same node with reuse off (\`--frame-pool 0\`, the code before the change), at ${num(essCpu ?? NaN)} CPU-s/GB instead of ${num(noPoolCpu ?? NaN)}. The same profile showed the dispatcher's prefetch listing every task ever created on every claim; it now asks the ledger for the active ones only.`,
    );
  }
  const cli = ctx.raw.throughput as { results?: Record<string, Record<string, { seconds: number; bytes: number }[]>> } | undefined;
  if (cli?.results?.worker) {
    out.push(
      '- **The real `ess worker` CLI** (range files on tmpfs) is well below the protocol-only workers at the same N: it does per range what the raw workers skip (validating every frame with zod, creating the `.part` file, writing, fsync, rename, then reporting), and in a one-off profile its process was busy only about half the time — it waits on that per-range file work, so a wider window or deeper prefetch for the CLI, or writing ranges without fsync on tmpfs, is where to look.',
    );
  }
  const lat = ctx.raw.latency as { results?: Record<string, Record<string, { firstS: number; steadyWaitS: number; efficiency: number }[]>> } | undefined;
  const med = (k: string, f: (r: { firstS: number; steadyWaitS: number; efficiency: number }) => number) => {
    const xs = (lat?.results?.[k]?.['50'] ?? []).map(f).sort((a, b) => a - b);
    return xs.length > 0 ? xs[xs.length >> 1]! : NaN;
  };
  if (h('first50') && med('ess', (r) => r.firstS) > med('direct', (r) => r.firstS)) {
    const hides = med('ess', (r) => r.steadyWaitS) < med('direct', (r) => r.steadyWaitS);
    out.push(
      `- **Cold start from a WAN origin** (scenario 2): the first range reaches an ESS worker later than a direct GET returns (${h('first50')!.value} s at 50 ms). Its prefetcher loads at most 4 blocks at a time, a session reads only 2 chunks ahead of what it sends and streams its ranges one after another, and the workers' first reads share the source's 8 connections with the prefetch loads, without priority; in production the node would also read each file's footer on first use (here it was read before the clock started, as the direct reader was given the byte spans). ` +
        (hides
          ? `After the first range ESS hides the latency better than reading on demand (wait after the first range ${h('steady50')?.value ?? '–'} s, ESS / direct / read-ahead); a hand-written one-range read-ahead does as well here because a range takes longer to process than to fetch, which is the easy case.`
          : `In this run ESS did not hide the latency after the first range either (wait after the first range ${h('steady50')?.value ?? '–'} s, ESS / direct / read-ahead): the node, which needs several CPU-seconds per GB, competed for the two cores with the workers, the proxy and the origin${info.otherCpuSeconds / Math.max(1, info.machineCpuSeconds) > 0.2 ? ' and with the other work on the machine' : ''}.`),
    );
  }
  out.push('');
  out.push('### What would close the remaining gaps');
  out.push('');
  out.push(
    `1. **Send cached blocks without copying them into a frame.** The ceiling rows bound what the transport itself costs (${num(raw('cpu_ceilPool') ?? NaN)}–${num(ceilCpu ?? NaN)} CPU-s/GB); above that the node copies each chunk from its cache into the frame (${pct(copy || 0)} of its busy time) and collects garbage (${pct(gc || 0)}). uWS can send one WebSocket message as fragments (\`sendFirstFragment\`/\`sendLastFragment\`): the chunk header, then the cached block's bytes as they are. That needs the transport regression test of TRANSPORT-NOTES extended to fragments before it can be trusted with this uWS build.`,
  );
  out.push(
    `2. **Dispatch per range**: the prefetcher still runs a pass per claim (folded while one runs), and with one-event ranges the ledger's writes dominate (dispatch and ledger took ${pct(dispatch)} of the node's time with ~2 MB ranges here; the dispatch rate of one-event ranges is in scenarios 3 and 6). Claiming several ranges per ledger transaction when a worker's prefetch depth allows would cut that.`,
  );
  out.push(
    '3. **Cold start**: (a) in `KnowledgeBase.resolveFile` (packages/server/src/catalogue/KnowledgeBase.ts) hand the `EventFile` it opens to the catalogue\'s index cache (`Catalogue.eventFile`) instead of dropping it — one WAN round trip fewer per file on first use; (b) expose the cache\'s `prefetchConcurrency` (packages/server/src/cache/CacheOptions.ts, default 4, no CLI flag) as `ess serve --prefetch-concurrency` and default it to the source\'s connection count: with 1 MiB blocks the prefetch rate from an origin is `prefetchConcurrency × 1 MiB / RTT`, about 40 MB/s at 100 ms; (c) let a worker\'s reads go ahead of prefetch loads on a source\'s connections (a priority in `HttpSource`/`ReplicaReader`), and read a freshly assigned range\'s first chunks all at once rather than 2 ahead (`READ_AHEAD` in packages/server/src/stream/WorkerSession.ts) when the worker has nothing else in flight.',
  );
  out.push(
    `4. **CRC-32** (${pct(crc)}) is the protocol's end-marker checksum and stays; it could be computed once per cached block and combined per range (zlib's crc32_combine) when ranges are re-delivered, but that is second order.`,
  );
  out.push('');
  if (info.otherCpuSeconds / Math.max(1, info.machineCpuSeconds) > 0.05) {
    out.push(
      `_Caveat: other processes used ${pct(info.otherCpuSeconds / info.machineCpuSeconds)} of the machine's CPU during this run (see "How this run was made"): absolute GB/s are depressed and noisy; ratios within a repetition are the figures to quote._`,
    );
    out.push('');
  }
  return out;
}
