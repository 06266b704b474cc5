import { ConvlabError } from '../ir/errors.js';

/** One head's logits [N, K] and where its gradient goes, with its weight in the loss. */
export interface Head {
  readonly logits: Float32Array;
  readonly dLogits: Float32Array;
  readonly weight: number;
  readonly main: boolean;
}

/**
 * Softmax cross-entropy with label smoothing over every head, as the onnxruntime step computes it
 * (autodiff/loss.ts): q = (1 - eps) onehot + eps / K, loss = -mean_i sum_k q log_softmax(z),
 * dLogits = (softmax(z) - q) * weight / N; the loss is the heads' weighted sum (each head's own
 * cross-entropy is in `headLosses`), `correct` counts the main head's arg-max hits. Runs on N x K values (the logits), never on activations.
 */
export function crossEntropy(
  heads: readonly Head[],
  labels: Int32Array,
  classes: number,
  smoothing: number,
): { loss: number; correct: number; headLosses: number[] } {
  const n = labels.length;
  const off = smoothing / classes;
  let loss = 0;
  let correct = 0;
  const headLosses: number[] = [];
  for (const h of heads) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const label = labels[i]!;
      if (!(label >= 0 && label < classes))
        throw new ConvlabError(`label ${label} is outside the model's ${classes} classes`);
      const row = i * classes;
      let max = h.logits[row]!;
      let arg = 0;
      for (let k = 1; k < classes; k++) {
        if (h.logits[row + k]! > max) {
          max = h.logits[row + k]!;
          arg = k;
        }
      }
      let total = 0;
      for (let k = 0; k < classes; k++) total += Math.exp(h.logits[row + k]! - max);
      const logTotal = Math.log(total);
      let rowLoss = 0;
      for (let k = 0; k < classes; k++) {
        const logp = h.logits[row + k]! - max - logTotal;
        const q = off + (k === label ? 1 - smoothing : 0);
        rowLoss -= q * logp;
        h.dLogits[row + k] = ((Math.exp(logp) - q) * h.weight) / n;
      }
      sum += rowLoss;
      if (h.main && arg === label) correct++;
    }
    headLosses.push(sum / n);
    loss += (h.weight * sum) / n;
  }
  return { loss, correct, headLosses };
}
