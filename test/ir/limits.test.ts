import { describe, expect, it } from 'vitest';
import { ConvlabError, parseSpec, resolveGraph } from '../../src/index.js';
import { initialWeights } from '../../src/ir/init.js';
import { checkLimit, LIMITS, limitProblem } from '../../src/ir/limits.js';

/** Issue #18, cases 1 and 2: every size bounded before any work, the spec's init validated. */

const spec = (nodes: unknown[], input: unknown = [3, 8, 8]) => JSON.stringify({ name: 't', input, nodes });

/** Parse and resolve; return the one-line user error, or fail the test on anything else. */
function rejection(text: string, batch = 1): string {
  try {
    resolveGraph(parseSpec(text, 'case.json'), { batch });
  } catch (e) {
    expect(e).toBeInstanceOf(ConvlabError);
    expect((e as ConvlabError).exitCode).toBe(2);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('the spec was accepted');
}

describe('limits: one bound per kind, errors naming field, value and bound', () => {
  it('names the field, the value and the bound', () => {
    expect(limitProblem('batch', '--batch', 10)).toBeUndefined();
    expect(limitProblem('batch', '--batch', 70_000)).toBe(
      `--batch is 70000, above the limit of ${LIMITS.batch.max} (${LIMITS.batch.why})`,
    );
    expect(() => checkLimit('pad', '--pad', 100_000)).toThrow(ConvlabError);
  });

  it('every bound is a positive integer with a reason', () => {
    for (const [kind, { max, why }] of Object.entries(LIMITS)) {
      expect(Number.isSafeInteger(max), kind).toBe(true);
      expect(max).toBeGreaterThan(0);
      expect(why.length).toBeGreaterThan(10);
    }
  });
});

describe('case 1: sizes without an upper bound', () => {
  it('adaptive pooling to 2^31 bins is refused at once (it used to exhaust the heap)', () => {
    const started = performance.now();
    const message = rejection(spec([{ name: 'p', op: 'adaptive_avgpool2d', output: 2147483648 }]));
    expect(message).toMatch(/attribute 'output' is 2147483648, above the limit of 65536/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('bins within the attribute bound but an output beyond the tensor bound are refused', () => {
    const message = rejection(spec([{ name: 'p', op: 'adaptive_maxpool2d', output: 65_536 }]));
    expect(message).toMatch(/node 'p'.*size of output \[1,3,65536,65536\] is 12884901888, above the limit/);
  });

  it('an input dimension of 1e300 is refused (it gave MACs Infinity)', () => {
    const message = rejection(spec([{ op: 'relu' }], [64, 1e300, 56]));
    expect(message).toMatch(/'input' H is 1\.000e\+300, above the limit of 65536/);
  });

  it('a huge padding is refused', () => {
    expect(rejection(spec([{ op: 'conv2d', out: 4, kernel: 3, padding: 10_000_000 }]))).toMatch(
      /attribute 'padding' is 10000000, above the limit/,
    );
  });

  it('a huge kernel, channel count or batch is refused', () => {
    expect(rejection(spec([{ op: 'conv2d', out: 1e9, kernel: 1 }]))).toMatch(/attribute 'out' is 1000000000/);
    expect(rejection(spec([{ op: 'conv2d', out: 60_000, kernel: 60_000, padding: 30_000 }]))).toMatch(
      /the size of weight \[60000,3,60000,60000\] is 648000000000000, above the limit of 2147483647/,
    );
    expect(rejection(spec([{ op: 'relu' }]), 1e6)).toMatch(/the batch is 1000000, above the limit of 65536/);
  });

  it('a spec of 10^6 nodes is refused before any work (it overflowed the stack)', () => {
    const nodes = Array.from({ length: 1_000_000 }, () => ({ op: 'relu' }));
    expect(rejection(spec(nodes))).toMatch(/the number of nodes is 1000000, above the limit of 100000/);
  });

  it('a chain at the node limit resolves without overflowing the stack', () => {
    const nodes = Array.from({ length: LIMITS.nodes.max }, () => ({ op: 'relu' }));
    const r = resolveGraph(parseSpec(spec(nodes), 'long.json'));
    expect(r.nodes.length).toBe(LIMITS.nodes.max + 1);
  });
});

describe('case 2: the spec init is validated like every attribute', () => {
  const conv = (init: unknown) => spec([{ name: 'c', op: 'conv2d', out: 4, kernel: 3, init }]);

  it('an unknown init kind is refused (it gave all-zero weights)', () => {
    expect(rejection(conv({ weight: { kind: 'bogus' } }))).toMatch(
      /node 'c' \(conv2d\): 'init' of 'weight' has unknown kind "bogus"; known kinds: constant, normal/,
    );
  });

  it('normal without std, or with a non-number, is refused (it gave NaN weights)', () => {
    expect(rejection(conv({ weight: { kind: 'normal' } }))).toMatch(/attribute 'std' is required/);
    expect(rejection(conv({ weight: { kind: 'normal', std: 'x' } }))).toMatch(/'std' must be a number/);
    expect(rejection(conv({ weight: { kind: 'uniform', bound: 1, extra: 1 } }))).toMatch(
      /unknown attribute 'extra'/,
    );
    expect(rejection(conv({ weight: { kind: 'trunc_normal', std: 1, a: 2, b: -2 } }))).toMatch(/a < b/);
  });

  it('an init naming no parameter is refused', () => {
    expect(rejection(conv({ wieght: { kind: 'constant', value: 0 } }))).toMatch(
      /node 'c' \(conv2d\): 'init' names 'wieght', which is not a parameter; its parameters: weight, bias/,
    );
  });

  it('a valid init still gives finite weights as asked', () => {
    const r = resolveGraph(parseSpec(conv({ weight: { kind: 'normal', std: 0.5 } }), 'ok.json'));
    const weights = initialWeights(r);
    const w = weights.get('c.weight') as Float32Array;
    expect(w.every(Number.isFinite)).toBe(true);
    expect(w.some((x) => x !== 0)).toBe(true);
  });

  it('constructor, toString and __proto__ are unknown attributes, not inherited ones', () => {
    for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(rejection(spec([{ name: 'r', op: 'relu', [key]: 1 }]))).toMatch(
        new RegExp(`node 'r' \\(relu\\): unknown attribute '${key}'`),
      );
    }
    const proto = '{"name":"t","input":[3,8,8],"nodes":[{"name":"r","op":"relu","__proto__":{"x":1}}]}';
    expect(rejection(proto)).toMatch(/unknown attribute '__proto__'/);
    const initProto =
      '{"name":"t","input":[3,8,8],"nodes":[{"op":"conv2d","out":2,"kernel":1,"init":{"__proto__":{"kind":"constant","value":1}}}]}';
    expect(rejection(initProto)).toMatch(/'init' names '__proto__', which is not a parameter/);
  });
});

describe('case 4 (spec side): a multi-line spec with a syntax error is one line', () => {
  it('names the line and column', () => {
    const message = rejection(
      '{\n  "name": "t",\n  "input": [3, 8, 8],\n  "nodes": [\n    {"op": "relu",}\n  ]\n}',
    );
    expect(message).toMatch(/spec case\.json is not valid JSON: .*\(line 5, column \d+\)/);
  });
});
