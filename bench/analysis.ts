/**
 * Time to build and summarise every zoo model, cold and warm, and the slowest one.
 * Analysis is linear in the number of nodes; resnet152 should summarise in well under 50 ms warm.
 * Run: npx tsx bench/analysis.ts [--json]
 */
import { summarise } from '../src/analysis/summary.js';
import { resolveGraph } from '../src/ir/resolve.js';
import { buildModel, listModels } from '../src/zoo/index.js';

const REPEATS = 20;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function time(name: string): { cold: number; build: number; summarise: number; nodes: number } {
  let t = performance.now();
  summarise(resolveGraph(buildModel(name)));
  const cold = performance.now() - t;
  const builds: number[] = [];
  const summaries: number[] = [];
  let nodes = 0;
  for (let i = 0; i < REPEATS; i++) {
    t = performance.now();
    const graph = buildModel(name);
    builds.push(performance.now() - t);
    t = performance.now();
    summarise(resolveGraph(graph));
    summaries.push(performance.now() - t);
    nodes = graph.nodes.length;
  }
  return { cold, build: median(builds), summarise: median(summaries), nodes };
}

const rows = listModels().map((m) => ({ model: m.name, ...time(m.name) }));
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const pad = (s: string, n: number) => s.padStart(n);
  process.stdout.write(
    `${'model'.padEnd(22)}${pad('nodes', 7)}${pad('cold ms', 10)}${pad('build ms', 10)}${pad('summary ms', 12)}${pad('us/node', 9)}\n`,
  );
  for (const r of rows) {
    const perNode = ((r.build + r.summarise) * 1000) / r.nodes;
    process.stdout.write(
      `${r.model.padEnd(22)}${pad(String(r.nodes), 7)}${pad(r.cold.toFixed(1), 10)}${pad(r.build.toFixed(2), 10)}${pad(r.summarise.toFixed(2), 12)}${pad(perNode.toFixed(1), 9)}\n`,
    );
  }
  const slowest = rows.reduce((a, b) => (a.build + a.summarise > b.build + b.summarise ? a : b));
  const total = rows.reduce((s, r) => s + r.build + r.summarise, 0);
  process.stdout.write(
    `\n${rows.length} models, warm build + summarise of all: ${total.toFixed(1)} ms; slowest: ${slowest.model} ` +
      `(${(slowest.build + slowest.summarise).toFixed(2)} ms for ${slowest.nodes} nodes)\n`,
  );
}
