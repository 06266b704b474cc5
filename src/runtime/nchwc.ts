import * as ort from 'onnxruntime-node';
import { type Convolution, DataType, type OnnxTarget, type OnnxWriter } from '../ir/op.js';
import { emit, ints, modelBytes } from '../onnx/emit.js';
import { convAttributes } from '../ops/conv2d.js';

/** onnxruntime's operator set of convolution and pooling kernels on channel-blocked (NCHWc) tensors. */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/**
 * onnxruntime as the back-end of a graph whose convolution weights are graph inputs (a training
 * step's), with its channel-blocked kernels of `block` channels (`nchwcBlockSize`; 0: none).
 *
 * onnxruntime runs a Conv through its fast channel-blocked (NCHWc) kernels only when the weight is
 * a constant it can reorder once, while loading; a training step's weights are graph inputs, so
 * its Conv would take the slower im2col path (1.6-1.9x the time at resnet20's shapes). This
 * target instead writes a convolution of one group over a multiple of the block's channels as
 * onnxruntime's own NCHWc ops, with the weight reordered in the graph:
 *   ReorderInput(x) -> nchwc Conv(x, W blocked [O/B, C/B, kh, kw, B_in, B_out]) -> ReorderOutput,
 * the output channels padded to a multiple of B with zero filters and dropped again by ReorderOutput.
 */
export const nchwcTarget = (block: number): OnnxTarget =>
  block > 1
    ? {
        convolution: (w, c) =>
          c.groups === 1 && c.channels % block === 0 ? blocked(w, c, block) : undefined,
      }
    : {};

function blocked(w: OnnxWriter, c: Convolution, block: number): string {
  const [kh, kw] = c.kernel;
  const padded = Math.ceil(c.out / block) * block;
  // Zero filters (and biases) up to a whole block of output channels.
  const padOut = (t: string, rank: number) =>
    padded === c.out
      ? t
      : emit(w, 'Pad', [
          t,
          ints(w, [
            ...new Array<number>(rank).fill(0),
            padded - c.out,
            ...new Array<number>(rank - 1).fill(0),
          ]),
        ]);
  const split = emit(w, 'Reshape', [
    padOut(c.weight, 4),
    ints(w, [padded / block, block, c.channels / block, block, kh, kw]),
  ]);
  const weight = emit(w, 'Reshape', [
    emit(w, 'Transpose', [split], { perm: { ints: [0, 2, 4, 5, 3, 1] } }),
    ints(w, [padded, c.channels, kh, kw]),
  ]);
  const [x] = w.node('ReorderInput', [c.x], {}, 1, NCHWC_DOMAIN);
  const inputs = [x!, weight, ...(c.bias ? [padOut(c.bias, 1)] : [])];
  const [y] = w.node('Conv', inputs, convAttributes(c), 1, NCHWC_DOMAIN);
  return w.node('ReorderOutput', [y!], { channels: { i: c.out } }, 1, NCHWC_DOMAIN)[0]!;
}

/** ReorderInput of a [1, 4, 1, 1] tensor: its output has the channels padded up to one block. */
const PROBE = modelBytes(
  {
    name: 'nchwc_probe',
    nodes: [
      {
        name: 'reorder',
        opType: 'ReorderInput',
        domain: NCHWC_DOMAIN,
        inputs: ['x'],
        outputs: ['y'],
        attributes: {},
      },
    ],
    initializers: [],
    inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 4, 1, 1] }],
    outputs: [{ name: 'y', elemType: DataType.FLOAT }],
  },
  { docString: "convlab's probe of onnxruntime's NCHWc block size", domains: [NCHWC_DOMAIN] },
);

let probed: Promise<number> | undefined;

/**
 * The channel block of onnxruntime's NCHWc kernels on this machine (16 with AVX-512, 8 with AVX2),
 * or 0 where it has none worth using: asked of onnxruntime itself, once per process, since its
 * kernels pick the block by the CPU they find.
 */
export function nchwcBlockSize(): Promise<number> {
  probed ??= (async () => {
    try {
      const session = await ort.InferenceSession.create(PROBE, { logSeverityLevel: 3 });
      const { y } = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
      await session.release();
      const block = y?.dims[1] ?? 0;
      return block >= 8 ? block : 0;
    } catch {
      return 0; // an onnxruntime without the com.microsoft.nchwc ops: standard Conv everywhere
    }
  })();
  return probed;
}
