import { isOnnxPath, withOnnxFile } from '../import/file.js';
import { type ImportReport, readWeights } from '../import/onnx.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { withInputShape, withoutAux } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { checkLimit, type LimitKind } from '../ir/limits.js';
import { parseSpec } from '../ir/spec.js';
import { readBounded } from '../runtime/read_bounded.js';
import type { TrainingBackend } from '../train/backend.js';
import { trainingBackend } from '../train/backends.js';
import { buildModel, getModel } from '../zoo/index.js';
import type { OptionSpec, Values } from './command.js';

/** Options every MODEL-taking command shares (docs/cli.md). */
export const MODEL_OPTIONS = {
  input: { type: 'string' },
  batch: { type: 'string' },
  classes: { type: 'string' },
  'no-aux': { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

export const MODEL_OPTIONS_HELP = [
  '  --input CxHxW   input size (default: the model standard input)',
  '  --batch N       batch size (default 1)',
  '  --classes K     number of classes (zoo models)',
  '  --no-aux        drop GoogLeNet/Inception auxiliary heads',
  '  --json          print one JSON document',
].join('\n');

/** `--option N`: a positive decimal integer, within the bound of `limit` when there is one. */
export function positiveInt(
  value: string | undefined,
  option: string,
  fallback: number,
  limit?: LimitKind,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new ConvlabError(`--${option} must be a positive integer, got '${value}'`);
  }
  if (limit) checkLimit(limit, `--${option}`, Number(value));
  return Number(value);
}

export function parseInputShape(value: string): [number, number, number] {
  const parts = value.split(/[x,]/i);
  if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) {
    throw new ConvlabError(`--input must be CxHxW with positive integers (e.g. 3x224x224), got '${value}'`);
  }
  parts.forEach((p, i) => {
    checkLimit('dimension', `--input ${'CHW'[i]}`, Number(p));
  });
  return parts.map(Number) as [number, number, number];
}

/**
 * A number option in plain decimal notation (`0.1`, `-3`, `1e-4`; never `0x10`, `Infinity` or
 * an empty string), within the given range and the bound of `limit`.
 */
export function numberOption(
  values: Values,
  option: string,
  check: { integer?: boolean; min?: number; above?: number; below?: number; limit?: LimitKind },
): number | undefined {
  const text = values[option];
  if (text === undefined) return undefined;
  const v = Number(text);
  const ok =
    typeof text === 'string' &&
    /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) &&
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
  if (check.limit) checkLimit(check.limit, `--${option}`, v);
  return v;
}

/**
 * node:util's parseArgs takes `--epochs -1` for a missing value followed by an option, and answers
 * only "argument is ambiguous". A value that reads as a negative number is a value: join it to its
 * option (`--epochs=-1`), so the option's own check can say what range it takes.
 */
export function joinNegativeValues(args: readonly string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

const isSpecPath = (arg: string): boolean => arg.toLowerCase().endsWith('.json');

/** A MODEL argument: a zoo name, a JSON spec or an ONNX file, with --input, --classes and --no-aux applied. */
export function loadModel(arg: string, values: Values): Graph {
  const input = typeof values['input'] === 'string' ? parseInputShape(values['input']) : undefined;
  const aux = values['no-aux'] !== true;
  if (isOnnxPath(arg)) {
    if (values['classes'] !== undefined)
      throw new ConvlabError(`--classes applies to zoo models, not to '${arg}'`);
    return withOnnxFile(arg, input ? { input } : {}, (m) => m.graph);
  }
  if (isSpecPath(arg)) {
    if (values['classes'] !== undefined)
      throw new ConvlabError(`--classes applies to zoo models; edit the spec's last layer instead`);
    let graph = parseSpec(readBounded(arg, 'specBytes', 'spec').toString('utf8'), arg);
    if (input) graph = withInputShape(graph, input);
    return aux ? graph : withoutAux(graph);
  }
  const entry = getModel(arg);
  const classes = positiveInt(values['classes'] as string | undefined, 'classes', entry.classes);
  return buildModel(arg, { ...(input ? { input } : {}), classes, aux });
}

export const batchOf = (values: Values): number =>
  positiveInt(values['batch'] as string | undefined, 'batch', 1, 'batch');

/** `--backend NAME` of the commands that train (train, bench train, experiment). */
export const BACKEND_OPTION = { backend: { type: 'string' } } as const satisfies OptionSpec;

/** The training backend `--backend` names (default onnxruntime); exit 2 if unknown or not built. */
export function backendOf(values: Values): Promise<TrainingBackend> {
  const name = values['backend'];
  if (name !== undefined && typeof name !== 'string') throw new ConvlabError('give --backend once');
  return trainingBackend(name);
}

/** The weights an ONNX MODEL file holds, by parameter name (read one tensor at a time). */
export function onnxWeights(arg: string, values: Values): Map<string, WeightData> {
  const input = typeof values['input'] === 'string' ? parseInputShape(values['input']) : undefined;
  return withOnnxFile(arg, input ? { input } : {}, readWeights);
}

/** An ONNX MODEL file's graph and the weights it holds, from one reading of the file. */
export function onnxModel(arg: string, values: Values): { graph: Graph; weights: Map<string, WeightData> } {
  const input = typeof values['input'] === 'string' ? parseInputShape(values['input']) : undefined;
  return withOnnxFile(arg, input ? { input } : {}, (m) => ({ graph: m.graph, weights: readWeights(m) }));
}

/** What importing an ONNX MODEL file found (opset, producer, folded BatchNorm, fusions). */
export function onnxReport(arg: string, values: Values): ImportReport {
  const input = typeof values['input'] === 'string' ? parseInputShape(values['input']) : undefined;
  return withOnnxFile(arg, input ? { input } : {}, (m) => m.report);
}
