import { rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../data/sources.js';
import { BUDGETS, type Budget } from '../experiments/experiment.js';
import '../experiments/index.js';
import { type AnyExperiment, getExperiment, listExperiments } from '../experiments/registry.js';
import { formatSeconds, verdictSentence, writeReport } from '../experiments/report.js';
import { runExperiment } from '../experiments/runner.js';
import { ConvlabError } from '../ir/errors.js';
import type { TrainingBackend } from '../train/backend.js';
import { makeFolder } from '../train/run_folder.js';
import type { Command, CommandIO, Values } from './command.js';
import { json, table } from './format.js';
import { BACKEND_OPTION, backendOf } from './options.js';
import { catchSignals, SIGNALS } from './train.js';

function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name] ?? fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConvlabError(`--${name} must be ${allowed.join(' or ')}, got '${String(v)}'`);
  }
  return v as T;
}

function count(values: Values, name: string, fallback: number, least: number): number {
  const text = values[name];
  if (text === undefined) return fallback;
  if (!(typeof text === 'string' && /^\d+$/.test(text)) || Number(text) < least) {
    throw new ConvlabError(`--${name} must be an integer of at least ${least}, got '${String(text)}'`);
  }
  return Number(text);
}

/** The output folder, created if need be, and writable; checked before any training starts. */
function prepareOut(dir: string): void {
  makeFolder(dir, `the report folder --out '${dir}'`); // not mkdirSync's recursive form: it spins under /proc
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    const probe = join(dir, `.convlab-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new ConvlabError(
      `cannot write the report into --out '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

interface Plan {
  readonly experiment: AnyExperiment;
  readonly out: string;
  readonly budget: Budget;
  readonly seeds: readonly number[];
  readonly backend: TrainingBackend;
  readonly source: string;
}

async function planOf(name: string, values: Values): Promise<Plan> {
  const experiment = getExperiment(name);
  const out = values['out'];
  if (typeof out !== 'string' || out === '') {
    throw new ConvlabError(`convlab experiment ${name} needs --out DIR, the folder for its report`);
  }
  const budget = oneOf(values, 'budget', BUDGETS, 'full');
  const first = count(values, 'seed', 0, 0);
  const n = count(values, 'seeds', experiment.seeds[budget], 2);
  return {
    experiment,
    out,
    budget,
    seeds: Array.from({ length: n }, (_, i) => first + i),
    backend: await backendOf(values),
    source: typeof values['data'] === 'string' ? values['data'] : 'fashion-mnist',
  };
}

function list(values: Values, io: CommandIO): number {
  const all = listExperiments();
  io.stdout(
    values['json']
      ? json(all.map((e) => ({ name: e.name, title: e.title, seeds: e.seeds })))
      : table(
          ['experiment', 'tests', 'seeds (full)'],
          all.map((e) => [e.name, e.title, String(e.seeds.full)]),
          ['left', 'left', 'right'],
        ),
  );
  return 0;
}

const machine = () => {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.versions.node}`;
};

async function run(name: string, values: Values, io: CommandIO): Promise<number> {
  const p = await planOf(name, values);
  const e = p.experiment;
  prepareOut(p.out);
  // The data is the same for every seed (the seed drives initialisation, order and draws).
  const data = await loadDataset(p.source, { seed: 0 });
  io.stderr(
    `${e.name} (${p.budget} budget, ${p.seeds.length} seeds, ${p.backend.name}) on ${data.name}: ${e.title}`,
  );
  const signals = catchSignals((text) => io.stderr(text));
  let outcome: Awaited<ReturnType<typeof runExperiment>>;
  try {
    outcome = await runExperiment(e, { ...p, data, log: io.stderr, stop: signals.stop });
  } finally {
    signals.release();
  }
  if (outcome.status === 'stopped') {
    io.stderr(
      `stopped by ${outcome.reason} after ${outcome.done} of ${p.seeds.length} seeds; the finished seeds and the ` +
        `interrupted one's checkpoints are in ${join(p.out, 'seeds')}: the same command continues where it stopped`,
    );
    return 128 + (SIGNALS[outcome.reason as keyof typeof SIGNALS] ?? 0);
  }
  const input = { data, source: p.source, budget: p.budget, ...outcome };
  const body = e.report(input);
  const files = writeReport(p.out, e, input, body, {
    source: p.source,
    budget: p.budget,
    seeds: p.seeds,
    backend: p.backend.name,
    seconds: outcome.seconds,
    load: outcome.load,
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
  });
  const verdict = outcome.judgement.settled.verdict;
  io.stdout(
    values['json']
      ? json({
          experiment: e.name,
          budget: p.budget,
          seeds: p.seeds,
          backend: p.backend.name,
          verdict,
          settled: outcome.judgement.settled,
          finding: body.finding,
          seconds: outcome.seconds,
          files,
        })
      : `${e.name}: ${verdictSentence(verdict)} (${formatSeconds(outcome.seconds)}) ${body.finding}\nreport: ${join(p.out, 'report.md')}`,
  );
  return 0;
}

export const experimentCommand: Command = {
  name: 'experiment',
  usage:
    'convlab experiment [NAME --out DIR [--data SOURCE] [--budget quick|full] [--seeds N] [--seed S] [--backend onnxruntime|onednn] [--json]]',
  summary:
    "test one of the canon's claims on real data over several seeds and write DIR/report.md (no NAME: list them)",
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    budget: { type: 'string' },
    seeds: { type: 'string' },
    seed: { type: 'string' },
    ...BACKEND_OPTION,
    json: { type: 'boolean' },
  },
  positionals: [0, 1],
  async run([name], values, io) {
    return name === undefined ? list(values, io) : run(name, values, io);
  },
};
