import { type Const, constWeight, registerHandler, type WeightSource } from '../convert.js';
import { isConst } from '../values.js';
import { windowOf } from './window.js';

/*
 * Layers with weights: Conv, BatchNormalization, Gemm, and MatMul (+ Add) as a linear layer. Each
 * parameter is read from the initializer the node uses; two nodes that use one initializer (directly
 * or through Identity) get a parameter each, so a fine-tune never ties them.
 */

/** A 2-D weight [rows, cols] read transposed, optionally scaled: Gemm's transB = 0, MatMul's [in, out]. */
const transposed = (c: Const, scale = 1): WeightSource => {
  const [rows, cols] = c.dims as [number, number];
  return {
    dims: [cols, rows],
    from: c.name ?? 'a folded constant',
    read: () => {
      const v = c.values();
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++)
        for (let k = 0; k < cols; k++) out[k * rows + r] = v[r * cols + k]! * scale;
      return out;
    },
  };
};

const scaled = (c: Const, scale: number, dims: readonly number[] = c.dims): WeightSource =>
  scale === 1 && dims === c.dims
    ? constWeight(c)
    : {
        dims,
        from: c.name ?? 'a folded constant',
        read: () => Float32Array.from(c.values(), (v) => v * scale),
      };

/** One value given for all `n` outputs (Gemm's C broadcast), as a bias of its own per output. */
const broadcast = (c: Const, scale: number, n: number): WeightSource => ({
  dims: [n],
  from: c.name ?? 'a folded constant',
  read: () => new Float32Array(n).fill(c.values()[0]! * scale),
});

registerHandler(['Conv'], (c) => {
  const x = c.tensor(0);
  const w = c.constant(1);
  if (w.dims.length !== 4) c.fail(`convlab imports 2-D convolutions; the weight is [${w.dims.join(',')}]`);
  const [out, , kh, kw] = w.dims as [number, number, number, number];
  const win = windowOf(c, x.shape, [kh, kw]);
  if (win.kernel[0] !== kh || win.kernel[1] !== kw)
    c.fail(`kernel_shape [${win.kernel}] differs from the weight's [${kh},${kw}]`);
  const bias = c.has(2) ? c.constant(2) : undefined;
  const y = c.apply(
    'conv2d',
    [x],
    { out, ...win, groups: c.int('group', 1), bias: bias !== undefined },
    {
      weightName: w.name,
      params: { weight: constWeight(w), ...(bias && { bias: scaled(bias, 1, [out]) }) },
    },
  );
  c.output(y);
});

registerHandler(['BatchNormalization'], (c) => {
  if (c.node.outputs.slice(1).some((o) => o && c.cv.consumers(o).length)) {
    c.fail(
      'the running-statistics outputs of a training-mode BatchNormalization are used; export the model in eval mode',
    );
  }
  if (c.int('training_mode', 0) !== 0)
    c.fail(
      "training_mode = 1 normalises by the batch's own statistics when the model runs; export the model in eval mode",
    );
  const x = c.tensor(0);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => c.constant(i)) as [
    Const,
    Const,
    Const,
    Const,
  ];
  const y = c.apply(
    'batchnorm2d',
    [x],
    // ONNX's momentum weights the running value (0.9), PyTorch's the batch value (0.1).
    { eps: c.float('epsilon', 1e-5), momentum: 1 - c.float('momentum', 0.9) },
    {
      weightName: scale.name,
      params: {
        weight: constWeight(scale),
        bias: constWeight(bias),
        running_mean: constWeight(mean),
        running_var: constWeight(variance),
      },
    },
  );
  c.output(y);
});

registerHandler(['Gemm'], (c) => {
  const x = c.tensor(0);
  const b = c.constant(1);
  if (c.int('transA', 0) !== 0) c.fail('transA = 1 (a transposed input) is not a linear layer');
  if (b.dims.length !== 2) c.fail(`B must be a 2-D weight, got [${b.dims.join(',')}]`);
  const alpha = c.float('alpha', 1);
  const beta = c.float('beta', 1);
  const weight = c.int('transB', 0) ? scaled(b, alpha) : transposed(b, alpha);
  const out = weight.dims[0]!;
  const bias = c.has(2) ? c.constant(2) : undefined;
  if (bias && bias.size !== out && bias.size !== 1)
    c.fail(`C must hold one bias per output (${out}) or one for all, got [${bias.dims.join(',')}]`);
  const biasWeight = bias && (bias.size === 1 ? broadcast(bias, beta, out) : scaled(bias, beta, [out]));
  c.output(
    c.apply(
      'linear',
      [x],
      { out, bias: bias !== undefined },
      { weightName: b.name, params: { weight, ...(biasWeight && { bias: biasWeight }) } },
    ),
  );
});

registerHandler(['MatMul'], (c) => {
  const x = c.tensor(0);
  const w = c.constant(1);
  if (w.dims.length !== 2) c.fail(`convlab imports MatMul by a 2-D weight, got [${w.dims.join(',')}]`);
  const out = w.dims[1]!;
  // nn.Linear exports as MatMul then Add of the bias when its input has more than two axes.
  const add = c.soleConsumer(c.node.outputs[0]!, 'Add');
  const biasIndex = add ? add.inputs.findIndex((i) => i !== c.node.outputs[0]) : -1;
  const biasValue = add && biasIndex >= 0 ? c.cv.values.get(add.inputs[biasIndex]!) : undefined;
  const bias = biasValue && isConst(biasValue) && biasValue.size === out ? biasValue : undefined;
  const y = c.apply(
    'linear',
    [x],
    { out, bias: bias !== undefined, ...(x.shape.length > 2 && { perPosition: true }) },
    { weightName: w.name, params: { weight: transposed(w), ...(bias && { bias: scaled(bias, 1, [out]) }) } },
  );
  if (add && bias) {
    c.cv.consume(add);
    c.cv.fused('linear (MatMul + Add)');
    c.cv.values.set(add.outputs[0]!, y);
  } else c.output(y);
});
