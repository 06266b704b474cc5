import * as ort from 'onnxruntime-node';
import { DataType, NCHWC_DOMAIN } from '../ir/op.js';
import { modelBytes } from '../onnx/emit.js';

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
