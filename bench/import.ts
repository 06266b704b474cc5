/**
 * ONNX import speed, against the targets:
 *  - a ~550 MB VGG-16 file (convlab's own export, written to a temporary folder): import + summary
 *    under 2 s, streamed: the weights are not read, so the process grows by far less than the file;
 *  - a 500-node graph, already in memory: decode + convert + summary under 100 ms (median of 20).
 * Run: npx tsx bench/import.ts [--json] [--nodes] (--nodes: the 500-node graph only, no VGG-16 file)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarise } from '../src/analysis/summary.js';
import { withOnnxFile } from '../src/import/file.js';
import { importOnnx } from '../src/import/onnx.js';
import { memorySource } from '../src/import/source.js';
import { GraphBuilder } from '../src/ir/builder.js';
import { resolveGraph } from '../src/ir/resolve.js';
import { exportOnnx } from '../src/onnx/export.js';
import { conv2d, relu } from '../src/ops/index.js';
import { buildModel } from '../src/zoo/index.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MB = 2 ** 20;

function vgg16(dir: string): { ms: number; fileMB: number; rssGrowthMB: number; params: number } {
  const path = join(dir, 'vgg16.onnx');
  const bytes = exportOnnx(buildModel('vgg16'), { mode: 'infer', seed: 0 });
  writeFileSync(path, bytes);
  const fileMB = bytes.length / MB;
  globalThis.gc?.();
  const rss = process.memoryUsage().rss;
  const t = performance.now();
  const params = withOnnxFile(path, {}, (m) => summarise(resolveGraph(m.graph)).totals.params);
  const ms = performance.now() - t;
  return { ms, fileMB, rssGrowthMB: (process.memoryUsage().rss - rss) / MB, params };
}

/** 250 convolutions and 250 ReLUs in a chain: 500 nodes and small weights. */
function chain500(): Uint8Array {
  const b = new GraphBuilder('chain500', 'bench');
  let x = b.input([8, 8, 8]);
  for (let i = 0; i < 250; i++)
    x = relu(conv2d(x, { out: 8, kernel: 3, padding: 1 }, `conv${i}`), `relu${i}`);
  b.output(x);
  return exportOnnx(b.build(), { mode: 'infer' });
}

/**
 * Wall time, and the process's CPU time (user + system, all threads): on a machine shared with other
 * work the wall time includes waiting for a core; the CPU time does not.
 */
function nodes500(): { ms: number; cpuMs: number; nodes: number } {
  const bytes = chain500();
  const times: number[] = [];
  const cpu: number[] = [];
  let nodes = 0;
  for (let i = 0; i < 21; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    const m = importOnnx(memorySource(bytes));
    summarise(resolveGraph(m.graph));
    times.push(performance.now() - t);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000);
    nodes = m.report.onnxNodes;
  }
  return { ms: median(times.slice(1)), cpuMs: median(cpu.slice(1)), nodes };
}

const dir = mkdtempSync(join(tmpdir(), 'convlab-bench-import-'));
try {
  const big = process.argv.includes('--nodes') ? undefined : vgg16(dir);
  const small = nodes500();
  const result = { vgg16: big, chain: small, targets: { vgg16Ms: 2000, chainMs: 100 } };
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    if (big)
      console.log(
        `VGG-16 ${big.fileMB.toFixed(0)} MB: import + summary ${big.ms.toFixed(0)} ms (target 2000 ms, ${(2000 / big.ms).toFixed(1)}x under), process grew ${big.rssGrowthMB.toFixed(1)} MB (weights streamed, not read), ${big.params} params`,
      );
    console.log(
      `${small.nodes}-node graph in memory: decode + convert + summary ${small.ms.toFixed(1)} ms median, ${small.cpuMs.toFixed(1)} ms of CPU (target 100 ms, ${(100 / small.ms).toFixed(1)}x under)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
