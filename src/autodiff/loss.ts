import { DataType, type OnnxWriter } from '../ir/op.js';
import { add, emit, ints, mul, reduceSum, scalar, sub } from '../onnx/emit.js';

export interface CrossEntropy {
  /** The mean loss over the batch, a scalar. */
  readonly loss: string;
  /** d(weight * loss) / d(logits): (softmax - q) * weight / N. */
  readonly dLogits: string;
}

/**
 * Softmax cross-entropy with label smoothing, as PyTorch's CrossEntropyLoss(label_smoothing=eps):
 * the target is q = (1 - eps) * onehot + eps / K, the loss -sum(q * log_softmax(z)) averaged over
 * the batch, and its gradient (softmax(z) - q) / N, scaled by the head's loss weight.
 */
export function softmaxCrossEntropy(
  w: OnnxWriter,
  logits: string,
  labels: string,
  batch: number,
  classes: number,
  smoothing: number,
  weight: number,
): CrossEntropy {
  const off = smoothing / classes;
  const indices = emit(w, 'Cast', [labels], { to: { i: DataType.INT64 } });
  const q = emit(
    w,
    'OneHot',
    [indices, ints(w, [classes]), w.constant([off, 1 - smoothing + off], [2], 'float32')],
    {
      axis: { i: -1 },
    },
  );
  const logProbabilities = emit(w, 'LogSoftmax', [logits], { axis: { i: 1 } });
  const perSample = reduceSum(w, mul(w, q, logProbabilities), [1], false);
  const loss = mul(w, reduceSum(w, perSample, [0], false), scalar(w, -1 / batch));
  const probabilities = emit(w, 'Exp', [logProbabilities]);
  const dLogits = mul(w, sub(w, probabilities, q), scalar(w, weight / batch));
  return { loss, dLogits };
}

/** Number of samples whose arg-max logit equals the label (int64 scalar). */
export function correctCount(w: OnnxWriter, logits: string, labels: string): string {
  const predicted = emit(w, 'ArgMax', [logits], { axis: { i: 1 }, keepdims: { i: 0 } });
  const labels64 = emit(w, 'Cast', [labels], { to: { i: DataType.INT64 } });
  const hits = emit(w, 'Cast', [emit(w, 'Equal', [predicted, labels64])], { to: { i: DataType.INT64 } });
  return reduceSum(w, hits, [0], false);
}

/** Weighted sum of scalar losses (main head 1, auxiliary heads 0.3 by default). */
export const totalLoss = (w: OnnxWriter, terms: readonly { loss: string; weight: number }[]): string =>
  terms
    .map((t) => (t.weight === 1 ? t.loss : mul(w, t.loss, scalar(w, t.weight))))
    .reduce((sum, t) => add(w, sum, t));
