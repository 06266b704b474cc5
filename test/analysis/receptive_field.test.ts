import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type AxisField,
  type AxisWindow,
  axisTransfer,
  closedForm,
  type ReceptiveFields,
  receptiveFields,
  receptiveFieldsOf,
  recursion,
} from '../../src/analysis/receptive_field.js';
import { checkReceptiveFields, type Measured } from '../../src/analysis/receptive_field_check.js';
import {
  adaptiveAvgpool2d,
  adaptiveMaxpool2d,
  add,
  buildModel,
  concat,
  conv2d,
  type Graph,
  GraphBuilder,
  isSpatial,
  listModels,
  maxpool2d,
  mul,
  relu,
  resolveGraph,
  type SpatialTransfer,
  type Tensor,
} from '../../src/index.js';
import { readJson } from '../support/golden.js';
import { ROOT } from '../support/paths.js';

const models = listModels();
const has = (name: string): boolean => models.some((m) => m.name === name);

const field = (f: ReceptiveFields, name: string) => {
  const n = f.byName.get(name);
  if (!n) throw new Error(`no node '${name}'`);
  return n;
};

/** A small graph: `body` builds it from the input; its result is the output. */
function graph(input: readonly [number, number, number], body: (x: Tensor) => Tensor): Graph {
  const b = new GraphBuilder('test', 'test');
  b.output(body(b.input(input)));
  return b.build();
}

/** torchvision's VGG-16 `features`, for when the zoo's vgg16 is not registered yet. */
function vgg16Features(): Graph {
  return graph([3, 224, 224], (x) => {
    let i = 0;
    for (const v of [
      64,
      64,
      'M',
      128,
      128,
      'M',
      256,
      256,
      256,
      'M',
      512,
      512,
      512,
      'M',
      512,
      512,
      512,
      'M',
    ]) {
      if (v === 'M') {
        x = maxpool2d(x, { kernel: 2, stride: 2 }, `features.${i++}`);
        continue;
      }
      x = relu(conv2d(x, { out: v as number, kernel: 3, padding: 1 }, `features.${i++}`), `features.${i++}`);
    }
    return x;
  });
}

/** The independent check's measurement must equal the formulas, axis by axis, wherever both are exact. */
function expectCheckAgrees(g: Graph): { measured: number; whole: number; fixed: number } {
  const check = checkReceptiveFields(g);
  const fields = receptiveFields(resolveGraph(check.graph));
  const wrong: string[] = [];
  let [measured, whole, fixed] = [0, 0, 0];
  for (const f of fields.nodes) {
    const c = check.nodes.get(f.name)!;
    expect(c.context).toBe(f.context !== null);
    for (const axis of [0, 1] as const) {
      const m: Measured = c.axes[axis];
      const ours = `${f.size[axis]}/${f.stride[axis]}/${f.padding[axis]}`;
      if (f.approximate) continue;
      if (f.global) {
        // A valid convolution's floor may leave a few far-border pixels unread: fewer than the
        // effective stride of the map that is pooled.
        const slack = Math.max(...fields.nodes.filter((n) => !n.global).map((n) => n.stride[axis]));
        if (m.kind === 'whole' && m.span <= f.size[axis] && m.span > f.size[axis] - slack) whole++;
        else
          wrong.push(
            `${f.name}[${axis}]: formulas say the whole input (${f.size[axis]}), check ${JSON.stringify(m)}`,
          );
      } else if (m.kind === 'field') {
        if (`${m.size}/${m.stride}/${m.padding}` === ours) measured++;
        else wrong.push(`${f.name}[${axis}]: formulas ${ours}, check ${m.size}/${m.stride}/${m.padding}`);
      } else if (m.kind === 'unmeasured' && m.reason.startsWith('fixed-size')) fixed++;
      else wrong.push(`${f.name}[${axis}]: formulas ${ours}, check ${JSON.stringify(m)}`);
    }
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  return { measured, whole, fixed };
}

describe('the two formulas', () => {
  it('agree on hand-made paths (recursion from the output, closed form from the input)', () => {
    const path: AxisWindow[] = [
      { kernel: 7, stride: 2, padding: 3 },
      { kernel: 3, stride: 2, padding: 1 },
      { kernel: 3, stride: 1, padding: 1 },
    ];
    // conv1 7x7/2 then maxpool 3x3/2 then 3x3/1: r = 7 + 2*2 + 2*4, S = 4, P = 3 + 1*2 + 1*4.
    const expected: AxisField = { size: 19, stride: 4, padding: 9, centre: 0 };
    expect(recursion(path)).toEqual(expected);
    expect(closedForm(path)).toEqual(expected);
    expect(recursion([])).toEqual({ size: 1, stride: 1, padding: 0, centre: 0 });
  });

  it('agree on 2000 random paths with dilation, asymmetric strides and padding', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let t = 0; t < 2000; t++) {
      const path = Array.from({ length: 1 + rand(12) }, () => {
        const dilation = 1 + rand(3);
        return { kernel: dilation * rand(7) + 1, stride: 1 + rand(3), padding: rand(4) };
      });
      expect(recursion(path)).toEqual(closedForm(path));
    }
  });
});

