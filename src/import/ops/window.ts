import type { NodeContext } from '../convert.js';

/** The kernel, strides, dilations and [top, left, bottom, right] pads of a Conv or pooling node. */
export interface Window {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly padding: [number, number, number, number];
}

const pair = (
  c: NodeContext,
  name: string,
  values: readonly number[] | undefined,
  fallback: number,
): [number, number] => {
  const v = values ?? [fallback, fallback];
  if (v.length !== 2 || !v.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 1 << 20)) {
    c.fail(`convlab imports 2-D windows; '${name}' is [${v.join(',')}]`);
  }
  return [v[0]!, v[1]!];
};

/**
 * A node's window over input [N, C, H, W], with auto_pad SAME_UPPER/SAME_LOWER turned into the
 * explicit pads ONNX defines for them (output = ceil(input / stride)).
 */
export function windowOf(
  c: NodeContext,
  input: readonly number[],
  kernelDefault?: readonly number[],
): Window {
  if (input.length !== 4)
    c.fail(`convlab imports 2-D windows over [N,C,H,W], got input [${input.join(',')}]`);
  const kernel = pair(c, 'kernel_shape', c.ints('kernel_shape') ?? kernelDefault, 1);
  const stride = pair(c, 'strides', c.ints('strides'), 1);
  const dilation = pair(c, 'dilations', c.ints('dilations'), 1);
  const autoPad = c.string('auto_pad', 'NOTSET');
  let padding: [number, number, number, number] = [0, 0, 0, 0];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = [0, 1].map((i) => {
      const size = input[2 + i]!;
      const out = Math.ceil(size / stride[i]!);
      return Math.max(0, (out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - size);
    });
    const small = total.map((t) => Math.floor(t / 2));
    const large = total.map((t, i) => t - small[i]!);
    padding =
      autoPad === 'SAME_UPPER'
        ? [small[0]!, small[1]!, large[0]!, large[1]!]
        : [large[0]!, large[1]!, small[0]!, small[1]!];
  } else if (autoPad === 'NOTSET') {
    const pads = c.ints('pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4 || !pads.every((p) => Number.isSafeInteger(p) && p >= 0 && p <= 1 << 20)) {
      c.fail(`pads must be four non-negative integers, got [${pads.join(',')}]`);
    }
    padding = [pads[0]!, pads[1]!, pads[2]!, pads[3]!];
  } else if (autoPad !== 'VALID') c.fail(`auto_pad '${autoPad}' is not an ONNX value`);
  return { kernel, stride, dilation, padding };
}
