import { describe, expect, it } from 'vitest';
import { backwardSweep } from '../../src/autodiff/backward.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { add, conv2d, relu, sigmoid } from '../../src/ops/index.js';

describe('the backward sweep', () => {
  // x -> conv -> { relu, sigmoid } -> add: conv's output is read twice, so its gradient is a sum.
  const b = new GraphBuilder('diamond', 'test');
  const c = conv2d(b.input([1, 2, 2]), { out: 1, kernel: 1 }, 'conv');
  b.output(add(relu(c, 'relu'), sigmoid(c, 'sigmoid'), 'add'));
  const r = resolveGraph(b.build(), { batch: 1 });

  it('visits consumers before producers, sums fan-in, collects parameter gradients by full name', () => {
    // Symbolic tensors: each gradient is written as the expression that made it.
    const visits: string[] = [];
    const grads = backwardSweep(r, [{ node: r.byName.get('add')!.index, grad: 'L' }], {
      sum: (n, parts) => `sum_${n.node.name}(${parts.join(', ')})`,
      backward(n, dy) {
        visits.push(`${n.node.name} <- ${dy}`);
        const d = (what: string) => `d${what}(${dy})`;
        return {
          inputs: n.inputs.map((_, j) => d(`${n.node.name}.in${j}`)),
          ...(n.params.length > 0 && { params: { weight: d(`${n.node.name}.weight`) } }),
        };
      },
    });
    expect(visits).toEqual([
      'add <- L',
      'sigmoid <- dadd.in1(L)',
      'relu <- dadd.in0(L)',
      'conv <- sum_conv(dsigmoid.in0(dadd.in1(L)), drelu.in0(dadd.in0(L)))',
    ]);
    // Nothing is sent to the graph's input (node 0): it is data.
    expect([...grads]).toEqual([
      ['conv.weight', 'dconv.weight(sum_conv(dsigmoid.in0(dadd.in1(L)), drelu.in0(dadd.in0(L))))'],
    ]);
  });

  it('skips nodes no gradient reaches', () => {
    const visited: string[] = [];
    backwardSweep(r, [{ node: r.byName.get('relu')!.index, grad: 'L' }], {
      sum: () => 'never',
      backward(n) {
        visited.push(n.node.name);
        return { inputs: n.inputs.map(() => 'g') };
      },
    });
    expect(visited).toEqual(['relu', 'conv']);
  });
});
