/**
 * `ess gen`: writes a deterministic generated dataset (event files + dataset.json) with the
 * @ess/format generator, showing progress on stderr.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_SIZE_SIGMA,
  GENERATOR_VERSION,
  MANIFEST_NAME,
  MAX_SIZE_MEAN,
  datasetDir,
  normalizeGenParams,
  formatSize,
  generateDataset,
  parseDatasetName,
  parseSize,
  type GenParams,
  type SizeDist,
} from '@ess/format';

interface GenOptions {
  data?: string;
  out?: string;
  dataset: { scope: string; name: string };
  files: number;
  events: number;
  sizeMean: number;
  sizeDist: SizeDist;
  sizeSigma: number;
  seed: number;
}

function intIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}".`);
    }
    return n;
  };
}

function parseDatasetArg(value: string): { scope: string; name: string } {
  try {
    return parseDatasetName(value);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

function parseSizeArg(value: string): number {
  let n: number;
  try {
    n = parseSize(value);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
  if (n < 1 || n > MAX_SIZE_MEAN) throw new InvalidArgumentError(`the mean event size must be from 1 B to ${formatSize(MAX_SIZE_MEAN)}, got "${value}".`);
  return n;
}

function parseSigma(value: string): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3) {
    throw new InvalidArgumentError(`expected a number greater than 0 and at most 3, got "${value}".`);
  }
  return n;
}

/** Progress on stderr: a bar on a terminal, a line every few seconds otherwise. */
function progressReporter(totalFiles: number): { update: (done: number, estimate: number, files: number) => void; stop: () => void } {
  const started = Date.now();
  const rate = (done: number): string => `${formatSize(done / Math.max(0.001, (Date.now() - started) / 1000))}/s`;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'gen [{bar}] {percentage}% | {doneSize} / {totalSize} | {filesDone}/{files} files | {rate} | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let startedBar = false;
    return {
      update(done, estimate, files) {
        const payload = { doneSize: formatSize(done), totalSize: formatSize(estimate), filesDone: files, files: totalFiles, rate: rate(done) };
        if (!startedBar) {
          bar.start(Math.max(1, estimate), done, payload);
          startedBar = true;
        } else {
          bar.setTotal(Math.max(1, estimate));
          bar.update(done, payload);
        }
      },
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update(done, estimate, files) {
      const now = Date.now();
      const finished = files === totalFiles;
      if (!finished && now - lastLine < 5000) return;
      lastLine = now;
      const pct = estimate > 0 ? Math.min(100, Math.floor((100 * done) / estimate)) : 100;
      process.stderr.write(`gen: ${pct}% ${formatSize(done)} / ${formatSize(estimate)}, ${files}/${totalFiles} files, ${rate(done)}\n`);
    },
    stop: () => undefined,
  };
}

/** The `ess gen` command (registered by the `ess` CLI). */
export function genCommand(): Command {
  return new Command('gen')
    .description('generate a deterministic synthetic dataset: event files plus dataset.json (same seed, same bytes)')
    .addOption(new Option('--data <dir>', 'data root: writes to <dir>/datasets/<scope>/<name>').conflicts('out'))
    .addOption(new Option('--out <dir>', 'write the files to exactly this folder'))
    .addOption(new Option('--dataset <scope:name>', 'dataset name, e.g. user.jdoe:test.gen1').argParser(parseDatasetArg).makeOptionMandatory())
    .addOption(new Option('--files <n>', 'number of files').argParser(intIn(1, 1_000_000)).default(4))
    .addOption(new Option('--events <n>', 'events per file').argParser(intIn(1, 100_000_000)).default(100))
    .addOption(new Option('--size-mean <size>', 'mean event size (e.g. 100KiB, 1.5MiB, 2MB, 512)').argParser(parseSizeArg).default(100 * 1024, '100KiB'))
    .addOption(new Option('--size-dist <dist>', 'event size distribution').choices(['fixed', 'exp', 'lognormal']).default('lognormal'))
    .addOption(new Option('--size-sigma <x>', 'sigma of ln(size) for lognormal').argParser(parseSigma).default(DEFAULT_SIZE_SIGMA))
    .addOption(new Option('--seed <n>', 'random seed').argParser(intIn(0, Number.MAX_SAFE_INTEGER)).default(1))
    .option('--virtual', 'write only the dataset description: the server generates the events on request (virtual data)')
    .action(async (opts: GenOptions & { virtual?: boolean }, cmd: Command) => {
      if (opts.data === undefined && opts.out === undefined) {
        cmd.error('error: give --data <dir> (writes to <dir>/datasets/<scope>/<name>) or --out <dir>');
      }
      const { scope, name } = opts.dataset;
      const outDir = opts.out ?? datasetDir(opts.data!, scope, name);
      const params: GenParams = {
        seed: opts.seed,
        scope,
        name,
        files: opts.files,
        eventsPerFile: opts.events,
        sizeMean: opts.sizeMean,
        sizeDist: opts.sizeDist,
        ...(opts.sizeDist === 'lognormal' ? { sizeSigma: opts.sizeSigma } : {}),
      };
      if (opts.virtual) {
        await mkdir(outDir, { recursive: true });
        const manifest = {
          format: 'ess-dataset',
          version: 1,
          scope,
          name,
          dataset: `${scope}:${name}`,
          virtual: true,
          generator: { name: 'ess-gen', version: GENERATOR_VERSION, params: normalizeGenParams(params) },
          files: [],
          totalEvents: params.files * params.eventsPerFile,
          totalBytes: 0,
        };
        await writeFile(join(outDir, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n');
        process.stdout.write(`described virtual ${scope}:${name}: ${params.files} files, ${params.files * params.eventsPerFile} events, generated on request -> ${outDir}\n`);
        return;
      }
      const progress = progressReporter(opts.files);
      const t0 = Date.now();
      let manifest;
      try {
        manifest = await generateDataset(params, outDir, progress.update);
      } catch (e) {
        progress.stop();
        cmd.error(`error: generating ${scope}:${name} failed: ${(e as Error).message}`);
      }
      progress.stop();
      const seconds = (Date.now() - t0) / 1000;
      process.stdout.write(
        `generated ${manifest.dataset}: ${manifest.files.length} files, ${manifest.totalEvents} events, ` +
          `${formatSize(manifest.totalBytes)} in ${seconds.toFixed(1)} s -> ${outDir}\n`,
      );
    });
}
