import { ConvlabError } from '../../ir/errors.js';
import { keyword, pair } from '../python.js';
import { callOf, registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/**
 * pad is F.pad, whose pads run from the last axis backwards (begin, end per axis); 'edge' is
 * PyTorch's 'replicate', which (like 'reflect') pads only the trailing spatial axes of a 4-D input.
 */
registerTorchOp({
  kind: 'pad',
  functional: (ctx) => {
    const pads = attr<readonly number[]>(ctx, 'pads');
    const half = pads.length / 2;
    const torchPads: number[] = [];
    for (let axis = half - 1; axis >= 0; axis--) torchPads.push(pads[axis]!, pads[half + axis]!);
    while (torchPads.length > 2 && torchPads.at(-1) === 0 && torchPads.at(-2) === 0) torchPads.splice(-2);
    const mode = attr<string>(ctx, 'mode');
    if (mode !== 'constant' && torchPads.length > 4) {
      throw new ConvlabError(
        `op 'pad' (node '${ctx.name}') pads the channels in mode '${mode}': PyTorch's F.pad has no equivalent; pad H and W only`,
      );
    }
    return {
      args: [
        keyword('pad', torchPads),
        keyword('mode', mode === 'edge' ? 'replicate' : mode, 'constant'),
        keyword('value', attr<number>(ctx, 'value'), 0),
      ],
      render: ([x], args) => {
        const rest = new Map(args);
        rest.delete('pad');
        if (mode !== 'constant') rest.delete('value');
        return callOf('F.pad', [x!, args.get('pad')!], rest);
      },
    };
  },
});

/** resize is F.interpolate: by size, or by scale_factor with PyTorch's own coordinate rule. */
registerTorchOp({
  kind: 'resize',
  functional: (ctx) => {
    const size = attr<readonly number[]>(ctx, 'size');
    const bySize = size[0]! > 0;
    const mode = attr<string>(ctx, 'mode');
    return {
      args: [
        bySize
          ? keyword('size', pair(size))
          : keyword('scale_factor', [...attr<readonly number[]>(ctx, 'scale')]),
        keyword('mode', mode, 'nearest'),
        ...(mode === 'bilinear' ? [keyword('align_corners', attr<boolean>(ctx, 'alignCorners'))] : []),
      ],
      render: ([x], args) => callOf('F.interpolate', [x!], args),
    };
  },
});
