import { describe, expect, it } from 'vitest';
import { buildModel, fromSpec, listModels, parseSpec, resolveGraph, toSpec } from '../../src/index.js';

describe('JSON spec', () => {
  for (const entry of listModels()) {
    it(`${entry.name} serialises to a spec and loads back to the identical graph`, () => {
      const graph = buildModel(entry.name);
      const text = JSON.stringify(toSpec(graph));
      expect(parseSpec(text, `${entry.name}.json`)).toEqual(graph);
    });
  }

  it('accepts the friendly forms and normalises them', () => {
    const g = fromSpec({
      name: 'tiny',
      input: [3, 8, 8],
      nodes: [
        { name: 'conv', op: 'conv2d', out: 4, kernel: 3, padding: 1 },
        { op: 'relu' },
        { name: 'pool', op: 'adaptive_avgpool2d' },
        { name: 'flat', op: 'flatten' },
        { name: 'fc', op: 'linear', out: 2 },
      ],
    });
    expect(g.nodes[1]!.attrs).toEqual({
      out: 4,
      kernel: [3, 3],
      stride: [1, 1],
      padding: [1, 1, 1, 1],
      dilation: [1, 1],
      groups: 1,
      bias: true,
    });
    expect(g.nodes[2]!.name).toBe('relu_2');
    expect(g.outputs).toEqual([{ node: 'fc', role: 'main', lossWeight: 1 }]);
    expect(resolveGraph(g).byName.get('fc')!.ctx.output).toEqual([1, 2]);
  });
});

/** Each bad spec must fail with one message naming the node, the shapes and the rule. */
const base = { name: 'bad', input: [3, 16, 16] };
const cases: [string, unknown, RegExp][] = [
  ['malformed JSON', '{"name": "x", "nodes": [', /not valid JSON/],
  ['not an object', '[1, 2]', /must be a JSON object/],
  ['unknown op', { ...base, nodes: [{ op: 'conv3d', out: 4 }] }, /unknown op "conv3d"; known ops: .*conv2d/],
  [
    'unknown attribute',
    { ...base, nodes: [{ name: 'c', op: 'conv2d', out: 4, kernel: 3, kernal: 3 }] },
    /node 'c' \(conv2d\).*unknown attribute 'kernal'/,
  ],
  [
    'missing attribute',
    { ...base, nodes: [{ name: 'c', op: 'conv2d', kernel: 3 }] },
    /node 'c' \(conv2d\).*'out' is required/,
  ],
  [
    'non-positive size',
    { ...base, nodes: [{ name: 'c', op: 'conv2d', out: 0, kernel: 3 }] },
    /node 'c'.*'out' must be an integer >= 1, got 0/,
  ],
  [
    'non-positive input',
    { ...base, input: [3, 0, 16], nodes: [{ op: 'relu' }] },
    /'input' must be \[C, H, W\] with positive integers/,
  ],
  [
    'channel mismatch at add',
    {
      ...base,
      nodes: [
        { name: 'a', op: 'conv2d', inputs: ['input'], out: 8, kernel: 1 },
        { name: 'b', op: 'conv2d', inputs: ['input'], out: 4, kernel: 1 },
        { name: 'sum', op: 'add', inputs: ['a', 'b'] },
      ],
    },
    /node 'sum' \(add\) with inputs \[1,8,16,16\], \[1,4,16,16\]: add needs matching shapes .* on axis 1/,
  ],
  [
    'spatial mismatch at concat',
    {
      ...base,
      nodes: [
        { name: 'a', op: 'conv2d', inputs: ['input'], out: 8, kernel: 3, stride: 2 },
        { name: 'b', op: 'conv2d', inputs: ['input'], out: 4, kernel: 1 },
        { name: 'cat', op: 'concat', inputs: ['a', 'b'] },
      ],
    },
    /node 'cat' \(concat\) with inputs \[1,8,7,7\], \[1,4,16,16\]: inputs must match on every axis but 1/,
  ],
  [
    'groups that do not divide channels',
    { ...base, nodes: [{ name: 'g', op: 'conv2d', out: 8, kernel: 3, groups: 2 }] },
    /node 'g' \(conv2d\) with inputs \[1,3,16,16\]: groups 2 must divide the input channels 3/,
  ],
  [
    'kernel larger than its padded input',
    { ...base, input: [3, 4, 4], nodes: [{ name: 'big', op: 'conv2d', out: 8, kernel: 7, padding: 1 }] },
    /node 'big' \(conv2d\) with inputs \[1,3,4,4\]: kernel 7x7 .* is larger than the padded input 6x6/,
  ],
  [
    'reading an undefined node',
    { ...base, nodes: [{ name: 'r', op: 'relu', inputs: ['nothing'] }] },
    /node 'r' \(relu\).*reads 'nothing'/,
  ],
  [
    'duplicate names',
    {
      ...base,
      nodes: [
        { name: 'r', op: 'relu' },
        { name: 'r', op: 'relu' },
      ],
    },
    /the name 'r' is used twice/,
  ],
  [
    'linear on a feature map',
    { ...base, nodes: [{ name: 'fc', op: 'linear', out: 2 }] },
    /node 'fc' \(linear\).*must have rank 2/,
  ],
];

describe('bad specs fail with one clear line', () => {
  for (const [what, spec, message] of cases) {
    it(what, () => {
      const text = typeof spec === 'string' ? spec : JSON.stringify(spec);
      let error: unknown;
      try {
        resolveGraph(parseSpec(text, 'bad.json'));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as { exitCode?: number }).exitCode).toBe(2);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  }
});
