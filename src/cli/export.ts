import { copyFileSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytes } from '../analysis/format.js';
import { FASHION_MNIST_DIR } from '../data/idx.js';
import { isOnnxPath } from '../import/file.js';
import { ConvlabError, fileFailureExitCode } from '../ir/errors.js';
import { resolveGraph } from '../ir/resolve.js';
import { BATCH_DIM, OPSET } from '../onnx/emit.js';
import { exportOnnx } from '../onnx/export.js';
import { pytorchFiles } from '../pytorch/export.js';
import type { TrainDefaults } from '../pytorch/train_py.js';
import { readSafetensorsFile, type Safetensors } from '../runtime/safetensors.js';
import { fitAuxHeads, matchWeights } from '../runtime/weights.js';
import { ADAMW, augmentationFor, DEFAULTS, SGD } from '../train/config.js';
import { makeFolder } from '../train/run_folder.js';
import { STEP_GAMMA, STEP_MILESTONES } from '../train/schedule.js';
import { getModel } from '../zoo/index.js';
import type { Command, CommandIO, Values } from './command.js';
import { json } from './format.js';
import { loadModel, MODEL_OPTIONS, onnxWeights } from './options.js';

/** Write atomically, so a failed export never leaves half a model where the user asked for one. */
function writeFile(path: string, data: Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (e) {
    rmSync(temporary, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConvlabError(
      `cannot write '${path}': ${code === 'ENOENT' ? 'no such directory' : (code ?? (e as Error).message)}`,
      fileFailureExitCode(e),
    );
  }
}

export const exportCommand: Command = {
  name: 'export',
  usage:
    'convlab export MODEL -o FILE.onnx [--weights FILE.safetensors] [--training] [--seed S] [--input CxHxW] [--classes K] [--no-aux] [--json]\n  convlab export MODEL --format pytorch -o DIR [--weights FILE.safetensors] [--force] [--input CxHxW] [--classes K] [--no-aux]',
  summary:
    'write the model as ONNX (opset 17, symbolic batch N), initializers named by parameter name; or, with --format pytorch, DIR/model.py (nn.Module), train.py (torchrun/DDP) and README.md',
  options: {
    input: MODEL_OPTIONS.input,
    classes: MODEL_OPTIONS.classes,
    'no-aux': MODEL_OPTIONS['no-aux'],
    json: MODEL_OPTIONS.json,
    output: { type: 'string', short: 'o' },
    weights: { type: 'string' },
    training: { type: 'boolean' },
    seed: { type: 'string' },
    format: { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: [1, 1],
  run([model], values, io) {
    const format = (values['format'] as string | undefined) ?? 'onnx';
    if (format === 'pytorch') return exportPytorch(model!, values, io);
    if (format !== 'onnx') throw new ConvlabError(`--format must be onnx or pytorch, got '${format}'`);
    if (values['force']) throw new ConvlabError('--force applies to --format pytorch (an existing DIR)');
    const path = values['output'] as string | undefined;
    if (!path) throw new ConvlabError('-o FILE.onnx is required: where to write the model');
    const weightsPath = values['weights'] as string | undefined;
    const seedText = (values['seed'] as string | undefined) ?? '0';
    if (!/^\d{1,15}$/.test(seedText))
      throw new ConvlabError(`--seed must be an integer >= 0, got '${seedText}'`);
    if (weightsPath !== undefined && values['seed'] !== undefined) {
      throw new ConvlabError(
        'give --weights or --seed, not both: the seed initialises weights no file gives',
      );
    }
    const mode = values['training'] ? 'train' : 'infer';

    let graph = loadModel(model!, values);
    const file = weightsPath === undefined ? undefined : readSafetensorsFile(weightsPath);
    // A file without auxiliary-head tensors is for the model without its heads (torchvision's aux_logits=False).
    if (file) graph = fitAuxHeads(graph, file.tensors);
    const r = resolveGraph(graph);
    // An ONNX model exports with the weights it holds unless --weights or --seed says otherwise.
    const fromOnnx = !file && values['seed'] === undefined && isOnnxPath(model!);
    const weights = file
      ? matchWeights(r, file.tensors, `weights '${weightsPath}'`)
      : fromOnnx
        ? onnxWeights(model!, values)
        : undefined;
    const onnx = exportOnnx(r, { mode, seed: Number(seedText), ...(weights ? { weights } : {}) });
    writeFile(path, onnx);

    const outputs = r.outputs
      .filter((o) => mode === 'train' || o.role === 'main')
      .map((o) => ({
        name: o.node,
        role: o.role,
        shape: [BATCH_DIM, ...r.byName.get(o.node)!.ctx.output.slice(1)],
      }));
    const report = {
      model: graph.name,
      file: path,
      bytes: onnx.length,
      mode,
      opset: OPSET,
      input: { name: r.nodes[0]!.node.name, shape: [BATCH_DIM, ...r.nodes[0]!.ctx.output.slice(1)] },
      outputs,
      weights: weightsPath ?? (fromOnnx ? model! : { seed: Number(seedText) }),
    };
    if (values['json']) {
      io.stdout(json(report));
      return 0;
    }
    const shape = (s: readonly (string | number)[]) => `[${s.join(',')}]`;
    io.stdout(
      [
        `wrote ${path} (${bytes(onnx.length)}): ${graph.name}, ${mode === 'infer' ? 'inference' : 'training forward'}, ONNX opset ${OPSET}`,
        `input   ${report.input.name} ${shape(report.input.shape)}`,
        ...outputs.map((o) => `output  ${o.name} ${shape(o.shape)}${o.role === 'aux' ? ' (auxiliary)' : ''}`),
        `weights ${weightsPath ?? (fromOnnx ? `from ${model}` : `seeded initialisation (seed ${seedText})`)}`,
      ].join('\n'),
    );
    return 0;
  },
};

/** `convlab train`'s defaults, written into train.py. */
export const TRAIN_DEFAULTS: TrainDefaults = {
  ...DEFAULTS,
  sgd: { momentum: SGD.momentum, nesterov: SGD.nesterov, weightDecay: SGD.weightDecay },
  adamw: { beta1: ADAMW.beta1, beta2: ADAMW.beta2, eps: ADAMW.eps, weightDecay: ADAMW.weightDecay },
  stepMilestones: STEP_MILESTONES,
  stepGamma: STEP_GAMMA,
  augment: Object.fromEntries(
    (['fashion-mnist', 'mnist', 'idx', 'cifar10', 'cifar100', 'synthetic'] as const).map((k) => [
      k,
      augmentationFor(k, 0),
    ]),
  ),
  fashionMnistDir: FASHION_MNIST_DIR,
};

/** The command as typed, for the header of the files it writes. */
const commandLine = (model: string, values: Values): string =>
  [
    'convlab export',
    model,
    ...Object.entries(values)
      .filter(([k, v]) => v !== undefined && k !== 'force' && k !== 'json')
      .map(([k, v]) => (v === true ? `--${k}` : `${k === 'output' ? '-o' : `--${k}`} ${String(v)}`)),
  ].join(' ');

/** `--format pytorch -o DIR`: model.py, train.py and README.md (and weights.safetensors with --weights). */
function exportPytorch(model: string, values: Values, io: CommandIO): number {
  const dir = values['output'] as string | undefined;
  if (!dir)
    throw new ConvlabError('-o DIR is required: the folder to write model.py, train.py and README.md into');
  for (const option of ['training', 'seed'] as const) {
    if (values[option] !== undefined)
      throw new ConvlabError(`--${option} applies to ONNX exports, not --format pytorch`);
  }
  if (existsSync(dir) && !values['force']) {
    throw new ConvlabError(
      `'${dir}' already exists; choose another -o DIR or give --force to overwrite its files`,
    );
  }
  const weightsPath = values['weights'] as string | undefined;
  let graph = loadModel(model, values);
  let file: Safetensors | undefined;
  if (weightsPath !== undefined) {
    file = readSafetensorsFile(weightsPath);
    graph = fitAuxHeads(graph, file.tensors);
  }
  const r = resolveGraph(graph);
  // Checked here, so that a mismatch stops the export (exit 2, the first mismatches named).
  if (file) matchWeights(r, file.tensors, `weights '${weightsPath}'`);
  const description = model.endsWith('.json') ? `from the spec ${model}` : getModel(model).description;
  const files = pytorchFiles(r, {
    command: commandLine(model, values),
    description,
    weights: file !== undefined,
    train: TRAIN_DEFAULTS,
  });
  makeFolder(dir, `'${dir}'`); // not mkdirSync's recursive form, which spins forever under /proc
  for (const [name, text] of files) writeFile(join(dir, name), new TextEncoder().encode(text));
  if (file) copyFileSync(weightsPath!, join(dir, 'weights.safetensors'));
  const written = [...files.keys(), ...(file ? ['weights.safetensors'] : [])];
  if (values['json']) {
    io.stdout(
      json({ model: graph.name, format: 'pytorch', dir, files: written, weights: weightsPath ?? null }),
    );
    return 0;
  }
  const readme = files.has('README.md') ? ` (how to run: ${join(dir, 'README.md')})` : '';
  io.stdout(`wrote ${written.map((f) => join(dir, f)).join(', ')}: ${graph.name} for PyTorch${readme}`);
  return 0;
}
