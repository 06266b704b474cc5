import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, int } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank, rule } from './util.js';

/**
 * ShuffleNet's channel shuffle: reshape C into (groups, C/groups), transpose, flatten back, so the
 * next grouped conv sees channels from every group. Channel j*groups + g of the output is channel
 * g*(C/groups) + j of the input. No FLOPs, but a copy (the transpose is not a view).
 */
export const ChannelShuffle = registerOp(
  defineOp({
    kind: 'channel_shuffle',
    summary: 'interleave channels across groups (ShuffleNet)',
    arity: 1,
    attrs: { groups: int({ min: 1 }) },
    inferShape([x], a) {
      requireRank(x!, 4);
      rule(x![1]! % a.groups === 0, `groups ${a.groups} must divide the channels ${x![1]}`);
      return x!;
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx({ attrs: a, inputs: [shape] }, w, [x]) {
      const [, c, h, wd] = shape as [number, number, number, number];
      // 0 copies the batch dimension, so the graph keeps its symbolic batch.
      const grouped = emit(w, 'Reshape', [x!, w.constant([0, a.groups, c / a.groups, h, wd], [5], 'int64')]);
      const swapped = emit(w, 'Transpose', [grouped], { perm: { ints: [0, 2, 1, 3, 4] } });
      return emit(w, 'Reshape', [swapped, w.constant([0, c, h, wd], [4], 'int64')]);
    },
  }),
);

export const channelShuffle = (
  x: Tensor,
  attrs: AttrsIn<typeof ChannelShuffle.attrs>,
  name?: NameOrOptions,
): Tensor => x.builder.apply(ChannelShuffle, [x], attrs, options(name));
