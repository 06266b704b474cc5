import type { OnnxNode } from './proto.js';

/*
 * Layer names for imported nodes. torch.onnx.export (PyTorch >= 1.13) names a node by the scopes of
 * the modules it ran in, then its op type: '/layer1/layer1.0/conv1/Conv'. Each scope is the module's
 * name relative to the nearest enclosing non-container module, so a scope that extends the one
 * before it ('layer1' then 'layer1.0') replaces it and any other appends: the path above reads back
 * as torchvision's module name 'layer1.0.conv1'. Files from other exporters keep their own names.
 */

/** torchvision's module name from a torch.onnx.export node name, or undefined if it has no scopes. */
export function modulePath(nodeName: string): string | undefined {
  if (!nodeName.startsWith('/')) return undefined;
  const scopes = nodeName.split('/').filter((s) => s.length > 0);
  scopes.pop(); // the op type, e.g. 'Conv' or 'Conv_1'
  const stack: string[] = [];
  for (const scope of scopes) {
    const last = stack[stack.length - 1];
    if (last !== undefined && scope.startsWith(`${last}.`)) stack[stack.length - 1] = scope;
    else stack.push(scope);
  }
  return stack.length ? stack.join('.') : undefined;
}

/**
 * ONNX ops that stand for a whole torch.nn module (a layer with weights, an activation, a pooling),
 * so the node takes its module's name. Other ops (Add, Concat, Reshape, ...) are functional calls
 * inside a module and are named `${module}.${op}`.
 */
const MODULE_OPS = new Set([
  'Conv',
  'BatchNormalization',
  'Gemm',
  'MatMul',
  'LayerNormalization',
  'Relu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Gelu',
  'Erf',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Dropout',
  'Flatten',
  'Softmax',
  'Resize',
  'Upsample',
  'Pad',
]);

/** Hands out unique layer names, preferring the names a file already carries. */
export class Names {
  private readonly used = new Set<string>();
  private readonly next = new Map<string, number>();

  /** Reserve a name as is (the graph input's). */
  reserve(name: string): string {
    return this.unique(name);
  }

  /**
   * A name for the IR node made from ONNX node `n`: the prefix of a weight named '<layer>.weight'
   * where there is one (so parameters keep the file's names), else the module path of a
   * torch.onnx.export name, else the node's own name, else its op type.
   */
  forNode(n: OnnxNode, weight?: string): string {
    if (weight?.endsWith('.weight') && !weight.startsWith('onnx::')) {
      const layer = weight.slice(0, -'.weight'.length);
      if (!this.used.has(layer)) return this.unique(layer);
    }
    const path = modulePath(n.name);
    const op = n.opType.toLowerCase();
    if (path !== undefined) return this.unique(MODULE_OPS.has(n.opType) ? path : `${path}.${op}`);
    return this.unique(n.name && !n.name.startsWith('/') ? n.name : op);
  }

  /**
   * `base`, or `base_1`, `base_2`, ... when taken. The suffix tried next is kept per base, so a file
   * of n unnamed nodes of one op costs n lookups, not n^2 / 2.
   */
  unique(base: string): string {
    let name = base;
    let i = this.next.get(base) ?? 1;
    if (this.used.has(name)) {
      do name = `${base}_${i++}`;
      while (this.used.has(name));
      this.next.set(base, i);
    }
    this.used.add(name);
    return name;
  }
}
