import { thousands } from '../analysis/format.js';
import { isOnnxPath } from '../import/file.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { tensorSpecs } from '../ir/init.js';
import { resolveGraph } from '../ir/resolve.js';
import type { TrainOverrides } from '../train/config.js';
import { stepsPerEpoch, type TrainResult, train } from '../train/loop.js';
import { checkpointIn, dataKind, type PreparedRun, prepareRun, type RunModel } from '../train/prepare.js';
import { clock, lineSink, streamSink } from '../train/progress.js';
import { FILES, lockRunFolder } from '../train/run_folder.js';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.js';
import type { Command, CommandIO, Values } from './command.js';
import { json, table } from './format.js';
import { BACKEND_OPTION, backendOf, loadModel, numberOption, onnxModel } from './options.js';

/**
 * `convlab train MODEL --data SOURCE --out DIR` (docs/cli.md): the options parsed, then
 * src/train/prepare.ts checks everything a user can get wrong before the training graph is
 * compiled, and src/train/loop.ts trains. Here: arguments, printing, signals and exit codes.
 */

const USAGE =
  'convlab train MODEL --data SOURCE --out DIR [--epochs E] [--batch B] [--lr X] [--optimizer sgd|adamw] ' +
  '[--momentum M] [--weight-decay W] [--nesterov|--no-nesterov] [--schedule cosine|step|constant] [--warmup EPOCHS] ' +
  '[--label-smoothing E] [--aux-weight W] [--pad P] [--flip|--no-flip] [--no-aux] [--limit N] [--seed S] [--resume|--force] ' +
  '[--backend onnxruntime|onednn] [--threads T] [--json]';

const string = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;

const number = numberOption;

function either(values: Values, yes: string, no: string): boolean | undefined {
  if (values[yes] && values[no]) throw new ConvlabError(`give --${yes} or --${no}, not both`);
  return values[yes] ? true : values[no] ? false : undefined;
}

