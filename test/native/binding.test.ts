import { describe, expect, it } from 'vitest';
import { binding, bindingBuilt } from '../../src/native/binding.js';

const built = bindingBuilt();
if (!built) console.warn('test/native: the oneDNN binding is not built (node native/build.mjs); skipping');

describe.skipIf(!built)('the oneDNN binding', () => {
  it('runs a convolution over JavaScript-owned buffers', () => {
    const b = binding();
    const x = b.md([1, 2, 3, 3], 'f32', 'nchw');
    const w = b.md([1, 2, 3, 3], 'f32', 'oihw');
    const y = b.md([1, 1, 3, 3], 'f32', 'nchw');
    const pd = b.convFwd('convolution_direct', x, w, null, y, [1, 1], [0, 0], [1, 1], [1, 1], true);
    const [X, W, Y] = [new Float32Array(18).fill(1), new Float32Array(18).fill(0.5), new Float32Array(9)];
    const { ARG } = b;
    const args = b.args(
      [ARG.SRC, ARG.WEIGHTS, ARG.DST],
      [b.memory(x, X, 0), b.memory(w, W, 0), b.memory(y, Y, 0)],
    );
    b.execute(b.primitive(pd), args);
    b.wait();
    // A corner sees 2x2 of each of the 2 channels, an edge 2x3, the centre 3x3, each times 0.5.
    expect([...Y]).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4]);
  });

  it('picks blocked layouts where asked for any, and reports their sizes', () => {
    const b = binding();
    const any = b.md([8, 16, 8, 8], 'f32', 'any');
    const pd = b.convFwd(
      'convolution_direct',
      any,
      b.md([16, 16, 3, 3], 'f32', 'any'),
      null,
      any,
      [1, 1],
      [0, 0],
      [1, 1],
      [1, 1],
      true,
    );
    const src = b.pdMd(pd, 'src', 0);
    expect(b.mdBytes(src)).toBe(8 * 16 * 8 * 8 * 4);
    expect(b.mdEqual(src, b.md([8, 16, 8, 8], 'f32', 'nChw16c'))).toBe(true);
  });

  it('allocates an arena in whole 2 MiB pages, zeroed, and moments sums in double', () => {
    const b = binding();
    const arena = b.hugeArena(3 << 20);
    expect(arena.byteLength).toBe(4 << 20);
    const floats = new Float32Array(arena);
    expect(floats.every((v) => v === 0)).toBe(true);
    floats.set([1e-20, 3e-20, 1e8, -1e8]);
    const out = new Float64Array(3);
    b.moments(floats, 2, out);
    // float32 squares of 1e-20 underflow to 0; the double sums keep them.
    expect(out[0]! / 2e-20).toBeCloseTo(1, 6);
    expect(Math.sqrt(out[1]!) / 1e-20).toBeCloseTo(1, 6);
    expect(out[2]! / 1e-39).toBeCloseTo(1, 6);
    b.moments(floats.subarray(2), 2, out);
    expect([out[0], out[1]]).toEqual([0, 1e16]);
  });

  it('rejects a wrong handle or a short buffer with an error, not a crash', () => {
    const b = binding();
    const md = b.md([4, 4], 'f32', 'nc');
    expect(() => b.primitive(md as never)).toThrow(/must be a primitive descriptor/);
    expect(() => b.memory(md, new Float32Array(3), 0)).toThrow(/smaller/);
    expect(() => b.md([1], 'f32', 'bogus' as never)).toThrow(/unknown format tag/);
  });

  it('updates weights by torch.optim.SGD with momentum, weight decay and Nesterov', () => {
    const b = binding();
    const w = Float32Array.of(1, -2);
    const g = Float32Array.of(0.5, 0.25);
    const v = Float32Array.of(0.1, 0);
    b.sgd(w, g, v, 2, 0.1, 0.9, 0.01, true);
    const gi = [0.5 + 0.01, 0.25 - 0.02];
    const vi = [0.9 * 0.1 + gi[0]!, gi[1]!];
    expect(v[0]).toBeCloseTo(vi[0]!, 6);
    expect(w[0]).toBeCloseTo(1 - 0.1 * (gi[0]! + 0.9 * vi[0]!), 6);
    expect(w[1]).toBeCloseTo(-2 - 0.1 * (gi[1]! + 0.9 * vi[1]!), 6);
  });
});