describe('published and hand-derived fields', () => {
  const reference = readJson<{
    receptive_field_example: Record<string, { size: number; stride: number; padding: number }>;
  }>(join(ROOT, 'test', 'golden', 'published.json')).receptive_field_example;

  it(`VGG-16 pool5 (features.30) is 212 / 32 / 90 (Distill), from ${has('vgg16') ? "the zoo's vgg16" : 'a hand-built VGG-16'}`, () => {
    const ref = reference['vgg16 pool5 (torchvision features.30)']!;
    const f = field(receptiveFieldsOf(has('vgg16') ? buildModel('vgg16') : vgg16Features()), 'features.30');
    expect([f.size, f.stride, f.padding]).toEqual([
      [ref.size, ref.size],
      [ref.stride, ref.stride],
      [ref.padding, ref.padding],
    ]);
    expect([f.aligned, f.global, f.clipped, f.approximate]).toEqual([true, false, false, false]);
    expect(f.centre).toEqual([15.5, 15.5]);
    expect(ref).toMatchObject({ size: 212, stride: 32, padding: 90 });
  });

  it.skipIf(!has('resnet50'))(
    'ResNet-50 (torchvision, stride in the 3x3): every stage, and the last conv stage',
    () => {
      const rf = receptiveFieldsOf(buildModel('resnet50'));
      // conv1 7/2/3 -> r 7, maxpool 3/2/1 -> 11, then each bottleneck's 3x3 adds 2 * stride.
      const stages = {
        layer1: [35, 4, 17],
        layer2: [91, 8, 45],
        layer3: [267, 16, 133],
        layer4: [427, 32, 213],
      };
      for (const [stage, [size, stride, padding]] of Object.entries(stages)) {
        const last = rf.nodes.filter((n) => n.name.startsWith(`${stage}.`)).at(-1)!;
        expect([last.name, last.size, last.stride, last.padding]).toEqual([
          last.name,
          [size, size],
          [stride, stride],
          [padding, padding],
        ]);
        expect(last.aligned).toBe(true);
      }
      const layer4 = field(rf, 'layer4.2.conv2');
      expect([layer4.size[0], layer4.clipped, layer4.centre]).toEqual([427, true, [0, 0]]);
      // Every shortcut is aligned with its branch: the projection 1x1/2 and the 3x3/2 share the centre.
      const merges = rf.nodes.filter((n) => n.merge);
      expect(merges).toHaveLength(16);
      expect(merges.every((n) => n.merge!.aligned)).toBe(true);
      expect(field(rf, 'fc')).toMatchObject({ global: true, size: [224, 224] });
    },
  );

  it.skipIf(!has('inception_v3'))('Inception v3 Mixed_7c matches the Distill table (1311 / 32 / 618)', () => {
    const rf = receptiveFieldsOf(buildModel('inception_v3'));
    const last = rf.nodes.filter((n) => n.name.startsWith('Mixed_7c.')).at(-1)!;
    expect([last.size, last.stride, last.padding, last.aligned]).toEqual([
      [1311, 1311],
      [32, 32],
      [618, 618],
      true,
    ]);
  });
});

