import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../data/sources.js';
import type { Budget, Outcome } from '../experiments/experiment.js';
import '../experiments/index.js';
import { getExperiment, listExperiments } from '../experiments/registry.js';
import { formatSeconds, verdictSentence, writeReport } from '../experiments/report.js';
import { ConvlabError } from '../ir/errors.js';
import type { Command, Values } from './command.js';
import { json, table } from './format.js';
import { BACKEND_OPTION, backendOf } from './options.js';

const BUDGETS: readonly Budget[] = ['quick', 'full'];

function budgetOf(values: Values): Budget {
  const b = values['budget'] ?? 'full';
  if (typeof b !== 'string' || !(BUDGETS as readonly string[]).includes(b)) {
    throw new ConvlabError(`--budget must be quick or full, got '${String(b)}'`);
  }
  return b as Budget;
}

/** The output folder, created if need be, and writable; checked before any training starts. */
function prepareOut(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
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

export const experimentCommand: Command = {
  name: 'experiment',
  usage:
    'convlab experiment [NAME --out DIR [--data SOURCE] [--budget quick|full] [--seed S] [--backend onnxruntime|onednn] [--json]]',
  summary: "run one of the canon's training claims on real data and write DIR/report.md (no NAME: list them)",
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    budget: { type: 'string' },
    seed: { type: 'string' },
    ...BACKEND_OPTION,
    json: { type: 'boolean' },
  },
  positionals: [0, 1],
  async run([name], values, io) {
    if (name === undefined) {
      const all = listExperiments();
      io.stdout(
        values['json']
          ? json(all.map((e) => ({ name: e.name, title: e.title })))
          : table(
              ['experiment', 'tests'],
              all.map((e) => [e.name, e.title]),
              ['left', 'left'],
            ),
      );
      return 0;
    }
    const experiment = getExperiment(name);
    const out = values['out'];
    if (typeof out !== 'string' || out === '') {
      throw new ConvlabError(`convlab experiment ${name} needs --out DIR, the folder for its report`);
    }
    const budget = budgetOf(values);
    const seedText = values['seed'];
    if (seedText !== undefined && !(typeof seedText === 'string' && /^\d+$/.test(seedText))) {
      throw new ConvlabError(`--seed must be a non-negative integer, got '${String(seedText)}'`);
    }
    const seed = seedText === undefined ? 0 : Number(seedText);
    const backend = await backendOf(values);
    const source = typeof values['data'] === 'string' ? values['data'] : 'fashion-mnist';
    prepareOut(out);
    const data = await loadDataset(source, { seed });
    // Training runs' files (checkpoints, metrics) go to a temporary folder, not beside the report.
    const scratch = mkdtempSync(join(tmpdir(), `convlab-${experiment.name}-`));
    const started = performance.now();
    io.stderr(`${experiment.name} (${budget} budget) on ${data.name}: ${experiment.title}`);
    let outcome: Outcome;
    try {
      outcome = await experiment.run({ data, source, budget, seed, scratch, log: io.stderr, backend });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpus();
    const files = writeReport(out, experiment, outcome, {
      source,
      budget,
      seed,
      seconds,
      date: new Date().toISOString().slice(0, 10),
      machine: `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.versions.node}`,
    });
    if (values['json']) {
      io.stdout(
        json({
          experiment: experiment.name,
          budget,
          backend: backend.name,
          verdict: outcome.verdict,
          finding: outcome.finding,
          seconds,
          files,
        }),
      );
    } else {
      io.stdout(
        `${experiment.name}: ${verdictSentence(outcome.verdict)} (${formatSeconds(seconds)}) ${outcome.finding}\nreport: ${join(out, 'report.md')}`,
      );
    }
    return 0;
  },
};
