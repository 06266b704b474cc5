import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nchwcBlockSize } from '../src/runtime/nchwc.js';

const cpuFlags = (() => {
  try {
    return new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/));
  } catch {
    return new Set<string>();
  }
})();

describe("onnxruntime's NCHWc block size", () => {
  it('is what its kernels use on this CPU: 16 with AVX-512, 8 with AVX2', async () => {
    const block = await nchwcBlockSize();
    expect([0, 8, 16]).toContain(block);
    if (cpuFlags.has('avx512f')) expect(block).toBe(16);
    else if (cpuFlags.has('avx2')) expect(block).toBe(8);
    expect(await nchwcBlockSize()).toBe(block); // asked once, remembered
  });
});
