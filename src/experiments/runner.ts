import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { ConvlabError } from '../ir/errors.js';
import type { SessionOptions } from '../runtime/session.js';
import type { BackendName, TrainingBackend } from '../train/backend.js';
import { writeFileAtomic } from '../train/checkpoint.js';
import type { Budget, Experiment, ReportInput, Scale, SeedContext, Seeded } from './experiment.js';
import { judge, settle } from './judge.js';
import { mean } from './stats.js';
import { Stopped } from './training.js';

/**
 * Runs an experiment's seeds one after the other and judges them. Each seed's measurement is
 * written atomically to DIR/seeds/<full|half>/seed-<S>.json as soon as it is done, beside the
 * budget it was measured at; a run started again on the same folder reads the finished seeds
 * back and measures only the rest, and a seed that was stopped part-way resumes its training runs
 * from their checkpoints in DIR/seeds/<scale>/seed-<S>.work/ (removed once the seed is written).
 */

export interface RunOptions {
  /** The output folder (the report's). */
  readonly out: string;
  readonly data: Dataset;
  readonly source: string;
  readonly budget: Budget;
  /** The seeds, in the order they run. */
  readonly seeds: readonly number[];
  readonly backend: TrainingBackend;
  readonly session?: SessionOptions;
  readonly log: (line: string) => void;
  readonly stop: () => string | undefined;
}

export type RunOutcome<M> =
  | { readonly status: 'stopped'; readonly reason: string; readonly done: number }
  | ({ readonly status: 'completed'; readonly seconds: number; readonly load: number } & Omit<
      ReportInput<M>,
      'data' | 'source' | 'budget'
    >);

/** A seed's file as stored: what it was measured at, then the measurement. */
interface SeedFile<M> {
  readonly key: SeedKey;
  readonly seed: number;
  readonly seconds: number;
  /** The machine's load average (1 minute) when the seed finished: timings under load are longer. */
  readonly load: number;
  readonly measurement: M;
}

/** Everything that decides a seed's result besides the seed. */
interface SeedKey {
  readonly experiment: string;
  readonly budget: Budget;
  readonly plan: unknown;
  readonly source: string;
  readonly backend: BackendName;
  readonly scale: Scale;
}

const seedPath = (out: string, scale: Scale, seed: number) => join(out, 'seeds', scale, `seed-${seed}.json`);
const ELAPSED = 'elapsed.json';

/** Seconds an unfinished seed ran in earlier sessions (written when a session was stopped). */
function elapsedBefore(work: string): number {
  const file = join(work, ELAPSED);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { seconds: number }).seconds : 0;
}

function readSeed<M>(path: string, key: SeedKey): SeedFile<M> | undefined {
  if (!existsSync(path)) return undefined;
  const file = JSON.parse(readFileSync(path, 'utf8')) as SeedFile<M>;
  if (JSON.stringify(file.key) !== JSON.stringify(key)) {
    throw new ConvlabError(
      `${path} was measured with another setting (${JSON.stringify(file.key)}); ` +
        'use another --out, or remove its seeds/ folder to measure afresh',
    );
  }
  return file;
}

/** One seed at one scale: read back if done, else measured (resuming its runs) and written. */
async function seedAt<M>(e: Experiment<M>, o: RunOptions, seed: number, scale: Scale): Promise<SeedFile<M>> {
  const key: SeedKey = {
    experiment: e.name,
    budget: o.budget,
    plan: e.budgets[o.budget],
    source: o.source,
    backend: o.backend.name,
    scale,
  };
  const path = seedPath(o.out, scale, seed);
  const done = readSeed<M>(path, key);
  if (done) {
    o.log(`seed ${seed}${scale === 'half' ? ' (half budget)' : ''}: measured before, read from ${path}`);
    return done;
  }
  const work = path.replace(/\.json$/, '.work');
  mkdirSync(work, { recursive: true });
  const before = elapsedBefore(work);
  const started = performance.now();
  const elapsed = () => before + (performance.now() - started) / 1000;
  o.log(`seed ${seed}${scale === 'half' ? ' (half budget)' : ''}: measuring`);
  const ctx: SeedContext = {
    data: o.data,
    source: o.source,
    budget: o.budget,
    scale,
    seed,
    work,
    log: o.log,
    backend: o.backend,
    stop: o.stop,
    ...(o.session && { session: o.session }),
  };
  let measurement: M;
  try {
    measurement = await e.measure(ctx);
  } catch (err) {
    if (err instanceof Stopped) writeFileSync(join(work, ELAPSED), JSON.stringify({ seconds: elapsed() }));
    throw err;
  }
  const file: SeedFile<M> = { key, seed, seconds: elapsed(), load: loadavg()[0]!, measurement };
  writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(file)}\n`));
  rmSync(work, { recursive: true, force: true });
  return file;
}

const seeded = <M>(f: SeedFile<M>): Seeded<M> => ({
  seed: f.seed,
  seconds: f.seconds,
  measurement: f.measurement,
});

/** Measure every seed (see the file comment), then judge the full and the half budget. */
export async function runExperiment<M>(e: Experiment<M>, o: RunOptions): Promise<RunOutcome<M>> {
  if (o.seeds.length < 2) {
    throw new ConvlabError(
      `an interval needs at least 2 seeds, got ${o.seeds.length}; use --seeds 2 or more`,
    );
  }
  const files: { full: SeedFile<M>; half?: SeedFile<M> }[] = [];
  try {
    for (const seed of o.seeds) {
      if (o.stop()) throw new Stopped(o.stop()!);
      const full = await seedAt(e, o, seed, 'full');
      const half = e.half.kind === 'rerun' ? await seedAt(e, o, seed, 'half') : undefined;
      files.push({ full, ...(half && { half }) });
    }
  } catch (err) {
    if (err instanceof Stopped) return { status: 'stopped', reason: err.reason, done: files.length };
    throw err;
  }
  const full = files.map((f) => seeded(f.full));
  const how = e.half;
  const half =
    how.kind === 'prefix'
      ? full.map((s) => ({ ...s, measurement: how.of(s.measurement) }))
      : files.map((f) => seeded(f.half!));
  // A seed's cost: its full budget, and its half where that is a run of its own.
  const perSeed = files.map((f) => f.full.seconds + (f.half?.seconds ?? 0));
  const judgement = {
    full: judge(
      e.rules,
      full.map((s) => e.effects(s.measurement)),
    ),
    half: judge(
      e.rules,
      half.map((s) => e.effects(s.measurement)),
    ),
  };
  return {
    status: 'completed',
    full,
    half,
    judgement: { ...judgement, settled: settle(judgement.full, judgement.half, mean(perSeed)) },
    seconds: perSeed.reduce((s, x) => s + x, 0),
    load: mean(files.flatMap((f) => [f.full.load, ...(f.half ? [f.half.load] : [])])),
  };
}
