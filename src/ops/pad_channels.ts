import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, int } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank } from './util.js';

/**
 * Zero channels added before and after: with a strided subsample, the ResNet paper's
 * parameter-free option-A shortcut (F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))). No FLOPs.
 */
export const PadChannels = registerOp(
  defineOp({
    kind: 'pad_channels',
    summary: 'append zero channels before and after (option-A shortcut)',
    arity: 1,
    attrs: { before: int({ min: 0 }), after: int({ min: 0 }) },
    inferShape([x], a) {
      requireRank(x!, 4);
      return [x![0]!, x![1]! + a.before + a.after, x![2]!, x![3]!];
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'Pad', [x!, w.constant([0, a.before, 0, 0, 0, a.after, 0, 0], [8], 'int64')]),
  }),
);

export const padChannels = (
  x: Tensor,
  attrs: AttrsIn<typeof PadChannels.attrs>,
  name?: NameOrOptions,
): Tensor => x.builder.apply(PadChannels, [x], attrs, options(name));