function parseGiven(values: Values): TrainOverrides {
  const g: TrainOverrides = {};
  const set = <K extends keyof TrainOverrides>(key: K, v: TrainOverrides[K] | undefined) => {
    if (v !== undefined) g[key] = v;
  };
  set('epochs', number(values, 'epochs', { integer: true, min: 1, limit: 'epochs' }));
  set('batch', number(values, 'batch', { integer: true, min: 1, limit: 'batch' }));
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
  set('pad', number(values, 'pad', { integer: true, min: 0, limit: 'pad' }));
  set('flip', either(values, 'flip', 'no-flip'));
  if (values['no-aux']) g.aux = false;
  set('limit', number(values, 'limit', { integer: true, min: 1, limit: 'examples' }));
  set('seed', number(values, 'seed', { integer: true, min: 0 }));
  if (g.optimizer === 'adamw' && (g.momentum !== undefined || g.nesterov !== undefined)) {
    throw new ConvlabError('--momentum and --nesterov apply to sgd; adamw has fixed betas (0.9, 0.999)');
  }
  return g;
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

function report(result: TrainResult, { config, graph, data }: PreparedRun, out: string) {
  const last = result.history.at(-1);
  return {
    model: graph.name,
    backend: result.backend,
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

/** The epochs as a table and, once training completed, where its files are. */
function printHistory(io: CommandIO, result: TrainResult, graph: Graph, out: string): void {
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
  if (result.status === 'completed') {
    const last = result.history.at(-1);
    io.stdout(
      `\n${graph.name}: test accuracy ${last ? pct(last.testAccuracy) : '-'} after ${result.epoch} epochs ` +
        `(${clock(result.time)}); ${FILES.model}, ${FILES.weights}, ${FILES.metrics} and ${FILES.checkpoint} in ${out}`,
    );
  }
}

/** One line on what is about to be trained, on what and how. */
function describe({ graph, data, config, weights }: PreparedRun, source: string): string {
  const steps = stepsPerEpoch(data.train.count, config.batch);
  const params = [...tensorSpecs(resolveGraph(graph)).values()]
    .filter((t) => t.spec.role === 'param')
    .reduce((s, t) => s + t.spec.shape.reduce((a, b) => a * b, 1), 0);
  const o = config.optimizer;
  return (
    `training ${graph.name} (${thousands(params)} params${weights ? ", from the file's weights" : ''}) on ${source}: ${data.train.count} training / ` +
    `${data.test.count} test images ${data.train.shape.join('x')}, ${data.train.classes} classes; ` +
    `${config.epochs} epochs of ${steps} steps, batch ${config.batch}, ` +
    `${o.kind}${o.kind === 'sgd' ? ` momentum ${o.momentum}${o.nesterov ? ' nesterov' : ''}` : ''} ` +
    `lr ${config.lr} ${config.schedule}${config.warmup ? ` warm-up ${config.warmup}` : ''}, weight decay ${o.weightDecay}`
  );
}

/** --data and --out, which every run needs. */
function requiredOptions(values: Values): { source: string; out: string } {
  const source = values['data'];
  const out = values['out'];
  if (typeof source !== 'string' || source === '') {
    throw new ConvlabError(`--data SOURCE is required (e.g. --data fashion-mnist); usage: ${USAGE}`);
  }
  if (typeof out !== 'string' || out === '') {
    throw new ConvlabError(`--out DIR is required: the folder for metrics, checkpoints and the model`);
  }
  return { source, out };
}

/**
 * The MODEL argument: a spec file is read here (with the CLI's messages), an ONNX file with the
 * weights it holds (the run starts from them); a zoo name is built for the data.
 */
function runModel(arg: string): RunModel {
  if (isOnnxPath(arg)) return { path: arg, ...onnxModel(arg, {}) };
  return /\.json$/i.test(arg) ? { path: arg, graph: loadModel(arg, {}) } : { zoo: arg };
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
    force: flag,
    ...BACKEND_OPTION,
    threads: string,
    json: flag,
  },
  positionals: [1, 1],
  async run([arg], values, io: CommandIO) {
    const { source, out } = requiredOptions(values);
    const overrides = parseGiven(values);
    const force = values['force'] === true;
    if (force && values['resume'] === true) throw new ConvlabError('give --resume or --force, not both');
    const kind = dataKind(source);
    // Locked before anything reads or writes there (exit 2 if another run holds it), for the run's life.
    const release = lockRunFolder(out);
    try {
      const backend = await backendOf(values);
      // Compute threads of every engine the run uses (the step, augmentation, evaluation).
      const threads = numberOption(values, 'threads', { integer: true, min: 1 });
      const checkpoint = values['resume'] === true ? checkpointIn(out) : undefined;
      const run = await prepareRun({
        model: runModel(arg!),
        source,
        kind,
        out,
        overrides,
        force,
        ...(checkpoint && { checkpoint }),
      });
      io.stderr(
        `${checkpoint ? `resuming at epoch ${checkpoint.state.epoch}, step ${checkpoint.state.step}: ` : ''}${describe(run, source)}`,
      );
      const sink = process.stderr.isTTY ? streamSink(process.stderr) : lineSink(io.stderr);
      const signals = catchSignals((text) => sink.write(`\n${text}\n`));
      let result: TrainResult;
      try {
        result = await train({
          ...run,
          out,
          ...(checkpoint && { resume: checkpoint }),
          backend,
          ...(threads !== undefined && { session: { threads } }),
          progress: sink,
          stop: signals.stop,
        });
      } finally {
        signals.release();
      }
      const stopped = result.status === 'stopped';
      if (stopped) {
        io.stderr(
          `stopped by ${result.reason} at epoch ${result.epoch + 1}, step ${result.step}: checkpoint written to ` +
            `${result.files.checkpoint}; continue with the same command and --resume`,
        );
      }
      if (values['json']) io.stdout(json(report(result, run, out)));
      else printHistory(io, result, run.graph, out);
      return stopped ? 128 + (SIGNALS[result.reason as keyof typeof SIGNALS] ?? 0) : 0;
    } finally {
      release();
    }
  },
};
