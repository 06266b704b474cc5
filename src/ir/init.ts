import { ConvlabError } from './errors.js';
import type { Init, TensorSpec } from './op.js';
import { Rng } from './random.js';
import type { ResolvedGraph } from './resolve.js';
import { formatShape, numel } from './shape.js';

export { Rng } from './random.js';

/** A parameter's or buffer's values, as an ONNX initializer holds them. */
export type WeightData = Float32Array | BigInt64Array;

/**
 * Seeded initialisation of every parameter and buffer by its `Init` kind, mirroring torch.nn.init
 * distribution for distribution (not bit for bit: PyTorch's generator is another one).
 *
 * Each tensor draws from its own stream of src/ir/random.ts, keyed by the seed and the
 * tensor's full name, so a tensor's values do not change when layers are added before it or when
 * only part of a graph is exported.
 */

/** erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7); used only for the bounds' CDF. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x < 0 ? -y : y;
}

const ERFINV_CENTRAL = [
  2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164,
  0.246640727, 1.50140941,
];
const ERFINV_TAIL = [
  -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
  1.00167406, 2.83297682,
];

/** Inverse error function: Giles' single-precision approximation, enough for float32 weights. */
function erfinv(y: number): number {
  const w = -Math.log((1 - y) * (1 + y));
  const [coefficients, v] = w < 5 ? [ERFINV_CENTRAL, w - 2.5] : [ERFINV_TAIL, Math.sqrt(w) - 3];
  let p = 0;
  for (const c of coefficients) p = c + p * v;
  return p * y;
}

/** torch.nn.init._calculate_fan_in_and_fan_out: dims 0 and 1 times the receptive field. */
function fans(spec: TensorSpec): { fanIn: number; fanOut: number } {
  if (spec.fanIn !== undefined && spec.fanOut !== undefined)
    return { fanIn: spec.fanIn, fanOut: spec.fanOut };
  if (spec.shape.length < 2) {
    throw new ConvlabError(
      `cannot compute fan in and fan out of '${spec.name}' with fewer than 2 dimensions ${formatShape(spec.shape)}`,
    );
  }
  const field = numel(spec.shape.slice(2));
  return { fanIn: spec.shape[1]! * field, fanOut: spec.shape[0]! * field };
}

/** The values of one tensor drawn by `init`. */
export function initTensor(spec: TensorSpec, init: Init, rng: Rng): WeightData {
  const n = numel(spec.shape);
  if (spec.dtype === 'int64') {
    if (init.kind !== 'constant' || !Number.isInteger(init.value)) {
      throw new ConvlabError(`int64 tensor '${spec.name}' can only start from an integer constant`);
    }
    return new BigInt64Array(n).fill(BigInt(init.value));
  }
  const out = new Float32Array(n);
  const uniform = (bound: number) => {
    for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * bound;
  };
  const normal = (std: number, mean = 0) => {
    for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal();
  };
  switch (init.kind) {
    case 'constant':
      out.fill(init.value);
      break;
    case 'normal':
      normal(init.std, init.mean);
      break;
    case 'uniform':
      uniform(init.bound);
      break;
    case 'trunc_normal': {
      // torch.nn.init.trunc_normal_: inverse CDF of the normal restricted to [a, b] (absolute bounds).
      const cdf = (x: number) => (1 + erf(x / init.std / Math.SQRT2)) / 2;
      const lo = 2 * cdf(init.a) - 1;
      const hi = 2 * cdf(init.b) - 1;
      for (let i = 0; i < n; i++) {
        const u = lo + (hi - lo) * rng.uniform();
        out[i] = Math.min(init.b, Math.max(init.a, init.std * Math.SQRT2 * erfinv(u)));
      }
      break;
    }
    case 'kaiming_normal': {
      const f = fans(spec);
      normal(Math.SQRT2 / Math.sqrt(init.mode === 'fan_in' ? f.fanIn : f.fanOut));
      break;
    }
    // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
    case 'default_weight':
    case 'default_bias': {
      const { fanIn } = fans(spec);
      uniform(fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0);
      break;
    }
    case 'xavier_uniform': {
      const f = fans(spec);
      uniform(Math.sqrt(6 / (f.fanIn + f.fanOut)));
      break;
    }
    case 'xavier_normal': {
      const f = fans(spec);
      normal(Math.sqrt(2 / (f.fanIn + f.fanOut)));
      break;
    }
  }
  return out;
}

/** Every parameter and buffer of the graph, by full name, in state_dict order. */
export function tensorSpecs(r: ResolvedGraph): Map<string, { spec: TensorSpec; init: Init }> {
  const out = new Map<string, { spec: TensorSpec; init: Init }>();
  for (const n of r.nodes) {
    for (const spec of n.params) {
      out.set(`${n.node.name}.${spec.name}`, { spec, init: n.node.init?.[spec.name] ?? spec.init });
    }
  }
  return out;
}

/** Seeded values for every parameter and buffer of the graph (auxiliary heads included). */
export function initialWeights(r: ResolvedGraph, seed = 0): Map<string, WeightData> {
  const out = new Map<string, WeightData>();
  for (const [name, { spec, init }] of tensorSpecs(r))
    out.set(name, initTensor(spec, init, new Rng(seed, name)));
  return out;
}
