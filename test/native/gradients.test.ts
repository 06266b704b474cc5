import { describe, expect, it } from 'vitest';
import type { WeightData } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import type { ImageBatch, StepSession } from '../../src/train/backend.js';
import { onednnBackend } from '../../src/train/native.js';
import { randomBatch } from '../../src/train/timing.js';
import { MODELS } from './models.js';

/**
 * Every native gradient against central finite differences of the native step's own loss: with
 * lr = 0 a step computes the loss and leaves the weights alone, and with momentum and no weight
 * decay its momentum buffer after the first step is the gradient. For each parameter the two
 * coordinates of largest gradient are checked (float32 forward: h = 5e-3, tolerance 1e-3 + 5%).
 */
const built = bindingBuilt();
const SGD = { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 } as const;
const batch = 8;
const images: ImageBatch = { data: randomBatch([batch, 3, 8, 8], 11), dims: [batch, 3, 8, 8] };
const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7) % 10);
const H = 5e-3;

const copy = (state: ReadonlyMap<string, WeightData>) => new Map([...state].map(([k, v]) => [k, v.slice()]));

async function lossAt(
  s: StepSession,
  start: Map<string, WeightData>,
  name: string,
  i: number,
  delta: number,
) {
  const state = copy(start);
  (state.get(name) as Float32Array)[i]! += delta;
  s.restore(state);
  return (await s.step(images, labels, 0, 1)).loss;
}

/** Indices of the `k` largest magnitudes of `g`. */
const largest = (g: Float32Array, k: number) =>
  [...g.keys()].sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, k);

describe.skipIf(!built)('native gradients against central finite differences', () => {
  for (const [what, build] of Object.entries(MODELS)) {
    it(what, async () => {
      const s = await onednnBackend.create(build(), { batch, optimizer: SGD }, { seed: 4 }, { threads: 1 });
      const start = copy(s.snapshot());
      await s.step(images, labels, 0, 1);
      const grads = copy(s.snapshot());
      const failures: string[] = [];
      let checked = 0;
      for (const entry of s.state.filter((e) => e.kind === 'param')) {
        const g = grads.get(`${entry.name}.momentum_buffer`) as Float32Array;
        for (const i of largest(g, 2)) {
          const fd =
            ((await lossAt(s, start, entry.name, i, H)) - (await lossAt(s, start, entry.name, i, -H))) /
            (2 * H);
          checked++;
          if (Math.abs(fd - g[i]!) > 1e-3 + 0.05 * Math.abs(g[i]!))
            failures.push(`${entry.name}[${i}]: backward ${g[i]}, finite difference ${fd}`);
        }
      }
      expect(checked).toBeGreaterThan(4);
      expect(failures).toEqual([]);
    });
  }
});
