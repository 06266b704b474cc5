import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { bytes } from '../analysis/format.js';
import { isOnnxPath } from '../import/file.js';
import { ConvlabError } from '../ir/errors.js';
import { resolveGraph } from '../ir/resolve.js';
import { BATCH_DIM, OPSET } from '../onnx/emit.js';
import { exportOnnx } from '../onnx/export.js';
import { readSafetensorsFile } from '../runtime/safetensors.js';
import { fitAuxHeads, matchWeights } from '../runtime/weights.js';
import type { Command } from './command.js';
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
    );
  }
}

export const exportCommand: Command = {
  name: 'export',
  usage:
    'convlab export MODEL -o FILE.onnx [--weights FILE.safetensors] [--training] [--seed S] [--input CxHxW] [--classes K] [--no-aux] [--json]',
  summary: 'write the model as ONNX (opset 17, symbolic batch N), initializers named by parameter name',
  options: {
    input: MODEL_OPTIONS.input,
    classes: MODEL_OPTIONS.classes,
    'no-aux': MODEL_OPTIONS['no-aux'],
    json: MODEL_OPTIONS.json,
    output: { type: 'string', short: 'o' },
    weights: { type: 'string' },
    training: { type: 'boolean' },
    seed: { type: 'string' },
  },
  positionals: [1, 1],
  run([model], values, io) {
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
