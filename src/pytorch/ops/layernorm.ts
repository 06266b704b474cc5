import { keyword, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** layernorm is nn.LayerNorm over the trailing axes from `axis`; layernorm2d is torchvision's LayerNorm2d. */
registerTorchOp({
  kind: 'layernorm',
  module: (ctx) => {
    const x = ctx.inputs[0]!;
    const axis = attr<number>(ctx, 'axis');
    const first = axis < 0 ? x.length + axis : axis;
    return {
      callee: 'nn.LayerNorm',
      args: [
        positional('normalized_shape', [...x.slice(first)]),
        keyword('eps', attr<number>(ctx, 'eps'), 1e-5),
        keyword('elementwise_affine', attr<boolean>(ctx, 'affine'), true),
      ],
    };
  },
});

const LAYERNORM2D = `class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an NCHW tensor (torchvision's LayerNorm2d)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)`;

registerTorchOp({
  kind: 'layernorm2d',
  helpers: [LAYERNORM2D],
  module: (ctx) => ({
    callee: 'LayerNorm2d',
    args: [
      positional('normalized_shape', ctx.inputs[0]![1]!),
      keyword('eps', attr<number>(ctx, 'eps'), 1e-5),
      keyword('elementwise_affine', attr<boolean>(ctx, 'affine'), true),
    ],
  }),
});
