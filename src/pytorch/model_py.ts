import type { ResolvedGraph } from '../ir/resolve.js';
import { ModuleWriter, settle } from './modules.js';
import './ops/index.js';
import { className, literal } from './python.js';
import { Renderer } from './render.js';
import { SAFETENSORS_PY } from './safetensors_py.js';
import { scopeTree } from './scopes.js';

/** What model.py says about where it came from. */
export interface ModelSource {
  /** How it was made, for the header (`convlab export resnet50 --format pytorch -o DIR`). */
  readonly command: string;
  readonly description: string;
  /** Whether DIR holds the exported weights as weights.safetensors, which build() then loads. */
  readonly weights: boolean;
}

/**
 * model.py: the model as a readable nn.Module in torchvision's style, one class per block type,
 * module and parameter names identical to convlab's (so a convlab safetensors file is its
 * state_dict), and a module-level build(). Only torch is imported.
 */
export function modelPy(r: ResolvedGraph, source: ModelSource): string {
  // The model's class is named after it, unless a block type has that name (a spec named after its block).
  const types = new Set(r.graph.blocks.map((b) => b.type));
  const named = className(r.graph.name);
  const rootName = types.has(named) || named === 'L2Norm' ? `${named}Net` : named;
  const writer = new ModuleWriter(rootName);
  const tree = scopeTree(r);
  writer.scopeCall(tree);
  settle(writer, (v) => r.byName.get(v)!.ctx.output[1]!);
  const renderer = new Renderer(writer.classes);
  const main = r.outputs.filter((o) => o.role === 'main').map((o) => o.node);
  const aux = r.outputs.filter((o) => o.role === 'aux');
  const helpers = new Set(writer.classes.flatMap((c) => [...c.helpers]));
  const classes = writer.classes.map((cls) => {
    const isRoot = cls.instances[0]!.scope === tree;
    const root = isRoot
      ? {
          mainOutputs: main,
          auxOutputs: aux.map((o) => o.node),
          inference: (v: string) => r.byName.get(v)!.inference,
        }
      : undefined;
    const count = cls.instances.length;
    const doc = isRoot
      ? `${r.graph.name}: ${source.description}`
      : `${cls.type}${cls.name === cls.type ? '' : ` (variant)`}: ${count} in the model (${cls.instances
          .slice(0, 3)
          .map((i) => i.scope.path)
          .join(', ')}${count > 3 ? ', ...' : ''}).`;
    return renderer.classText(cls, root, doc.replace(/"""/g, "'''"));
  });
  const [c, h, w] = r.nodes[0]!.ctx.output.slice(1);
  const classes_ = r.byName.get(main[0]!)!.ctx.output[1]!;
  return [
    `"""${r.graph.name} as a PyTorch nn.Module, written by convlab.`,
    '',
    `Made by \`${source.command}\`. Module and parameter names are convlab's, which are`,
    "torchvision's state_dict keys: a convlab safetensors file loads with model.load_state_dict.",
    'In training mode a model with auxiliary heads returns (logits, *aux_logits); in eval mode, the logits.',
    '"""',
    '',
    'import json',
    'import os',
    'import struct',
    '',
    'import torch',
    'import torch.nn.functional as F',
    'from torch import nn',
    '',
    `INPUT_SHAPE = ${literal([c!, h!, w!])}`,
    `NUM_CLASSES = ${classes_}`,
    "# The auxiliary heads' loss weights, in the order forward returns their logits in training.",
    `AUX_LOSS_WEIGHTS = ${aux.length ? `(${aux.map((o) => String(o.lossWeight)).join(', ')}${aux.length === 1 ? ',' : ''})` : '()'}`,
    '',
    ...[...helpers].flatMap((text) => ['', text, '']),
    ...classes.flatMap((text) => ['', text, '']),
    '',
    ...(source.weights
      ? [
          '# The weights exported with the model, beside this file.',
          'WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.safetensors")',
          '',
          '',
        ]
      : []),
    `def build(weights=${source.weights ? 'WEIGHTS' : 'None'}):`,
    `    """The model as exported; \`weights\`: a safetensors file with convlab's (torchvision's) names."""`,
    `    model = ${rootName}()`,
    '    if weights is not None:',
    '        model.load_state_dict(load_safetensors(weights))',
    '    return model',
    '',
    SAFETENSORS_PY,
  ].join('\n');
}
