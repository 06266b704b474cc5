import { describe, expect, it } from 'vitest';
import type { GradientRule } from '../../src/autodiff/gradient.js';
import { bindSaved, savesOf } from '../../src/autodiff/saved.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { SaveDeclaration } from '../../src/ir/op.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import type { Attrs, Schema } from '../../src/ir/schema.js';
import {
  BatchNorm2d,
  batchnorm2d,
  Conv2d,
  conv2d,
  dropout,
  MaxPool2d,
  maxpool2d,
  Relu,
  relu,
} from '../../src/ops/index.js';

/** A gradient rule as registerGradient takes it, checked by the compiler but never registered. */
const rule = <S extends Schema, D extends SaveDeclaration<Attrs<S>>>(r: GradientRule<S, D>) => r;

/** Whatever a rule returns; these rules exist only to be type-checked. */
const none = { inputs: [] };

describe("a gradient rule's saved tensors", () => {
  it("are typed from its op's save declaration (checked by tsc: each @ts-expect-error must fail)", () => {
    rule({
      op: Conv2d,
      backward: ({ saved }) => {
        saved.input0 satisfies string;
        // @ts-expect-error conv2d does not save its output
        saved.output;
        // @ts-expect-error nor its second input (it has none)
        saved.input1;
        return none;
      },
    });
    rule({
      op: Relu,
      backward: ({ saved }) => {
        saved.output satisfies string;
        // @ts-expect-error relu saves its output, not its input
        saved.input0;
        return none;
      },
    });
    rule({
      op: MaxPool2d,
      backward: ({ saved }) => {
        saved.indices satisfies string;
        // @ts-expect-error max pooling keeps indices, not a mask
        saved.mask;
        return none;
      },
    });
    rule({
      op: BatchNorm2d,
      backward: ({ saved }) => {
        [saved.input0, saved.save_mean, saved.save_invstd] satisfies string[];
        // @ts-expect-error batch norm does not save its output
        saved.output;
        return none;
      },
    });
  });

  it('are bound to exactly what the op declares, extras read when used', () => {
    const b = new GraphBuilder('saves', 'test');
    const c = conv2d(b.input([3, 8, 8]), { out: 4, kernel: 3 }, 'conv');
    const p = maxpool2d(relu(batchnorm2d(c, {}, 'bn'), 'relu'), { kernel: 2, stride: 2 }, 'pool');
    b.output(dropout(p, { p: 0 }, 'drop'));
    const r = resolveGraph(b.build(), { batch: 2 });
    const node = (name: string) => r.byName.get(name)!;
    const outputOf = (i: number) => `t${i}`;
    const none = new Map<string, string>();

    expect(bindSaved(node('conv'), outputOf, none)).toEqual({ input0: 't0' });
    expect(bindSaved(node('relu'), outputOf, none)).toEqual({ output: `t${node('relu').index}` });
    const pool = bindSaved(node('pool'), outputOf, new Map([['indices', 'pool/indices']]));
    expect({ ...pool }).toEqual({ input0: `t${node('relu').index}`, indices: 'pool/indices' });
    expect(savesOf(node('bn')).extra.map((t) => [t.what, t.shape])).toEqual([
      ['save_mean', [4]],
      ['save_invstd', [4]],
    ]);
    // Dropout with p = 0 draws no mask: binding succeeds, reading the mask says what is missing.
    const drop = bindSaved(node('drop'), outputOf, none) as Record<string, string>;
    expect(() => drop['mask']).toThrow(/'dropout' reads 'mask', which its forward did not save/);
  });
});
