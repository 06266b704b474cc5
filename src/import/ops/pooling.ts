import { hasOp } from '../../ir/registry.js';
import { registerHandler } from '../convert.js';
import { layerNormChain, reduceAxes } from './norm.js';
import { windowOf } from './window.js';

/* Pooling, global pooling, ReduceMean over the spatial axes, Flatten. */

registerHandler(['MaxPool'], (c) => {
  if (c.node.outputs[1] && c.cv.consumers(c.node.outputs[1]).length) c.fail('its Indices output is used');
  const x = c.tensor(0);
  const w = windowOf(c, x.shape);
  c.output(c.apply('maxpool2d', [x], { ...w, ceilMode: c.int('ceil_mode', 0) === 1 }));
});

registerHandler(['AveragePool'], (c) => {
  const x = c.tensor(0);
  const w = windowOf(c, x.shape);
  if (w.dilation[0] !== 1 || w.dilation[1] !== 1) c.fail('dilated average pooling is not supported');
  c.output(
    c.apply('avgpool2d', [x], {
      kernel: w.kernel,
      stride: w.stride,
      padding: w.padding,
      ceilMode: c.int('ceil_mode', 0) === 1,
      countIncludePad: c.int('count_include_pad', 0) === 1,
    }),
  );
});

registerHandler(['GlobalAveragePool'], (c) =>
  c.output(c.apply('adaptive_avgpool2d', [c.tensor(0)], { output: 1 })),
);
registerHandler(['GlobalMaxPool'], (c) =>
  c.output(c.apply('adaptive_maxpool2d', [c.tensor(0)], { output: 1 })),
);

registerHandler(['ReduceMean'], (c) => {
  if (layerNormChain(c)) return;
  const x = c.tensor(0);
  const axes = reduceAxes(c, x.shape.length);
  const keep = c.int('keepdims', 1) === 1;
  if (x.shape.length === 4 && axes.join() === '2,3') {
    // x.mean([2, 3]) (MnasNet's head) is global average pooling, then a flatten without keepdims.
    c.cv.fused('global average pool (ReduceMean)');
    const pooled = c.apply('adaptive_avgpool2d', [x], { output: 1 });
    c.output(
      keep ? pooled : c.apply('flatten', [pooled], {}, { name: c.cv.names.unique(`${pooled.name}.flatten`) }),
    );
    return;
  }
  if (!hasOp('reducemean'))
    c.fail(`convlab imports ReduceMean over the spatial axes; these are [${axes.join(',')}]`);
  c.output(c.apply('reducemean', [x], { axes, keepdims: keep }));
});

registerHandler(['Flatten'], (c) => {
  const x = c.tensor(0);
  const axis = c.int('axis', 1);
  if (axis !== 1 && axis !== 1 - x.shape.length) c.fail(`convlab imports Flatten from axis 1, not ${axis}`);
  c.output(x.shape.length === 2 ? x : c.apply('flatten', [x], {}));
});