describe('op semantics', () => {
  it('dilation: the effective kernel is d*(k-1)+1', () => {
    const g = graph([1, 64, 64], (x) => {
      const a = conv2d(x, { out: 1, kernel: 3, dilation: 2, padding: 2 }, 'a');
      return conv2d(a, { out: 1, kernel: 3, dilation: [4, 1], stride: 2, padding: [4, 1] }, 'b');
    });
    const rf = receptiveFieldsOf(g);
    expect(field(rf, 'a')).toMatchObject({ size: [5, 5], stride: [1, 1], padding: [2, 2] });
    expect(field(rf, 'b')).toMatchObject({ size: [13, 7], stride: [2, 2], padding: [6, 3] });
    expectCheckAgrees(g);
  });

  it('asymmetric padding: the effective padding uses the top and left padding only', () => {
    // Padding4 is [top, left, bottom, right].
    const g = graph([1, 40, 40], (x) => {
      const a = conv2d(x, { out: 1, kernel: 3, stride: 2, padding: [0, 1, 1, 0] }, 'a');
      return conv2d(a, { out: 1, kernel: 5, padding: [3, 0, 1, 4] }, 'b');
    });
    const rf = receptiveFieldsOf(g);
    expect(field(rf, 'a')).toMatchObject({ size: [3, 3], padding: [0, 1], centre: [1, 0] });
    expect(field(rf, 'b')).toMatchObject({
      size: [11, 11],
      stride: [2, 2],
      padding: [6, 1],
      centre: [-1, 4],
    });
    expectCheckAgrees(g);
  });

  it('ceil_mode pooling adds an output at the end but changes neither size, stride nor padding', () => {
    const pooled = (ceilMode: boolean) =>
      graph([1, 30, 30], (x) => {
        const c = conv2d(x, { out: 1, kernel: 3 }, 'c');
        return maxpool2d(c, { kernel: 3, stride: 2, ceilMode }, 'pool');
      });
    const [floor, ceil] = [pooled(false), pooled(true)];
    const [a, b] = [field(receptiveFieldsOf(floor), 'pool'), field(receptiveFieldsOf(ceil), 'pool')];
    expect([a.extent, b.extent]).toEqual([
      [13, 13],
      [14, 14],
    ]);
    expect([b.size, b.stride, b.padding]).toEqual([a.size, a.stride, a.padding]);
    expect(a.size).toEqual([5, 5]);
    expectCheckAgrees(ceil);
  });

  it('global pooling covers the whole input; a 1x1 gate broadcast back is context, not a path', () => {
    const g = graph([4, 32, 32], (x) => {
      const c = conv2d(x, { out: 4, kernel: 3, padding: 1 }, 'c');
      const gate = adaptiveAvgpool2d(c, { output: 1 }, 'squeeze');
      return mul(c, gate, 'scale');
    });
    const rf = receptiveFieldsOf(g);
    expect(field(rf, 'squeeze')).toMatchObject({ global: true, size: [32, 32] });
    expect(field(rf, 'scale')).toMatchObject({
      global: false,
      size: [3, 3],
      context: 'squeeze',
      merge: null,
    });
    expectCheckAgrees(g);
  });

  it('adaptive pooling into unequal bins reports the largest bin as an upper bound', () => {
    const g = graph([1, 10, 12], (x) => adaptiveMaxpool2d(x, { output: [3, 4] }, 'pool'));
    const pool = field(receptiveFieldsOf(g), 'pool');
    // 10 rows into 3 bins: [0,4) [3,7) [6,10), all of 4; 12 columns into 4 bins of 3 are exact.
    expect(pool).toMatchObject({ size: [4, 3], stride: [4, 3], approximate: true });
    // The bins really start at rows 0, 3, 6: the bound's stride of 4 is an over-estimate; columns are exact.
    const check = checkReceptiveFields(g).nodes.get('pool')!;
    expect(check.axes).toEqual([
      { kind: 'field', size: 4, stride: 3, padding: 0, positions: 3 },
      { kind: 'field', size: 3, stride: 3, padding: 0, positions: 4 },
    ]);
  });
});

