import { describe, expect, it } from 'vitest';
import { type ImageSet, imageSet } from '../../src/data/dataset.js';
import {
  drawAugment,
  evalBatches,
  type LoaderState,
  type TrainBatch,
  TrainLoader,
} from '../../src/data/loader.js';
import { Rng } from '../../src/ir/random.js';
import { expectUserError } from '../support/errors.js';

/** Sample i's pixels are all i (mod 256) and its label is i mod 7: a batch tells which samples it holds. */
function numbered(count: number, shape: [number, number, number] = [2, 3, 3]): ImageSet {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) images.fill(i % 256, i * size, (i + 1) * size);
  return imageSet({
    name: 'numbered',
    images,
    labels: Int32Array.from({ length: count }, (_, i) => i % 7),
    count,
    shape,
    classes: 7,
  });
}

const ids = (b: { images: Uint8Array; size: number }, sample: number) =>
  Array.from({ length: b.size }, (_, j) => b.images[j * sample]!);

/** `epochs` epochs of batches; the loader is closed afterwards. */
async function collect(loader: TrainLoader, epochs: number): Promise<TrainBatch[]> {
  const out: TrainBatch[] = [];
  for (let e = 0; e < epochs; e++) for await (const b of loader.epoch()) out.push(b);
  await loader.close();
  return out;
}

const summary = (b: TrainBatch) => ({
  epoch: b.epoch,
  index: b.index,
  images: Array.from(b.images),
  labels: Array.from(b.labels),
  crops: b.augment && Array.from(b.augment.crops, Number),
  flips: b.augment && Array.from(b.augment.flips),
});

