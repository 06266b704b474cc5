import { ConvlabError } from '../ir/errors.js';
import { type Graph, withoutAux } from '../ir/graph.js';
import { tensorSpecs, type WeightData } from '../ir/init.js';
import type { TensorSpec } from '../ir/op.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import type { HostTensor } from './safetensors.js';

/** How many mismatches a message lists before it summarises the rest. */
const LISTED = 6;

const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * A buffer a file may leave out: PyTorch loads a BatchNorm state_dict without `num_batches_tracked`
 * (files from before PyTorch 0.4.1, exporters that keep only float tensors) by starting it at 0.
 */
const defaultsToZero = (spec: TensorSpec): boolean =>
  spec.role === 'buffer' && spec.dtype === 'int64' && spec.name === 'num_batches_tracked';

/**
 * Match loaded tensors to a model's parameters and buffers by name (torchvision's state_dict keys),
 * checking shape and dtype, and return them in state_dict order as initializer data. Nothing is
 * silently skipped or reshaped: a missing, unexpected, misshapen or mistyped tensor fails with one
 * line listing the first mismatches, the model's tensors first in model order.
 */
export function matchWeights(
  r: ResolvedGraph,
  tensors: ReadonlyMap<string, HostTensor>,
  source = 'the weights',
): Map<string, WeightData> {
  const specs = tensorSpecs(r);
  const problems: string[] = [];
  const out = new Map<string, WeightData>();
  let defaulted = 0;
  for (const [name, { spec }] of specs) {
    const t = tensors.get(name);
    if (!t && defaultsToZero(spec)) {
      out.set(name, new BigInt64Array(numel(spec.shape)));
      defaulted++;
    } else if (!t) problems.push(`missing ${name} ${formatShape(spec.shape)}`);
    else if (!sameShape(t.shape, spec.shape)) {
      problems.push(`${name}: file has ${formatShape(t.shape)}, model needs ${formatShape(spec.shape)}`);
    } else if (t.dtype !== spec.dtype) {
      problems.push(`${name}: file has ${t.dtype}, model needs ${spec.dtype}`);
    } else out.set(name, t.data);
  }
  for (const [name, t] of tensors) {
    if (!specs.has(name)) problems.push(`unexpected ${name} ${formatShape(t.shape)}`);
  }
  if (!problems.length) return out;

  const shown = problems.slice(0, LISTED).join('; ');
  const more = problems.length > LISTED ? `; and ${problems.length - LISTED} more` : '';
  throw new ConvlabError(
    `${source} do not fit model '${r.graph.name}' (${problems.length} mismatch${problems.length === 1 ? '' : 'es'}): ${shown}${more}${hint(r, tensors, out.size - defaulted)}`,
  );
}

/** The likely cause, when the mismatches show one: another model, or another number of classes. */
function hint(r: ResolvedGraph, tensors: ReadonlyMap<string, HostTensor>, matched: number): string {
  if (matched === 0 && tensors.size > 0) {
    return ` (no tensor fits: are these weights for another model, or keyed with a prefix such as 'module.'?)`;
  }
  const head = r.outputs.find((o) => o.role === 'main');
  const classifier = head && r.byName.get(head.node);
  const weight = classifier?.params.find((p) => p.name === 'weight');
  const file = weight && tensors.get(`${classifier!.node.name}.weight`);
  if (weight && file && file.shape.length === weight.shape.length && file.shape[0] !== weight.shape[0]) {
    return ` (the file's classifier has ${file.shape[0]} classes: try --classes ${file.shape[0]})`;
  }
  return '';
}

/**
 * Which build of a model with auxiliary heads (GoogLeNet, Inception v3) a weights file is for: the
 * full one if the file holds any auxiliary-head tensor, else the one without heads. Matching stays
 * strict either way, so a file with only part of a head still fails, naming what is missing.
 */
export function fitAuxHeads(graph: Graph, tensors: ReadonlyMap<string, unknown>): Graph {
  if (!graph.outputs.some((o) => o.role === 'aux')) return graph;
  const r = resolveGraph(graph);
  const hasAux = r.nodes.some(
    (n) => !n.inference && n.params.some((p) => tensors.has(`${n.node.name}.${p.name}`)),
  );
  return hasAux ? graph : withoutAux(graph);
}