describe('multi-path alignment', () => {
  const branches = (padB: number | readonly [number, number, number, number]) =>
    graph([1, 24, 24], (x) => {
      const a = conv2d(x, { out: 1, kernel: 3, padding: 1 }, 'a');
      const b = conv2d(x, { out: 1, kernel: 3, padding: padB }, 'b');
      return relu(add(a, b, 'add'), 'after');
    });

  it('an unaligned merge is reported with its node, its paths and the range of sizes', () => {
    // b pads only at the bottom and right: same size and stride as a, but its centre is one pixel off.
    const g = branches([0, 0, 2, 2]);
    const rf = receptiveFieldsOf(g);
    const merge = field(rf, 'add').merge!;
    expect(merge).toMatchObject({ node: 'add', aligned: false, sizeMin: [3, 3], sizeMax: [3, 3] });
    expect(merge.paths.map((p) => [p.from, p.centre])).toEqual([
      ['a', [0, 0]],
      ['b', [1, 1]],
    ]);
    // The field carried on is the union of both, never an average: input rows -1..2.
    expect(field(rf, 'add')).toMatchObject({ aligned: false, size: [4, 4], padding: [1, 1] });
    expect(field(rf, 'after').aligned).toBe(false);
    expectCheckAgrees(g);
  });

  it('aligned branches of different sizes (Inception) merge into the largest', () => {
    const g = graph([1, 24, 24], (x) => {
      const a = conv2d(x, { out: 1, kernel: 1 }, 'a');
      const b = conv2d(x, { out: 1, kernel: 5, padding: 2 }, 'b');
      const c = maxpool2d(x, { kernel: 3, stride: 1, padding: 1 }, 'c');
      return concat([a, b, c], {}, 'cat');
    });
    const cat = field(receptiveFieldsOf(g), 'cat');
    expect(cat).toMatchObject({ aligned: true, size: [5, 5], padding: [2, 2] });
    expect(cat.merge).toMatchObject({ aligned: true, sizeMin: [1, 1], sizeMax: [5, 5] });
    expect(field(receptiveFieldsOf(branches(1)), 'add').aligned).toBe(true);
  });
});

/** A growable Int32Array indexed by trie node, -1 where unset. */
class Column {
  data = new Int32Array(1024).fill(-1);
  get(i: number): number {
    return i < this.data.length ? this.data[i]! : -1;
  }
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const grown = new Int32Array(Math.max(2 * this.data.length, i + 1)).fill(-1);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[i] = v;
  }
}

/**
 * Every path from the input to every node, as the sequence of windows it passes (two paths through
 * the same windows are the same path to both formulas, so sequences are shared in a trie; windows of
 * size 1, stride 1 and no padding add a zero term to both and are left out). Each sequence is run
 * through the recursion and the closed form; each node's field must be the union of its paths'.
 */