describe('random generator', () => {
  it('is deterministic, and its state restores the exact sequence', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect(Array.from({ length: 5 }, () => a.nextUint32())).toEqual(
      Array.from({ length: 5 }, () => b.nextUint32()),
    );
    expect(new Rng(43).nextUint32()).not.toBe(new Rng(42).nextUint32());
    const state = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 100 }, () => a.below(1000));
    const resumed = Rng.restore(state);
    expect(Array.from({ length: 100 }, () => resumed.below(1000))).toEqual(expected);
    expect(() => Rng.restore([0, 0, 0, 0])).toThrow(/not a random-generator state/);
    expect(() => Rng.restore([1, 2, 3] as unknown as [number, number, number, number])).toThrow();
  });

  it('draws uniform integers and permutations', () => {
    const rng = new Rng(1);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[rng.below(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
    const p = rng.permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(p.slice(0, 10)).not.toEqual(Int32Array.from({ length: 10 }, (_, i) => i));
    const u = Array.from({ length: 10000 }, () => rng.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
  });
});

describe('training batches', () => {
  it('full batches of distinct samples, the partial last batch dropped, a new order each epoch', async () => {
    const set = numbered(23);
    const loader = new TrainLoader(set, { batch: 5, seed: 1 });
    expect(loader.batchesPerEpoch).toBe(4);
    const batches = await collect(loader, 2);
    expect(batches.map((b) => [b.epoch, b.index])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 0],
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    for (const b of batches) {
      expect(b.size).toBe(5);
      expect(b.images.length).toBe(5 * 18);
      // Whole samples copied: every pixel of slot j is its sample id, and its label follows.
      ids(b, 18).forEach((id, j) => {
        expect(b.images.subarray(j * 18, (j + 1) * 18).every((v) => v === id)).toBe(true);
        expect(b.labels[j]).toBe(id % 7);
      });
    }
    const epoch0 = batches.slice(0, 4).flatMap((b) => ids(b, 18));
    const epoch1 = batches.slice(4).flatMap((b) => ids(b, 18));
    expect(new Set(epoch0).size).toBe(20);
    expect(new Set(epoch1).size).toBe(20);
    expect(epoch0).not.toEqual(epoch1);
    expect(loader.state()).toMatchObject({ epoch: 2, batch: 0 });
  });

  it('gives the same batches whether assembled on a worker thread or on the main thread', async () => {
    const set = numbered(50);
    const options = { batch: 7, seed: 4, augment: { pad: 3, flip: true } };
    const threaded = (await collect(new TrainLoader(set, options), 2)).map(summary);
    const inline = (await collect(new TrainLoader(set, { ...options, thread: false }), 2)).map(summary);
    expect(threaded).toEqual(inline);
  });

  it('same seed, same batches; another seed, other batches', async () => {
    const set = numbered(40);
    const augment = { pad: 2, flip: true };
    const a = (await collect(new TrainLoader(set, { batch: 8, seed: 5, augment }), 3)).map(summary);
    const b = (await collect(new TrainLoader(set, { batch: 8, seed: 5, augment }), 3)).map(summary);
    const c = (await collect(new TrainLoader(set, { batch: 8, seed: 6, augment }), 3)).map(summary);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // Augmentation draws from its own stream: switching it off leaves the order as it was.
    const plain = (await collect(new TrainLoader(set, { batch: 8, seed: 5 }), 3)).map(summary);
    expect(plain.map((p) => p.labels)).toEqual(a.map((p) => p.labels));
    expect(plain[0]!.crops).toBeUndefined();
  });

  it('draws crop offsets in [0, 2*pad] and fair flips', () => {
    const p = drawAugment(new Rng(3), 4000, { pad: 4, flip: true });
    const crops = Array.from(p.crops, Number);
    expect(Math.min(...crops)).toBe(0);
    expect(Math.max(...crops)).toBe(8);
    const flipped = p.flips.reduce((a, b) => a + b, 0);
    expect(Math.abs(flipped - 2000)).toBeLessThan(150);
    const none = drawAugment(new Rng(3), 3, { pad: 0, flip: false });
    expect(Array.from(none.crops, Number)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(none.flips)).toEqual([0, 0, 0]);
  });

  it('resumes from a saved state (JSON round trip) exactly as an uninterrupted run', async () => {
    const set = numbered(37);
    const options = { batch: 6, seed: 9, augment: { pad: 1, flip: true } };
    const straight = (await collect(new TrainLoader(set, options), 4)).map(summary);

    for (const stopAfter of [1, 3, 5, 6, 13]) {
      // Train `stopAfter` batches, checkpoint the last one's resume state and stop, as on SIGINT
      // (the batch prefetched meanwhile is lost).
      const first = new TrainLoader(set, options);
      const seen: ReturnType<typeof summary>[] = [];
      let saved: LoaderState | undefined;
      outer: for (let e = 0; e < 4; e++) {
        for await (const b of first.epoch()) {
          seen.push(summary(b));
          if (seen.length === stopAfter) {
            saved = JSON.parse(JSON.stringify(b.resume)) as LoaderState;
            break outer;
          }
        }
      }
      expect(first.state()).toEqual(saved);
      await first.close();
      const second = new TrainLoader(set, options);
      second.restore(saved!);
      while (seen.length < straight.length) for await (const b of second.epoch()) seen.push(summary(b));
      await second.close();
      expect(seen).toEqual(straight);
    }
  });

  it('continues on the same loader after breaking out of an epoch', async () => {
    const set = numbered(30);
    const options = { batch: 4, seed: 2, augment: { pad: 2, flip: false } };
    const straight = (await collect(new TrainLoader(set, options), 2)).map(summary);
    const loader = new TrainLoader(set, options);
    const seen: ReturnType<typeof summary>[] = [];
    for await (const b of loader.epoch()) {
      seen.push(summary(b));
      if (b.index === 2) break;
    }
    while (seen.length < straight.length) for await (const b of loader.epoch()) seen.push(summary(b));
    await loader.close();
    expect(seen).toEqual(straight);
  });

  it('refuses a batch larger than the data, and a state from other data or batch size', async () => {
    await expectUserError(
      () => new TrainLoader(numbered(10), { batch: 11, seed: 0 }),
      'batch 11 is larger than the 10 training samples',
    );
    await expectUserError(() => new TrainLoader(numbered(10), { batch: 0, seed: 0 }), 'positive integer');
    const state = new TrainLoader(numbered(10), { batch: 2, seed: 0 }).state();
    await expectUserError(
      () => new TrainLoader(numbered(12), { batch: 2, seed: 0 }).restore(state),
      'written for 10 training samples in batches of 2',
    );
    await expectUserError(
      () => new TrainLoader(numbered(10), { batch: 5, seed: 0 }).restore(state),
      'batches of 2',
    );
    await expectUserError(
      () => new TrainLoader(numbered(10), { batch: 2, seed: 0 }).restore({ ...state, batch: 5 }),
      'batch 5 of 5',
    );
    await expectUserError(
      () =>
        new TrainLoader(numbered(10), { batch: 2, seed: 0 }).restore({
          ...state,
          order: [1, 2] as unknown as LoaderState['order'],
        }),
      'not valid',
    );
  });

  it('prefetches: after blocking work on a batch, the next one is already assembled', async () => {
    const loader = new TrainLoader(numbered(64), { batch: 8, seed: 0 });
    const readyAfterWork: number[] = [];
    for await (const b of loader.epoch()) {
      // Stands for an onnxruntime-node run, which blocks the JavaScript thread.
      const until = performance.now() + 100;
      while (performance.now() < until) {}
      await new Promise((r) => setImmediate(r)); // let the worker's finished batch be received
      readyAfterWork.push(loader.assembled - (b.index + 1));
    }
    await loader.close();
    // After each blocked stretch the next batch was already there (none after the last one).
    expect(readyAfterWork).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
  });

  it('closing a loader with a batch in flight is quiet', async () => {
    const loader = new TrainLoader(numbered(64), { batch: 8, seed: 0 });
    for await (const b of loader.epoch()) {
      expect(b.index).toBe(0);
      break;
    }
    await loader.close();
    // A closed loader starts a new thread when asked again.
    const again = [];
    for await (const b of loader.epoch()) again.push(b.index);
    await loader.close();
    expect(again).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('evaluation batches', () => {
  it('cover every sample once, in order, the last one padded with zeros', async () => {
    const set = numbered(23);
    const batches = [];
    for await (const b of evalBatches(set, 10)) batches.push(b);
    expect(batches.map((b) => b.size)).toEqual([10, 10, 3]);
    expect(batches.flatMap((b) => ids(b, 18))).toEqual(Array.from({ length: 23 }, (_, i) => i));
    const last = batches[2]!;
    expect(last.images.length).toBe(10 * 18);
    expect(last.images.subarray(3 * 18).every((v) => v === 0)).toBe(true);
    expect(Array.from(last.labels)).toEqual([20 % 7, 21 % 7, 22 % 7, 0, 0, 0, 0, 0, 0, 0]);
    const big = [];
    for await (const b of evalBatches(set, 64)) big.push(b.size);
    expect(big).toEqual([23]);
  });
});
