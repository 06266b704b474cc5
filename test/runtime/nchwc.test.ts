import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { onnxModel } from '../../src/onnx/export.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { conv2d } from '../../src/ops/index.js';
import { NCHWC_DOMAIN, nchwcBlockSize, nchwcTarget } from '../../src/runtime/nchwc.js';

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

describe('the NCHWc target', () => {
  // 3 -> 8 (3 input channels: not a whole block), 8 -> 5 (one group over a whole block of 8),
  // 5 -> 5 depthwise (grouped): only the second is written as onnxruntime's blocked ops.
  const b = new GraphBuilder('blocks', 'test');
  const x = conv2d(b.input([3, 6, 6]), { out: 8, kernel: 3, padding: 1 }, 'stem');
  const y = conv2d(x, { out: 5, kernel: 3, padding: 1 }, 'blocked');
  b.output(conv2d(y, { out: 5, kernel: 3, padding: 1, groups: 5 }, 'depthwise'));
  const graph = b.build();
  const nchwcNodes = (m: ModelProto) => m.graph.nodes.filter((n) => n.domain === NCHWC_DOMAIN);

  it('lowers a convolution of one group over whole blocks, and leaves every other one a standard Conv', () => {
    const model = onnxModel(graph, { mode: 'infer', target: nchwcTarget(8) });
    expect(nchwcNodes(model).map((n) => `${n.name.split('/')[0]}:${n.opType}`)).toEqual([
      'blocked:ReorderInput',
      'blocked:Conv',
      'blocked:ReorderOutput',
    ]);
    expect(model.opsetImports).toContainEqual({ domain: NCHWC_DOMAIN, version: 1 });
    expect(model.graph.nodes.filter((n) => n.opType === 'Conv' && !n.domain)).toHaveLength(2);
  });

  it('is absent from a standard export, and a block of 0 is standard ONNX', () => {
    for (const model of [
      onnxModel(graph, { mode: 'infer' }),
      onnxModel(graph, { mode: 'infer', target: nchwcTarget(0) }),
    ]) {
      expect(nchwcNodes(model)).toEqual([]);
      expect(model.opsetImports).toEqual([{ domain: '', version: 17 }]);
    }
  });
});
