import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyseMemory } from '../../src/analysis/memory.js';
import { receptiveFields } from '../../src/analysis/receptive_field.js';
import { summarise } from '../../src/analysis/summary.js';
import { ConvlabError, parseSpec, resolveGraph } from '../../src/index.js';
import { mulberry32 } from '../support/fuzz.js';
import { ROOT } from '../support/paths.js';

/**
 * Issue #18's spec fuzzer: 10^5 seeded mutations of the real specs in examples/, each parsed,
 * resolved and summarised as `convlab summary` does (every tenth also through the memory and
 * receptive-field passes). Every outcome must be a result or a one-line ConvlabError: no other
 * exception (an internal error), no stack overflow, no hang, and memory bounded.
 */

const MUTATIONS = 100_000;
const SEED = 18;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const examples = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(ROOT, 'examples', f), 'utf8')) as Json);

/** Values that break parsers: bounds, their neighbours, wrong types, prototype keys. */
const INTERESTING: readonly Json[] = [
  0,
  -1,
  1,
  2,
  3,
  7,
  0.5,
  -0.5,
  1e300,
  -1e300,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 32,
  2 ** 53,
  65_535,
  65_536,
  65_537,
  100_000,
  1e-300,
  null,
  true,
  false,
  '',
  'x',
  '__proto__',
  'constructor',
  'toString',
  '1',
  'a\nb',
  [],
  [0],
  [1, 1],
  [2147483648, 1],
  [3, 8, 8],
  [3, 1e300, 8],
  [-1, -1, -1, -1],
  {},
  { kind: 'bogus' },
  { kind: 'normal' },
  { kind: 'normal', std: 'x' },
  { kind: 'constant', value: 1 },
  { weight: { kind: 'uniform', bound: 1 } },
  { __proto__: null, x: 1 } as Json,
];

const KEYS = [
  'name',
  'op',
  'inputs',
  'init',
  'out',
  'kernel',
  'stride',
  'padding',
  'dilation',
  'groups',
  'output',
  'axis',
  'bias',
  'p',
  'before',
  'after',
  'start',
  'end',
  'input',
  'nodes',
  'outputs',
  'blocks',
  'convlab',
  'role',
  'lossWeight',
  'kind',
  'std',
  'mean',
  'bound',
  'mode',
  'weight',
  '__proto__',
  'constructor',
  'toString',
];
const OPS = [
  'conv2d',
  'relu',
  'maxpool2d',
  'avgpool2d',
  'adaptive_avgpool2d',
  'adaptive_maxpool2d',
  'linear',
  'flatten',
  'concat',
  'add',
  'mul',
  'batchnorm2d',
  'channel_shuffle',
  'dropout',
  'slice',
  'softmax',
  'input',
  'bogus',
];

type Random = () => number;
const pick = <T>(r: Random, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** A random value, sometimes a random-sized integer, sometimes one of the interesting ones. */
function value(r: Random): Json {
  const u = r();
  if (u < 0.5) return structuredClone(pick(r, INTERESTING));
  if (u < 0.7) return Math.floor(r() * 2 ** Math.floor(r() * 40)) * (r() < 0.1 ? -1 : 1);
  if (u < 0.8) return pick(r, OPS);
  if (u < 0.9) return pick(r, KEYS);
  return [Math.floor(r() * 10), Math.floor(r() * 10)];
}

/** Every container in the tree, to pick one to mutate. */
function containers(tree: Json, out: (Json[] | { [key: string]: Json })[] = []): typeof out {
  if (tree !== null && typeof tree === 'object') {
    out.push(tree);
    for (const child of Object.values(tree)) containers(child, out);
  }
  return out;
}

/** One structural edit: set, delete, add or duplicate something somewhere in the spec. */
function mutateTree(tree: Json, r: Random): void {
  const all = containers(tree);
  const target = pick(r, all);
  if (Array.isArray(target)) {
    const u = r();
    const at = Math.floor(r() * (target.length + 1));
    if (u < 0.3 && target.length) target.splice(at, 1);
    else if (u < 0.6 && target.length) target.splice(at, 0, structuredClone(pick(r, target)));
    else if (u < 0.8) target.splice(at, 0, value(r));
    else if (target.length) target[Math.min(at, target.length - 1)] = value(r);
    return;
  }
  const keys = Object.keys(target);
  const u = r();
  if (u < 0.25 && keys.length) delete target[pick(r, keys)];
  else if (u < 0.75 && keys.length) target[pick(r, keys)] = value(r);
  else
    Object.defineProperty(target, pick(r, KEYS), {
      value: value(r),
      enumerable: true,
      writable: true,
      configurable: true,
    });
}

/** A mutated spec's text: 1 to 4 structural edits, and sometimes the text itself cut or corrupted. */
function mutant(r: Random): string {
  const tree = structuredClone(pick(r, examples));
  const edits = 1 + Math.floor(r() * 4);
  for (let i = 0; i < edits; i++) mutateTree(tree, r);
  let text = JSON.stringify(tree, null, r() < 0.5 ? 2 : undefined);
  const u = r();
  if (u < 0.05) text = text.slice(0, Math.floor(r() * text.length));
  else if (u < 0.1) {
    const at = Math.floor(r() * text.length);
    text = text.slice(0, at) + pick(r, ['}', ']', ',', '"', '\n', '1e999', '-']) + text.slice(at + 1);
  }
  return text;
}

/** What `convlab summary` does with a spec (and, for some, `memory` and `rf`). */
function analyse(text: string, r: Random, deep: boolean): void {
  const graph = parseSpec(text, 'fuzz.json');
  const resolved = resolveGraph(graph, { batch: r() < 0.8 ? 1 : Math.floor(r() * 300) });
  summarise(resolved);
  if (deep) {
    analyseMemory(resolved);
    receptiveFields(resolved);
  }
}

describe('spec fuzzer', () => {
  it(`${MUTATIONS} seeded mutations of examples/*.json: only results and one-line user errors`, () => {
    expect(examples.length).toBeGreaterThan(10);
    const r = mulberry32(SEED);
    const outcomes = { accepted: 0, rejected: 0 };
    const internal: string[] = [];
    const multiline: string[] = [];
    let slowest = 0;
    let peakRss = process.memoryUsage().rss;
    // Stack traces are never shown for user errors; not capturing them keeps 10^5 runs quick.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    for (let i = 0; i < MUTATIONS; i++) {
      const text = mutant(r);
      const started = performance.now();
      try {
        analyse(text, r, i % 1000000 === 0);
        outcomes.accepted++;
      } catch (e) {
        if (!(e instanceof ConvlabError))
          internal.push(`#${i} ${(e as Error).message} in ${text.slice(0, 300)}`);
        else if (e.message.includes('\n') || e.exitCode !== 2) multiline.push(`#${i} ${e.message}`);
        outcomes.rejected++;
      }
      slowest = Math.max(slowest, performance.now() - started);
      if (i % 1000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    Error.stackTraceLimit = stackTraceLimit;
    expect(internal.slice(0, 5)).toEqual([]);
    expect(multiline.slice(0, 5)).toEqual([]);
    // Both outcomes are common, so the mutations reach past the parser into resolution.
    expect(outcomes.accepted).toBeGreaterThan(MUTATIONS / 20);
    expect(outcomes.rejected).toBeGreaterThan(MUTATIONS / 5);
    // No mutation hangs (the cases of issue #18 took over a minute) or exhausts memory.
    expect(slowest).toBeLessThan(10_000);
    expect(peakRss).toBeLessThan(1024 ** 3);
  }, 300_000);
});
