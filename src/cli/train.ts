import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stateSlots } from '../autodiff/optimizer.js';
import { channelStats } from '../data/augment.js';
import { checkLabels, type Dataset } from '../data/dataset.js';
import { type DataSource, loadDataset, parseSource } from '../data/sources.js';
import { ConvlabError } from '../ir/errors.js';
import { type Graph, inputShape } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { formatShape } from '../ir/shape.js';
import { tensorSpecs } from '../runtime/init.js';
import { type Checkpoint, type CheckpointState, readCheckpoint } from '../train/checkpoint.js';
import { FILES, stepsPerEpoch, type TrainConfig, type TrainResult, train } from '../train/loop.js';
import { clock, lineSink, streamSink } from '../train/progress.js';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.js';
import { buildModel, getModel } from '../zoo/index.js';
import type { Command, CommandIO, Values } from './command.js';
import { json, table, thousands } from './format.js';
import { loadModel } from './options.js';

/**
 * `convlab train MODEL --data SOURCE --out DIR` (docs/cli.md). Everything a user can get
 * wrong is checked before the training graph is compiled: the options, the data (read and checked
 * whole), the model against the data, a checkpoint to resume against the model and the options,
 * and the output folder. Then src/train/loop.ts trains.
 */

/** The defaults, chosen for `convlab train resnet20 --data fashion-mnist --out DIR` to reach 92% test accuracy. */
export const DEFAULTS = {
  epochs: 10,
  batch: 128,
  sgd: { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
  // torch.optim.AdamW's own defaults, with the usual lr of 1e-3.
  adamw: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  schedule: 'cosine' as ScheduleKind,
  warmup: 1,
  seed: 0,
};

/**
 * Augmentation by kind of data: random crops with zero padding and horizontal flips, as the
 * papers train on these sets (CIFAR: pad 4 and flips, He et al. 2015); Fashion-MNIST's 28x28
 * images take pad 2. Digits and the synthetic set's oriented gratings are not mirror-symmetric (a
 * flip changes their class), so they get no flips; the synthetic set needs no augmentation.
 */
const AUGMENT: Record<DataSource['kind'], (size: number) => { pad: number; flip: boolean }> = {
  'fashion-mnist': () => ({ pad: 2, flip: true }),
  mnist: () => ({ pad: 2, flip: false }),
  idx: () => ({ pad: 2, flip: false }),
  cifar10: () => ({ pad: 4, flip: true }),
  cifar100: () => ({ pad: 4, flip: true }),
  folder: (size) => ({ pad: Math.round(size / 8), flip: true }),
  synthetic: () => ({ pad: 0, flip: false }),
};

const USAGE =
  'convlab train MODEL --data SOURCE --out DIR [--epochs E] [--batch B] [--lr X] [--optimizer sgd|adamw] ' +
  '[--momentum M] [--weight-decay W] [--nesterov|--no-nesterov] [--schedule cosine|step|constant] [--warmup EPOCHS] ' +
  '[--label-smoothing E] [--aux-weight W] [--pad P] [--flip|--no-flip] [--no-aux] [--limit N] [--seed S] [--resume] [--json]';

const string = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;

/** What the user gave explicitly, parsed; everything else comes from the defaults or the checkpoint. */
interface Given {
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: 'sgd' | 'adamw';
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  schedule?: ScheduleKind;
  warmup?: number;
  labelSmoothing?: number;
  auxWeight?: number;
  pad?: number;
  flip?: boolean;
  aux?: boolean;
  limit?: number;
  seed?: number;
}

function number(
  values: Values,
  option: string,
  check: { integer?: boolean; min?: number; above?: number; below?: number },
): number | undefined {
  const text = values[option];
  if (text === undefined) return undefined;
  const v = Number(text);
  const ok =
    typeof text === 'string' &&
    text.trim() !== '' &&
    Number.isFinite(v) &&
    (!check.integer || Number.isSafeInteger(v)) &&
    (check.min === undefined || v >= check.min) &&
    (check.above === undefined || v > check.above) &&
    (check.below === undefined || v < check.below);
  if (!ok) {
    const range = [
      check.integer ? 'an integer' : 'a number',
      check.min !== undefined ? `>= ${check.min}` : '',
      check.above !== undefined ? `> ${check.above}` : '',
      check.below !== undefined ? `< ${check.below}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    throw new ConvlabError(`--${option} must be ${range}, got '${String(text)}'`);
  }
  return v;
}

function either(values: Values, yes: string, no: string): boolean | undefined {
  if (values[yes] && values[no]) throw new ConvlabError(`give --${yes} or --${no}, not both`);
  return values[yes] ? true : values[no] ? false : undefined;
}

function parseGiven(values: Values): Given {
  const g: Given = {};
  const set = <K extends keyof Given>(key: K, v: Given[K] | undefined) => {
    if (v !== undefined) g[key] = v;
  };
  set('epochs', number(values, 'epochs', { integer: true, min: 1 }));
  set('batch', number(values, 'batch', { integer: true, min: 1 }));
  set('lr', number(values, 'lr', { above: 0 }));
  const optimizer = values['optimizer'];
  if (optimizer !== undefined && optimizer !== 'sgd' && optimizer !== 'adamw') {
    throw new ConvlabError(`--optimizer must be sgd or adamw, got '${String(optimizer)}'`);
  }
  set('optimizer', optimizer);
  set('momentum', number(values, 'momentum', { min: 0, below: 1 }));
  set('weightDecay', number(values, 'weight-decay', { min: 0 }));
  set('nesterov', either(values, 'nesterov', 'no-nesterov'));
  const kind = values['schedule'];
  if (kind !== undefined && !SCHEDULES.includes(kind as ScheduleKind)) {
    throw new ConvlabError(`--schedule must be one of ${SCHEDULES.join(', ')}, got '${String(kind)}'`);
  }
  set('schedule', kind as ScheduleKind | undefined);
  set('warmup', number(values, 'warmup', { min: 0 }));
  set('labelSmoothing', number(values, 'label-smoothing', { min: 0, below: 1 }));
  set('auxWeight', number(values, 'aux-weight', { min: 0 }));
  set('pad', number(values, 'pad', { integer: true, min: 0 }));
  set('flip', either(values, 'flip', 'no-flip'));
  if (values['no-aux']) g.aux = false;
  set('limit', number(values, 'limit', { integer: true, min: 1 }));
  set('seed', number(values, 'seed', { integer: true, min: 0 }));
  if (g.optimizer === 'adamw' && (g.momentum !== undefined || g.nesterov !== undefined)) {
    throw new ConvlabError('--momentum and --nesterov apply to sgd; adamw has fixed betas (0.9, 0.999)');
  }
  return g;
}

/** The configuration a fresh run takes: the defaults for its data and optimiser, with what was given. */
function freshConfig(
  g: Given,
  model: string,
  graph: Graph,
  source: string,
  kind: DataSource['kind'],
  data: Dataset,
  normalise: TrainConfig['normalise'],
): TrainConfig {
  const epochs = g.epochs ?? DEFAULTS.epochs;
  const optimizer = g.optimizer ?? 'sgd';
  const sgd = DEFAULTS.sgd;
  const adamw = DEFAULTS.adamw;
  const warmup = g.warmup ?? Math.min(DEFAULTS.warmup, epochs - 1);
  if (warmup >= epochs) {
    throw new ConvlabError(`--warmup ${warmup} must be shorter than the run (--epochs ${epochs})`);
  }
  const augment = AUGMENT[kind](data.train.shape[1]);
  return {
    model,
    graph: graph.name,
    data: source,
    limit: g.limit ?? null,
    epochs,
    batch: g.batch ?? DEFAULTS.batch,
    lr: g.lr ?? (optimizer === 'sgd' ? sgd.lr : adamw.lr),
    optimizer:
      optimizer === 'sgd'
        ? {
            kind: 'sgd',
            momentum: g.momentum ?? sgd.momentum,
            nesterov: (g.nesterov ?? sgd.nesterov) && (g.momentum ?? sgd.momentum) > 0,
            weightDecay: g.weightDecay ?? sgd.weightDecay,
          }
        : {
            kind: 'adamw',
            beta1: adamw.beta1,
            beta2: adamw.beta2,
            eps: adamw.eps,
            weightDecay: g.weightDecay ?? adamw.weightDecay,
          },
    schedule: g.schedule ?? DEFAULTS.schedule,
    warmup,
    labelSmoothing: g.labelSmoothing ?? 0,
    auxWeight: g.auxWeight ?? null,
    aux: g.aux ?? true,
    seed: g.seed ?? DEFAULTS.seed,
    augment: { pad: g.pad ?? augment.pad, flip: g.flip ?? augment.flip },
    normalise,
  };
}

/**
 * A resumed run keeps the checkpoint's configuration. Options given again must agree with it;
 * only --epochs may change (to train longer; the schedule then spans the new length).
 */
function resumedConfig(g: Given, checkpoint: CheckpointState, model: string, source: string): TrainConfig {
  const saved = checkpoint.config;
  const conflicts: string[] = [];
  const check = (option: string, given: unknown, was: unknown) => {
    if (given !== undefined && JSON.stringify(given) !== JSON.stringify(was)) {
      conflicts.push(`${option} ${String(given)} (the checkpoint has ${JSON.stringify(was) ?? 'none'})`);
    }
  };
  const o = saved.optimizer;
  check('MODEL', model, saved.model);
  check('--data', source, saved.data);
  check('--limit', g.limit, saved.limit ?? undefined);
  check('--batch', g.batch, saved.batch);
  check('--lr', g.lr, saved.lr);
  check('--optimizer', g.optimizer, o.kind);
  check('--momentum', g.momentum, o.kind === 'sgd' ? o.momentum : undefined);
  check('--nesterov', g.nesterov, o.kind === 'sgd' ? o.nesterov : undefined);
  check('--weight-decay', g.weightDecay, o.weightDecay);
  check('--schedule', g.schedule, saved.schedule);
  check('--warmup', g.warmup, saved.warmup);
  check('--label-smoothing', g.labelSmoothing, saved.labelSmoothing);
  check('--aux-weight', g.auxWeight, saved.auxWeight);
  check('--no-aux', g.aux === false ? true : undefined, !saved.aux);
  check('--seed', g.seed, saved.seed);
  check('--pad', g.pad, saved.augment.pad);
  check('--flip', g.flip, saved.augment.flip);
  if (conflicts.length) {
    throw new ConvlabError(
      `--resume continues a run with its own configuration, and ${conflicts.join(', ')}: ` +
        'drop those options (only --epochs may change), or start a new run in another --out',
    );
  }
  const epochs = g.epochs ?? saved.epochs;
  const done = checkpoint.epoch + (checkpoint.partial.steps > 0 ? 1 : 0);
  if (epochs < done) {
    throw new ConvlabError(`--epochs ${epochs} is fewer than the ${done} epochs the checkpoint has reached`);
  }
  if (saved.warmup >= epochs) {
    throw new ConvlabError(
      `--epochs ${epochs} must be longer than the run's warm-up (${saved.warmup} epochs)`,
    );
  }
  return { ...saved, epochs };
}

/** The class count of a graph: the last dimension of its main output. */
function classesOf(graph: Graph): number {
  const r = resolveGraph(graph);
  const main = r.outputs.find((o) => o.role === 'main')!;
  const shape = r.byName.get(main.node)!.ctx.output;
  if (shape.length !== 2) {
    throw new ConvlabError(
      `'${graph.name}' outputs ${formatShape(shape)}; training needs a classifier with output [N, classes]`,
    );
  }
  return shape[1]!;
}

const isSpec = (arg: string) => arg.toLowerCase().endsWith('.json');

/** The model for the data: a zoo model is built for it; a spec must already fit it. */
function modelFor(arg: string, values: Values, data: Dataset, aux: boolean): Graph {
  const shape = data.train.shape;
  if (!isSpec(arg)) {
    return buildModel(arg, { input: shape, classes: data.train.classes, aux });
  }
  const graph = loadModel(arg, aux ? {} : { 'no-aux': true });
  const input = inputShape(graph);
  if (input.join('x') !== shape.join('x')) {
    throw new ConvlabError(
      `spec '${arg}' takes ${input.join('x')} inputs but the ${values['data']} images are ${shape.join('x')}; ` +
        `set the spec's "input" to [${shape.join(', ')}]`,
    );
  }
  const classes = classesOf(graph);
  checkLabels(data.train.labels, classes, `${data.train.name} for spec '${arg}' (${classes} outputs)`);
  checkLabels(data.test.labels, classes, `${data.test.name} for spec '${arg}' (${classes} outputs)`);
  return graph;
}

/** What the data should look like before it is read: the spec's or the zoo model's input. */
function dataHints(arg: string): { shape: readonly [number, number, number]; classes?: number } {
  if (!isSpec(arg)) return { shape: getModel(arg).input };
  const graph = loadModel(arg, {});
  return { shape: inputShape(graph), classes: classesOf(graph) };
}

/** The checkpoint must hold every parameter with its optimiser slots, and nothing foreign. */
function checkCheckpoint(checkpoint: Checkpoint, graph: Graph, config: TrainConfig, path: string): void {
  const expected = new Map<string, { shape: readonly number[]; dtype: string; required: boolean }>();
  for (const [name, { spec }] of tensorSpecs(resolveGraph(graph))) {
    expected.set(name, { shape: spec.shape, dtype: spec.dtype, required: spec.role === 'param' });
    if (spec.role !== 'param') continue;
    for (const slot of stateSlots(config.optimizer)) {
      expected.set(`${name}.${slot}`, { shape: spec.shape, dtype: 'float32', required: true });
    }
  }
  const problems: string[] = [];
  for (const [name, e] of expected) {
    const t = checkpoint.tensors.get(name);
    if (!t) {
      if (e.required) problems.push(`missing ${name}`);
    } else if (t.dtype !== e.dtype || t.shape.join(',') !== e.shape.join(',')) {
      problems.push(
        `${name} is ${t.dtype} ${formatShape(t.shape)}, the model needs ${e.dtype} ${formatShape(e.shape)}`,
      );
    }
  }
  for (const name of checkpoint.tensors.keys()) if (!expected.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    const more = problems.length > 4 ? `; and ${problems.length - 4} more` : '';
    throw new ConvlabError(
      `checkpoint '${path}' does not fit ${graph.name} trained with ${config.optimizer.kind}: ${problems.slice(0, 4).join('; ')}${more}`,
    );
  }
}

/** The output folder exists (created if need be) and takes files; a fresh run does not overwrite another. */
function prepareOut(dir: string, resume: boolean): void {
  const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ConvlabError(`cannot create the output folder --out '${dir}': ${why(e)}`);
  }
  if (!statSync(dir).isDirectory()) throw new ConvlabError(`--out '${dir}' is not a folder`);
  const probe = join(dir, `.convlab-write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new ConvlabError(`cannot write into the output folder --out '${dir}': ${why(e)}`);
  }
  if (!resume && existsSync(join(dir, FILES.checkpoint))) {
    throw new ConvlabError(
      `--out '${dir}' already holds a training run (${FILES.checkpoint}): continue it with --resume, or choose another --out`,
    );
  }
}

/** The source's kind; its message lists the accepted forms on several lines, joined here into one. */
function sourceKind(source: string): DataSource['kind'] {
  try {
    return parseSource(source).kind;
  } catch (e) {
    if (e instanceof ConvlabError)
      throw new ConvlabError(e.message.replace(/:\s*\n\s*/, ': ').replace(/\s*\n\s*/g, '; '));
    throw e;
  }
}

export const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * A stop flag raised by SIGINT/SIGTERM: the loop checkpoints after the current step. A second signal
 * at least a second later exits at once. Closer ones are the same request delivered twice: Ctrl-C
 * signals the whole foreground process group, and a wrapper such as npx or tsx also forwards it to
 * this process; while onnxruntime runs a step, both wait and arrive together.
 */
export function catchSignals(note: (text: string) => void): {
  stop: () => string | undefined;
  release: () => void;
} {
  let caught: { signal: keyof typeof SIGNALS; at: number } | undefined;
  const handlers = Object.keys(SIGNALS).map((name) => {
    const signal = name as keyof typeof SIGNALS;
    const handler = () => {
      if (caught) {
        if (performance.now() - caught.at > 1000) process.exit(128 + SIGNALS[signal]);
        return;
      }
      caught = { signal, at: performance.now() };
      note(`${signal}: stopping after this step and writing a checkpoint (again to quit at once)`);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return {
    stop: () => caught?.signal,
    release: () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function report(result: TrainResult, config: TrainConfig, graph: Graph, data: Dataset, out: string) {
  const last = result.history.at(-1);
  return {
    model: graph.name,
    data: {
      source: config.data,
      train: data.train.count,
      test: data.test.count,
      shape: data.train.shape,
      classes: data.train.classes,
    },
    out,
    status: result.status,
    ...(result.reason && { reason: result.reason }),
    epochs: config.epochs,
    epoch: result.epoch,
    step: result.step,
    stepsPerEpoch: result.stepsPerEpoch,
    time: result.time,
    final: last
      ? { loss: last.loss, accuracy: last.accuracy, testLoss: last.testLoss, testAccuracy: last.testAccuracy }
      : null,
    history: result.history,
    config,
    files: result.files,
  };
}

export const trainCommand: Command = {
  name: 'train',
  usage: USAGE,
  summary:
    'train on onnxruntime (one compiled graph per step); writes metrics.jsonl, checkpoint.safetensors, model.onnx to --out',
  options: {
    data: string,
    out: string,
    epochs: string,
    batch: string,
    lr: string,
    optimizer: string,
    momentum: string,
    'weight-decay': string,
    nesterov: flag,
    'no-nesterov': flag,
    schedule: string,
    warmup: string,
    'label-smoothing': string,
    'aux-weight': string,
    pad: string,
    flip: flag,
    'no-flip': flag,
    'no-aux': flag,
    limit: string,
    seed: string,
    resume: flag,
    json: flag,
  },
  positionals: [1, 1],
  async run([modelArg], values, io: CommandIO) {
    const arg = modelArg!;
    const source = values['data'];
    const out = values['out'];
    if (typeof source !== 'string' || source === '') {
      throw new ConvlabError(`--data SOURCE is required (e.g. --data fashion-mnist); usage: ${USAGE}`);
    }
    if (typeof out !== 'string' || out === '') {
      throw new ConvlabError(`--out DIR is required: the folder for metrics, checkpoints and the model`);
    }
    const given = parseGiven(values);
    const resume = values['resume'] === true;
    const kind = sourceKind(source);
    const checkpointPath = join(out, FILES.checkpoint);
    const checkpoint = resume ? readCheckpoint(checkpointPath) : undefined;
    const limit = checkpoint ? (checkpoint.state.config.limit ?? undefined) : given.limit;

    const hints = dataHints(arg);
    const data = await loadDataset(source, {
      shape: hints.shape,
      ...(hints.classes !== undefined && { classes: hints.classes }),
      ...(limit !== undefined && { limit }),
    });
    const aux = checkpoint ? checkpoint.state.config.aux : (given.aux ?? true);
    const graph = modelFor(arg, values, data, aux);

    let config: TrainConfig;
    if (checkpoint) {
      config = resumedConfig(given, checkpoint.state, arg, source);
      checkCheckpoint(checkpoint, graph, config, checkpointPath);
    } else {
      const batch = given.batch ?? DEFAULTS.batch;
      if (batch > data.train.count) {
        throw new ConvlabError(
          `--batch ${batch} is larger than the ${data.train.count} training samples of ${data.train.name}; use a smaller --batch${given.limit ? ' or a larger --limit' : ''}`,
        );
      }
      config = freshConfig(given, arg, graph, source, kind, data, await channelStats(data.train));
    }
    prepareOut(out, resume);

    const steps = stepsPerEpoch(data.train.count, config.batch);
    const params = [...tensorSpecs(resolveGraph(graph)).values()]
      .filter((t) => t.spec.role === 'param')
      .reduce((s, t) => s + t.spec.shape.reduce((a, b) => a * b, 1), 0);
    const o = config.optimizer;
    io.stderr(
      `${checkpoint ? `resuming at epoch ${checkpoint.state.epoch}, step ${checkpoint.state.step}: ` : ''}` +
        `training ${graph.name} (${thousands(params)} params) on ${source}: ${data.train.count} training / ` +
        `${data.test.count} test images ${data.train.shape.join('x')}, ${data.train.classes} classes; ` +
        `${config.epochs} epochs of ${steps} steps, batch ${config.batch}, ` +
        `${o.kind}${o.kind === 'sgd' ? ` momentum ${o.momentum}${o.nesterov ? ' nesterov' : ''}` : ''} ` +
        `lr ${config.lr} ${config.schedule}${config.warmup ? ` warm-up ${config.warmup}` : ''}, weight decay ${o.weightDecay}`,
    );
    const sink = process.stderr.isTTY ? streamSink(process.stderr) : lineSink(io.stderr);
    const signals = catchSignals((text) => sink.write(`\n${text}\n`));
    let result: TrainResult;
    try {
      result = await train({
        graph,
        data,
        config,
        out,
        ...(checkpoint && { resume: checkpoint }),
        progress: sink,
        stop: signals.stop,
      });
    } finally {
      signals.release();
    }

    const summary = report(result, config, graph, data, out);
    const stopped = result.status === 'stopped';
    if (stopped) {
      io.stderr(
        `stopped by ${result.reason} at epoch ${result.epoch + 1}, step ${result.step}: checkpoint written to ` +
          `${result.files.checkpoint}; continue with the same command and --resume`,
      );
    }
    const code = stopped ? 128 + (SIGNALS[result.reason as keyof typeof SIGNALS] ?? 0) : 0;
    if (values['json']) {
      io.stdout(json(summary));
      return code;
    }
    if (result.history.length) {
      io.stdout(
        table(
          ['epoch', 'step', 'lr', 'train loss', 'train acc', 'test loss', 'test acc', 'img/s', 'time'],
          result.history.map((h) => [
            String(h.epoch),
            String(h.step),
            h.lr.toPrecision(3),
            h.loss.toFixed(4),
            pct(h.accuracy),
            h.testLoss.toFixed(4),
            pct(h.testAccuracy),
            h.imagesPerSec.toFixed(0),
            clock(h.time),
          ]),
          ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        ),
      );
    }
    if (!stopped) {
      const last = result.history.at(-1);
      io.stdout(
        `\n${graph.name}: test accuracy ${last ? pct(last.testAccuracy) : '-'} after ${result.epoch} epochs ` +
          `(${clock(result.time)}); ${FILES.model}, ${FILES.weights}, ${FILES.metrics} and ${FILES.checkpoint} in ${out}`,
      );
    }
    return code;
  },
};
