import * as ort from 'onnxruntime-node';
import { ConvlabError } from '../ir/errors.js';
import { BATCH_DIM, modelBytes, NamedGraph } from '../onnx/emit.js';
import { DataType, type GraphProto } from '../onnx/proto.js';
import { openSession, type SessionOptions } from '../runtime/session.js';
import { type ImageSet, sampleSize } from './dataset.js';

/**
 * Bilinear resizing of a uint8 image set inside onnxruntime, so a network can be evaluated at
 * other input sizes than it was trained at (SPP) while the pixels stay uint8 for the evaluation
 * graph, which casts and normalises them itself.
 *
 *   Cast to float -> Resize (mode linear, half_pixel coordinates: PyTorch's
 *   interpolate(mode='bilinear', align_corners=False) and OpenCV's INTER_LINEAR, no antialiasing)
 *   -> Round (half to even) -> Clip to [0, 255] -> Cast back to uint8.
 *
 * Resizing to the same size is the identity: half-pixel coordinates then land on the pixels.
 * Opset 17's Resize wants a size for every axis, so the output size is the input's [N, C] (a
 * Shape and a Slice, the batch being symbolic) concatenated with the requested [H, W].
 */

const PREFIX = 'resize/';
const IMAGES = 'images';
const OUTPUT = 'resized';

function check(shape: readonly [number, number, number], size: readonly [number, number]): void {
  if (![...shape, ...size].every((d) => Number.isInteger(d) && d > 0)) {
    throw new ConvlabError(
      `resize: image shape ${shape.join('x')} and target size ${size.join('x')} must be positive integers`,
    );
  }
}

/** The resize graph as plain ONNX data: uint8 [N, C, H, W] in, uint8 [N, C, size[0], size[1]] out. */
export function resizeGraph(
  shape: readonly [number, number, number],
  size: readonly [number, number],
): GraphProto {
  check(shape, size);
  const [c] = shape;
  const g = new NamedGraph(PREFIX);
  const float = (local: string, value: number) => g.float(local, [value], []);

  const x = g.node('Cast', 'cast', [IMAGES], { to: { i: DataType.FLOAT } });
  const batchAndChannels = g.node('Slice', 'batch_channels', [
    g.node('Shape', 'shape', [IMAGES]),
    g.int64('batch_channels/start', [0]),
    g.int64('batch_channels/end', [2]),
  ]);
  const sizes = g.node('Concat', 'sizes', [batchAndChannels, g.int64('size', [...size])], { axis: { i: 0 } });
  // Empty names skip Resize's optional roi and scales inputs.
  const resized = g.node('Resize', 'resize', [x, '', '', sizes], {
    mode: { s: 'linear' },
    coordinate_transformation_mode: { s: 'half_pixel' },
  });
  const clipped = g.node('Clip', 'clip', [
    g.node('Round', 'round', [resized]),
    float('min', 0),
    float('max', 255),
  ]);
  g.node('Cast', 'to_uint8', [clipped], { to: { i: DataType.UINT8 } }, OUTPUT);
  return {
    name: 'resize',
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: IMAGES, elemType: DataType.UINT8, shape: [BATCH_DIM, ...shape] }],
    outputs: [{ name: OUTPUT, elemType: DataType.UINT8, shape: [BATCH_DIM, c, size[0], size[1]] }],
  };
}

/** The `.onnx` bytes of resizeGraph. */
export function resizeModel(
  shape: readonly [number, number, number],
  size: readonly [number, number],
): Uint8Array {
  return modelBytes(resizeGraph(shape, size), { docString: `convlab bilinear resize to ${size.join('x')}` });
}

/**
 * Every image of `set` resized to `size` ([H, W]), bilinearly; labels and classes unchanged. The
 * images go through onnxruntime in chunks of about 4 MiB of input.
 */
export async function resizeImages(
  set: ImageSet,
  size: readonly [number, number],
  options: SessionOptions = {},
): Promise<ImageSet> {
  const [c, h, w] = set.shape;
  const session = await openSession(resizeModel(set.shape, size), options, 'the resize graph');
  const inSize = sampleSize(set);
  const outSize = c * size[0] * size[1];
  const images = new Uint8Array(set.count * outSize);
  const chunk = Math.max(1, Math.floor(2 ** 22 / inSize));
  try {
    for (let from = 0; from < set.count; from += chunk) {
      const n = Math.min(chunk, set.count - from);
      const batch = set.images.subarray(from * inSize, (from + n) * inSize);
      const out = await session.run({ [IMAGES]: new ort.Tensor('uint8', batch, [n, c, h, w]) });
      images.set(out[OUTPUT]!.data as Uint8Array, from * outSize);
    }
  } finally {
    await session.release();
  }
  return { ...set, name: `${set.name}@${size.join('x')}`, images, shape: [c, size[0], size[1]] };
}
