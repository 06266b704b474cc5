import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/paths.js';

/**
 * The layering of DESIGN.md, read off the import graph: a module may import its own layer and the
 * layers below it, never one above, and no chain of imports comes back to where it started.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['ir'],
  ['ops', 'onnx'],
  ['blocks', 'analysis', 'autodiff', 'runtime', 'native', 'pytorch'],
  ['zoo', 'import'],
  ['data'],
  ['train'],
  ['experiments'],
  ['cli'],
];
const levelOf = new Map(LAYERS.flatMap((dirs, level) => dirs.map((dir) => [dir, level] as const)));

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'|^\s*import\s+'(\.{1,2}\/[^']+)'/gm;

/** Every .ts/.tsx file under `dir`, recursively. */
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.tsx?$/.test(e.name) ? [path] : [];
  });

/** Relative imports of one file, resolved to source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => {
    const spec = (m[1] ?? m[2])!;
    return resolve(dirname(file), spec).replace(/\.js$/, '.ts');
  });
}

const graphOf = (files: readonly string[]) => new Map(files.map((f) => [f, importsOf(f)]));

/** One import cycle, as a list of files, or undefined. Iterative DFS: linear in files and imports. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of graph.keys()) {
    if (state.has(start)) continue;
    const path: string[] = [];
    const stack: { file: string; next: number }[] = [{ file: start, next: 0 }];
    state.set(start, 'open');
    path.push(start);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const deps = graph.get(top.file) ?? [];
      if (top.next >= deps.length) {
        state.set(top.file, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      const dep = deps[top.next++]!;
      if (!graph.has(dep)) continue;
      const seen = state.get(dep);
      if (seen === 'open') return [...path.slice(path.indexOf(dep)), dep];
      if (seen === undefined) {
        state.set(dep, 'open');
        path.push(dep);
        stack.push({ file: dep, next: 0 });
      }
    }
  }
  return undefined;
}

describe('layering', () => {
  const src = join(ROOT, 'src');
  const graph = graphOf(sources(src));
  const layerDir = (file: string) => relative(src, file).split('/')[0]!;

  it('every directory of src/ has a layer', () => {
    const dirs = new Set([...graph.keys()].map(layerDir).filter((d) => !d.endsWith('.ts')));
    expect([...dirs].filter((d) => !levelOf.has(d))).toEqual([]);
  });

  it('no module imports a layer above its own', () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = levelOf.get(layerDir(file));
      if (from === undefined) continue;
      for (const dep of deps) {
        const to = levelOf.get(layerDir(dep));
        if (to !== undefined && to > from) upward.push(`${relative(src, file)} -> ${relative(src, dep)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('src/ has no import cycle', () => {
    expect(findCycle(graph)?.map((f) => relative(src, f))).toBeUndefined();
  });

  it('web/ imports nothing of the CLI and has no import cycle', () => {
    const web = graphOf(sources(join(ROOT, 'web', 'src')));
    const cli = join(src, 'cli');
    const intoCli = [...web].flatMap(([file, deps]) =>
      deps.filter((d) => d.startsWith(cli)).map((d) => `${relative(ROOT, file)} -> ${relative(ROOT, d)}`),
    );
    expect(intoCli).toEqual([]);
    expect(findCycle(web)?.map((f) => relative(ROOT, f))).toBeUndefined();
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(findCycle(g)).toEqual(['a', 'b', 'c', 'a']);
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toBeUndefined();
  });
});