function walkEveryPath(name: string): { sequences: number; nodes: number } {
  const r = resolveGraph(buildModel(name));
  const rf = receptiveFields(r);
  let sequences = 0;
  let nodes = 0;
  // On a square input with square windows everywhere, W walks exactly the paths H walks.
  const square = (t: SpatialTransfer) =>
    t.kind !== 'window' ||
    (t.kernel[0] === t.kernel[1] &&
      t.stride[0] === t.stride[1] &&
      t.dilation[0] === t.dilation[1] &&
      t.padding[0] === t.padding[1]);
  const symmetric =
    rf.input[0] === rf.input[1] &&
    r.nodes.every((n) => square(n.def.spatial(n.ctx as never)) && n.ctx.output[2] === n.ctx.output[3]);
  for (const axis of symmetric ? ([0] as const) : ([0, 1] as const)) {
    const windows: AxisWindow[] = [];
    const windowIds = new Map<string, number>();
    const parent: number[] = [-1];
    const last: number[] = [-1];
    const children: Column[] = [];
    const sets: (Int32Array | null)[] = [];
    const stamp = new Column();
    const mismatches: string[] = [];

    for (const n of r.nodes) {
      const out = n.ctx.output;
      if (n.inputs.length === 0) {
        sets.push(Int32Array.of(0));
        continue;
      }
      const spread = (i: number) => {
        const s = r.nodes[i]!.ctx.output;
        return isSpatial(out) && isSpatial(s) && s[2] === 1 && s[3] === 1 && (out[2]! > 1 || out[3]! > 1);
      };
      const ins = n.inputs.filter((i) => !spread(i)).map((i) => sets[i]!);
      const t = axisTransfer(n.def.spatial(n.ctx as never), axis, n.ctx.inputs[0]![2 + axis] ?? 1);
      if (ins.some((s) => s === null) || t.kind === 'global') {
        sets.push(null);
        continue;
      }
      let ids = ins[0]!;
      if (ins.length > 1) {
        const union = new Int32Array(ins.reduce((sum, s) => sum + s!.length, 0));
        let size = 0;
        for (const s of ins) {
          for (const id of s!) {
            if (stamp.get(id) === n.index) continue;
            stamp.set(id, n.index);
            union[size++] = id;
          }
        }
        ids = union.slice(0, size);
      }
      if (t.kind === 'window') {
        const w = t.window;
        if (w.kernel !== 1 || w.stride !== 1 || w.padding !== 0) {
          const key = `${w.kernel},${w.stride},${w.padding}`;
          let wid = windowIds.get(key);
          if (wid === undefined) {
            wid = windows.push(w) - 1;
            windowIds.set(key, wid);
            children.push(new Column());
          }
          const next = children[wid]!;
          const extended = new Int32Array(ids.length);
          ids.forEach((id, k) => {
            let c = next.get(id);
            if (c < 0) {
              c = parent.push(id) - 1;
              last.push(wid!);
              next.set(id, c);
            }
            extended[k] = c;
          });
          ids = extended;
        }
      }
      sets.push(ids);
    }

    // Each distinct sequence once: rebuild it from the trie, then both formulas.
    const results: AxisField[] = [];
    for (let id = 0; id < parent.length; id++) {
      const path: AxisWindow[] = [];
      for (let at = id; at > 0; at = parent[at]!) path.push(windows[last[at]!]!);
      path.reverse();
      const [a, b] = [recursion(path), closedForm(path)];
      if (a.size !== b.size || a.stride !== b.stride || a.padding !== b.padding) {
        mismatches.push(`${name} axis ${axis} path ${JSON.stringify(path)}: ${JSON.stringify([a, b])}`);
      }
      results.push(b);
    }
    sequences += parent.length;

    // Each node: the union of its paths' fields; aligned exactly when every path has one stride and centre.
    const unions = new Map<Int32Array, readonly [number, number, number, boolean] | null>();
    const unionOf = (ids: Int32Array) => {
      if (unions.has(ids)) return unions.get(ids)!;
      const first = results[ids[0]!]!;
      let [padding, end, sameStride, agree] = [0, 0, true, true];
      for (const id of ids) {
        const p = results[id]!;
        padding = Math.max(padding, p.padding);
        end = Math.max(end, p.size - 1 - p.padding);
        sameStride &&= p.stride === first.stride;
        agree &&= p.centre === first.centre && p.stride === first.stride;
      }
      const union = sameStride ? ([end + padding + 1, first.stride, padding, agree] as const) : null;
      unions.set(ids, union);
      return union;
    };
    rf.nodes.forEach((f, i) => {
      const ids = sets[i];
      if (ids === null || ids === undefined) {
        if (!f.global)
          mismatches.push(`${f.name}: every path ends in a global op, but the field is not global`);
        return;
      }
      const union = unionOf(ids);
      if (!union) return;
      const got = [f.size[axis], f.stride[axis], f.padding[axis], f.aligned];
      if (got.join() !== union.join()) mismatches.push(`${f.name} axis ${axis}: pass ${got}, paths ${union}`);
      nodes++;
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
  }
  return { sequences, nodes };
}

describe('every path of every zoo model: recursion = closed form, and the graph pass = union of paths', () => {
  for (const m of models) {
    it(m.name, () => {
      const { sequences, nodes } = walkEveryPath(m.name);
      expect(sequences).toBeGreaterThan(1);
      expect(nodes).toBeGreaterThan(0);
    });
  }
});

describe('the independent check (interval propagation) agrees with the formulas on every zoo model', () => {
  for (const m of models) {
    it(m.name, () => {
      const { measured, fixed } = expectCheckAgrees(buildModel(m.name));
      expect(measured).toBeGreaterThan(0);
      // Only outputs of a fixed size (adaptive pooling levels) cannot be measured.
      expect(fixed).toBeLessThanOrEqual(4);
    });
  }
});

describe('deep models', () => {
  it.skipIf(!has('resnet152'))('resnet152: 1451 / 32 / 725 at the last block, every merge aligned', () => {
    const rf = receptiveFieldsOf(buildModel('resnet152'));
    expect(field(rf, 'layer4.2.relu_2')).toMatchObject({
      size: [1451, 1451],
      stride: [32, 32],
      padding: [725, 725],
    });
    expect(rf.nodes.every((n) => n.aligned)).toBe(true);
  });
});
