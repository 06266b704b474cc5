import { mul, reduceSum, reshape, scalar, sub } from '../../onnx/emit.js';
import { BatchNorm2d } from '../../ops/batchnorm2d.js';
import { registerGradient } from '../gradient.js';

/**
 * Batch norm backward in training mode, from the saved input, batch mean and inverse std
 * (x_hat = (x - mean) * invstd, M = N*H*W):
 *   dbeta = sum dY,  dgamma = sum dY * x_hat,
 *   dX = gamma * invstd * (dY - dbeta / M - x_hat * dgamma / M).
 */
registerGradient({
  op: BatchNorm2d,
  backward({ inputs: [xShape], saved, dy }, w) {
    const [n, c, h, wd] = xShape as [number, number, number, number];
    const perChannel = (t: string) => reshape(w, t, [1, c, 1, 1]);
    const mean = perChannel(saved.save_mean);
    const invstd = perChannel(saved.save_invstd);
    const xHat = mul(w, sub(w, saved.input0, mean), invstd);
    const dbeta = reduceSum(w, dy, [0, 2, 3], false);
    const dgamma = reduceSum(w, mul(w, dy, xHat), [0, 2, 3], false);
    const inverseCount = scalar(w, 1 / (n * h * wd));
    const centred = sub(
      w,
      sub(w, dy, mul(w, perChannel(dbeta), inverseCount)),
      mul(w, xHat, mul(w, perChannel(dgamma), inverseCount)),
    );
    const dx = mul(w, mul(w, perChannel(w.param('weight')), invstd), centred);
    return { inputs: [dx], params: { weight: dgamma, bias: dbeta } };
  },
});
