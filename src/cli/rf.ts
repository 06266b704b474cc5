import {
  lastSpatialField,
  layerNode,
  type MergeReport,
  type NodeField,
  type ReceptiveFields,
  receptiveFields,
} from '../analysis/receptive_field.js';
import { ConvlabError } from '../ir/errors.js';
import { ancestors, type Graph } from '../ir/graph.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import type { Pair } from '../ir/shape.js';
import { nearest } from '../zoo/registry.js';
import type { Command } from './command.js';
import { type Align, json, table } from './format.js';
import { loadModel, MODEL_OPTIONS } from './options.js';

function chooseLayer(graph: Graph, fields: ReceptiveFields, name: string | undefined): NodeField {
  if (name === undefined) return lastSpatialField(fields);
  const node = layerNode(graph, name);
  if (node !== undefined) return fields.byName.get(node)!;
  const names = [...graph.blocks.map((b) => b.name), ...graph.nodes.map((n) => n.name)];
  const block = graph.blocks[0] ? `, or a block name like ${graph.blocks[0].name}` : '';
  throw new ConvlabError(
    `unknown layer '${name}' in ${graph.name}; nearest: ${nearest(name, names).join(', ')} ` +
      `(a node name as 'convlab summary' lists them${block})`,
  );
}

/** 32 for a square pair, 32x16 otherwise. */
const pair = (p: Pair): string => (p[0] === p[1] ? String(p[0]) : `${p[0]}x${p[1]}`);
const area = (p: Pair): string => `${p[0]}x${p[1]}`;

const flags = (f: NodeField): string =>
  [
    f.global ? 'whole image' : '',
    f.clipped ? 'clipped' : '',
    f.approximate ? 'upper bound' : '',
    f.merge && !f.merge.aligned ? 'unaligned merge' : f.aligned ? '' : 'after unaligned merge',
    f.context ? 'gated' : '',
  ]
    .filter(Boolean)
    .join(', ');

const fieldJson = (f: NodeField) => ({
  size: f.size,
  stride: f.stride,
  padding: f.padding,
  centre: f.centre,
  aligned: f.aligned,
  global: f.global,
  approximate: f.approximate,
  clipped: f.clipped,
  context: f.context,
});

const layerJson = (f: NodeField) => ({ name: f.name, op: f.op, extent: f.extent, ...fieldJson(f) });

const describeMerge = (m: MergeReport): string =>
  `paths merge unaligned at '${m.node}': ${m.paths
    .map((p) => `'${p.from}' (size ${pair(p.size)}, stride ${pair(p.stride)}, centre ${pair(p.centre)})`)
    .join(
      ', ',
    )}; sizes range ${area(m.sizeMin)} to ${area(m.sizeMax)}, and the field reported is their union`;

/** What a reader needs to know to not misread the numbers. */
function notes(f: NodeField, fields: ReceptiveFields, unaligned: readonly MergeReport[]): string[] {
  const input = area(fields.input);
  return [
    ...(f.global
      ? [`'${f.name}' has no spatial extent left: every output reads the whole ${area(f.size)} image`]
      : []),
    ...(f.clipped
      ? [
          `the field (${area(f.size)}) is larger than the ${input} input: it is clipped by the image, so an ` +
            `output sees at most ${input} pixels, and zero padding fills the rest`,
        ]
      : []),
    ...(f.approximate
      ? ['adaptive pooling with unequal bins upstream: size and stride are upper bounds, not exact']
      : []),
    ...(f.context
      ? [
          `every position is also scaled by '${f.context}', a gate computed from the whole image ` +
            '(squeeze-and-excitation); the numbers are the spatial field',
        ]
      : []),
    ...unaligned.map(describeMerge),
  ];
}

/** Receptive-field columns for `convlab summary --rf`: looks layers (or folded blocks) up by name. */
export function rfColumns(r: ResolvedGraph) {
  const fields = receptiveFields(r);
  const of = (name: string): NodeField | undefined =>
    fields.byName.get(name) ?? fields.byName.get(layerNode(r.graph, name) ?? name);
  return {
    header: ['RF', 'RF stride'],
    align: ['right', 'right'] as readonly Align[],
    cells(name: string): string[] {
      const f = of(name);
      return f ? [area(f.size), f.global ? 'whole image' : pair(f.stride)] : ['', ''];
    },
    json(name: string) {
      const f = of(name);
      return f ? fieldJson(f) : null;
    },
  };
}

export const rf: Command = {
  name: 'rf',
  usage: 'convlab rf MODEL [--layer NAME] [--input CxHxW] [--classes K] [--no-aux] [--json]',
  summary:
    'receptive field (size, effective stride and padding; Distill 2019) of a layer and the layers before it',
  options: { ...MODEL_OPTIONS, layer: { type: 'string' } },
  positionals: [1, 1],
  run([model], values, io) {
    const graph = loadModel(model!, values);
    const fields = receptiveFields(resolveGraph(graph));
    const layer = chooseLayer(graph, fields, values['layer'] as string | undefined);
    const upstream = ancestors(graph, [layer.name]);
    const layers = fields.nodes.filter((f) => f.op !== 'input' && upstream.has(f.name));
    const unaligned = layers.flatMap((f) => (f.merge && !f.merge.aligned ? [f.merge] : []));
    const said = notes(layer, fields, unaligned);
    if (values['json']) {
      io.stdout(
        json({
          model: graph.name,
          layer: layer.name,
          input: fields.input,
          ...fieldJson(layer),
          unaligned,
          notes: said,
          layers: layers.map(layerJson),
        }),
      );
      return 0;
    }
    io.stdout(
      [
        `${graph.name}  input ${area(fields.input)}  layer ${layer.name}`,
        '',
        table(
          ['layer', 'op', 'output', 'size', 'stride', 'padding', 'centre', 'notes'],
          layers.map((f) => [
            f.name,
            f.op,
            f.extent ? area(f.extent) : '',
            area(f.size),
            f.global ? '' : pair(f.stride),
            f.global ? '' : pair(f.padding),
            f.global ? '' : pair(f.centre),
            flags(f),
          ]),
          ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left'],
        ),
        '',
        `receptive field of ${layer.name}: ${area(layer.size)}` +
          (layer.global
            ? ''
            : `, effective stride ${pair(layer.stride)}, effective padding ${pair(layer.padding)}`),
        ...(layer.global
          ? []
          : [
              `centre of the first output's field: (${layer.centre.join(', ')}) (row, column in input pixels, from 0)`,
            ]),
        '(size, effective stride and padding as defined by Araujo, Norris and Sim, Distill 2019)',
        ...said.map((n) => `note: ${n}`),
      ].join('\n'),
    );
    return 0;
  },
};
