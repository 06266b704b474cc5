import { bytes, metric, thousands } from '../analysis/format.js';
import { type LayerRow, type Summary, summarise } from '../analysis/summary.js';
import { isOnnxPath } from '../import/file.js';
import type { ImportReport } from '../import/onnx.js';
import { resolveGraph } from '../ir/resolve.js';
import type { Command } from './command.js';
import { json, table } from './format.js';
import { batchOf, loadModel, MODEL_OPTIONS, onnxReport, positiveInt } from './options.js';

/** What the summary of an imported ONNX file says about the file itself. */
const importLine = (r: ImportReport): string =>
  `imported         ONNX opset ${r.opset}${r.producer ? ` from ${r.producer}` : ''}, ${r.onnxNodes} nodes; ${
    r.batchNormFolded
      ? 'BatchNorm was folded into the convolutions by the exporter (eval-mode export)'
      : 'no folded BatchNorm'
  }`;

import { rfColumns } from './rf.js';

export interface FoldedRow extends LayerRow {
  /** Nodes folded into this row. */
  readonly nodes: number;
}

/**
 * Fold layers into their blocks down to `depth` name components (`layer1.0.conv1` at depth 2 is
 * part of `layer1.0`). Linear in layers; a folded row keeps the block's last output shape.
 */
export function foldLayers(s: Summary, depth: number, blockTypes: ReadonlyMap<string, string>): FoldedRow[] {
  const rows = new Map<string, FoldedRow>();
  for (const l of s.layers) {
    const key = l.name.split('.').slice(0, depth).join('.');
    const prev = rows.get(key);
    if (!prev) {
      rows.set(key, {
        ...l,
        name: key,
        op: key === l.name ? l.op : (blockTypes.get(key) ?? 'block'),
        nodes: 1,
      });
      continue;
    }
    rows.set(key, {
      ...prev,
      outShape: l.outShape,
      params: prev.params + l.params,
      macs: prev.macs + l.macs,
      flops: prev.flops + l.flops,
      nodes: prev.nodes + 1,
    });
  }
  return [...rows.values()];
}

export const summary: Command = {
  name: 'summary',
  usage:
    'convlab summary MODEL [--input CxHxW] [--batch N] [--classes K] [--no-aux] [--depth N] [--rf] [--json]',
  summary: 'shapes, parameters, MACs and FLOPs of every layer',
  options: { ...MODEL_OPTIONS, depth: { type: 'string' }, rf: { type: 'boolean' } },
  positionals: [1, 1],
  run([model], values, io) {
    const graph = loadModel(model!, values);
    const imported = isOnnxPath(model!) ? onnxReport(model!, values) : undefined;
    const resolved = resolveGraph(graph, { batch: batchOf(values) });
    const s = summarise(resolved);
    const rf = values['rf'] ? rfColumns(resolved) : undefined;
    const depth =
      values['depth'] === undefined ? undefined : positiveInt(values['depth'] as string, 'depth', 1);
    const layers = depth
      ? foldLayers(s, depth, new Map(graph.blocks.map((b) => [b.name, b.type])))
      : s.layers;
    if (values['json']) {
      const rows = rf ? layers.map((l) => ({ ...l, rf: rf.json(l.name) })) : layers;
      io.stdout(json({ ...s, layers: rows, ...(imported && { import: imported }) }));
      return 0;
    }
    const t = s.totals;
    io.stdout(
      [
        `${s.model}  input [${s.input.join(',')}]`,
        '',
        table(
          ['layer', 'op', 'output', 'params', 'MACs', ...(rf?.header ?? [])],
          layers.map((l) => [
            l.name,
            l.op,
            `[${l.outShape.join(',')}]`,
            l.params ? thousands(l.params) : '',
            l.macs ? thousands(l.macs) : '',
            ...(rf?.cells(l.name) ?? []),
          ]),
          ['left', 'left', 'left', 'right', 'right', ...(rf?.align ?? [])],
        ),
        '',
        ...(imported ? [importLine(imported)] : []),
        `params           ${thousands(t.params)}`,
        `buffers          ${thousands(t.buffers)}`,
        `MACs             ${thousands(t.macs)} (${metric(t.macs)})`,
        `FLOPs            ${thousands(t.flops)} (${metric(t.flops)})`,
        `activations      ${bytes(t.activationBytes)} (every feature map of one inference pass)`,
        ...s.outputs.map(
          (o) =>
            `output           ${o.name} [${o.shape.join(',')}]${o.role === 'aux' ? ' (auxiliary, training only)' : ''}`,
        ),
      ].join('\n'),
    );
    return 0;
  },
};
