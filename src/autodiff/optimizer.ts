import type { OnnxWriter } from '../ir/op.js';
import { add, div, emit, mul, scalar, sub } from '../onnx/emit.js';

/**
 * Optimisers as ONNX ops inside the training graph, with PyTorch's update rules, so weights and
 * state never leave onnxruntime between steps. `lr` and `step` are graph inputs (schedules live in
 * the training loop); everything else is a constant of the graph.
 */
export type OptimizerSpec =
  | {
      readonly kind: 'sgd';
      readonly momentum: number;
      readonly nesterov: boolean;
      readonly weightDecay: number;
    }
  | {
      readonly kind: 'adamw';
      readonly beta1: number;
      readonly beta2: number;
      readonly eps: number;
      readonly weightDecay: number;
    };

/** Per-parameter state tensors each optimiser keeps, by suffix (`layer1.0.conv1.weight.momentum`). */
export const stateSlots = (o: OptimizerSpec): readonly string[] =>
  o.kind === 'adamw' ? ['exp_avg', 'exp_avg_sq'] : o.momentum > 0 ? ['momentum_buffer'] : [];

export interface UpdateInputs {
  readonly weight: string;
  readonly grad: string;
  /** The state tensors named in `stateSlots`, in order. */
  readonly state: readonly string[];
  readonly lr: string;
  /** The 1-based step number as a float scalar (AdamW's bias correction). */
  readonly step: string;
}

export interface UpdateOutputs {
  readonly weight: string;
  readonly state: readonly string[];
}

/**
 * SGD (torch.optim.SGD, dampening 0): g = grad + wd * w; v = mu * v + g; d = nesterov ? g + mu * v : v;
 * w -= lr * d. AdamW (torch.optim.AdamW): w *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
export function update(w: OnnxWriter, o: OptimizerSpec, x: UpdateInputs): UpdateOutputs {
  if (o.kind === 'sgd') {
    const g = o.weightDecay ? add(w, x.grad, mul(w, x.weight, scalar(w, o.weightDecay))) : x.grad;
    if (o.momentum === 0) return { weight: sub(w, x.weight, mul(w, g, x.lr)), state: [] };
    const velocity = add(w, mul(w, x.state[0]!, scalar(w, o.momentum)), g);
    const direction = o.nesterov ? add(w, g, mul(w, velocity, scalar(w, o.momentum))) : velocity;
    return { weight: sub(w, x.weight, mul(w, direction, x.lr)), state: [velocity] };
  }
  const decayed = o.weightDecay
    ? mul(w, x.weight, sub(w, scalar(w, 1), mul(w, x.lr, scalar(w, o.weightDecay))))
    : x.weight;
  const m = add(w, mul(w, x.state[0]!, scalar(w, o.beta1)), mul(w, x.grad, scalar(w, 1 - o.beta1)));
  const v = add(
    w,
    mul(w, x.state[1]!, scalar(w, o.beta2)),
    mul(w, mul(w, x.grad, x.grad), scalar(w, 1 - o.beta2)),
  );
  const correction = (beta: number) => sub(w, scalar(w, 1), emit(w, 'Pow', [scalar(w, beta), x.step]));
  const denominator = add(
    w,
    div(w, emit(w, 'Sqrt', [v]), emit(w, 'Sqrt', [correction(o.beta2)])),
    scalar(w, o.eps),
  );
  const stepSize = div(w, x.lr, correction(o.beta1));
  return { weight: sub(w, decayed, mul(w, stepSize, div(w, m, denominator))), state: [m, v] };
}
