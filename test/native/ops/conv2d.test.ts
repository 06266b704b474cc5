import { describe, expect, it } from 'vitest';
import { type ConvAttrs, convAlgorithm } from '../../../src/native/ops/conv2d.js';

const conv = (over: Partial<ConvAttrs> = {}): ConvAttrs => ({
  out: 64,
  kernel: [3, 3],
  stride: [1, 1],
  padding: [1, 1, 1, 1],
  dilation: [1, 1],
  groups: 1,
  bias: false,
  ...over,
});

describe('the native convolution algorithm', () => {
  it('is Winograd for backward-data of 3x3 stride-1 convolutions of 64+ channels on 8x8+', () => {
    expect(convAlgorithm(conv(), [128, 64, 8, 8], [128, 64, 8, 8], 'data')).toBe('convolution_winograd');
    expect(convAlgorithm(conv({ out: 160 }), [32, 160, 32, 32], [32, 160, 32, 32], 'data')).toBe(
      'convolution_winograd',
    );
  });

  it('is direct forward and for backward-weights, and wherever a measured Winograd lost or does not apply', () => {
    const direct = [
      [conv(), [128, 64, 8, 8], [128, 64, 8, 8], 'forward'],
      [conv(), [128, 64, 8, 8], [128, 64, 8, 8], 'weights'],
      [conv({ out: 16 }), [128, 16, 32, 32], [128, 16, 32, 32], 'data'],
      [conv({ out: 512 }), [64, 512, 1, 1], [64, 512, 1, 1], 'data'],
      [conv({ out: 128 }), [64, 128, 4, 4], [64, 128, 4, 4], 'data'],
      [conv({ stride: [2, 2] }), [8, 64, 16, 16], [8, 64, 8, 8], 'data'],
      [conv({ dilation: [2, 2] }), [8, 64, 8, 8], [8, 64, 8, 8], 'data'],
      [conv({ groups: 2 }), [8, 64, 8, 8], [8, 64, 8, 8], 'data'],
      [conv({ kernel: [1, 1] }), [8, 64, 8, 8], [8, 64, 8, 8], 'data'],
      [conv({ out: 72 }), [8, 64, 8, 8], [8, 72, 8, 8], 'data'],
    ] as const;
    for (const [attrs, input, output, pass] of direct)
      expect(convAlgorithm(attrs, input, output, pass), JSON.stringify([attrs, input, pass])).toBe(
        'convolution_direct',
      );
  });
});
