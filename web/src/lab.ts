/**
 * The lab's model catalogue: zoo models and the hand-written examples, each analysed once by the
 * same passes the CLI runs (imported from ../../src, never copied) and cached.
 */
import {
  lastSpatialField,
  layerNode,
  type NodeField,
  type ReceptiveFields,
  receptiveFields,
} from '../../src/analysis/receptive_field.js';
import { type Summary, summarise } from '../../src/analysis/summary.js';
import type { Graph } from '../../src/ir/graph.js';
import { type ResolvedGraph, resolveGraph } from '../../src/ir/resolve.js';
import { fromSpec } from '../../src/ir/spec.js';
import { buildModel, listModels, type ModelEntry } from '../../src/zoo/index.js';

export interface CatalogueEntry {
  readonly name: string;
  readonly family: string;
  readonly description: string;
  readonly input: readonly [number, number, number];
  /** Zoo models are built by the registry; examples come from examples/*.json; 'onnx' files the user opened. */
  readonly kind: 'zoo' | 'example' | 'onnx';
  /** The spec text for examples. */
  readonly spec?: string;
}

const exampleFiles = import.meta.glob<string>('../../examples/*.json', {
  eager: true,
  query: '?raw',
  import: 'default',
});

export const zooEntries: readonly ModelEntry[] = listModels();

const examples: CatalogueEntry[] = Object.entries(exampleFiles)
  .map(([path, text]) => {
    const raw = JSON.parse(text) as { name?: string; family?: string; description?: string; input: number[] };
    const file = path
      .split('/')
      .pop()!
      .replace(/\.json$/, '');
    return {
      name: file,
      family: raw.family ?? 'example',
      description: raw.description ?? '',
      input: raw.input as unknown as [number, number, number],
      kind: 'example' as const,
      spec: text,
    };
  })
  .sort((a, b) => a.name.localeCompare(b.name));

export const catalogue: readonly CatalogueEntry[] = [
  ...zooEntries.map((m) => ({
    name: m.name,
    family: m.family,
    description: m.description,
    input: m.input,
    kind: 'zoo' as const,
  })),
  ...examples,
];

const byName = new Map(catalogue.map((e) => [e.name, e]));
/** Graphs of the ONNX files opened in this page (read in the browser, never uploaded). */
const openedGraphs = new Map<string, Graph>();

/**
 * Add a graph imported from an ONNX file the user opened, under a name no catalogue model has, and
 * return that name (the model page's route).
 */
export function addImported(fileName: string, graph: Graph): string {
  const base = fileName.replace(/\.onnx$/i, '') || 'model';
  let name = base;
  for (let i = 2; byName.has(name) && !openedGraphs.has(name); i++) name = `${base}-${i}`;
  const input = graph.nodes[0]!.attrs['shape'] as [number, number, number];
  const entry: CatalogueEntry = {
    name,
    family: 'onnx',
    description: `opened from ${fileName}`,
    input,
    kind: 'onnx',
  };
  byName.set(name, entry);
  openedGraphs.set(name, graph);
  analyses.delete(name);
  return name;
}
export const findEntry = (name: string): CatalogueEntry | undefined => byName.get(name);

export interface Analysis {
  readonly entry: CatalogueEntry;
  readonly graph: Graph;
  readonly resolved: ResolvedGraph;
  readonly summary: Summary;
  readonly fields: ReceptiveFields;
  /** The layer `convlab rf` reports by default: the last one inference runs that is still a map. */
  readonly lastField: NodeField;
}

const analyses = new Map<string, Analysis>();

export function graphOf(entry: CatalogueEntry): Graph {
  if (entry.kind === 'onnx') return openedGraphs.get(entry.name)!;
  return entry.kind === 'zoo'
    ? buildModel(entry.name)
    : fromSpec(JSON.parse(entry.spec!), `${entry.name}.json`);
}

/** Build, resolve and analyse a catalogue model at batch 1 (cached). */
export function analyse(name: string): Analysis {
  const hit = analyses.get(name);
  if (hit) return hit;
  const entry = byName.get(name);
  if (!entry) throw new Error(`unknown model '${name}'`);
  const result = analyseGraph(graphOf(entry), entry);
  analyses.set(name, result);
  return result;
}

export function analyseGraph(graph: Graph, entry: CatalogueEntry): Analysis {
  const resolved = resolveGraph(graph);
  const fields = receptiveFields(resolved);
  return {
    entry,
    graph,
    resolved,
    summary: summarise(resolved),
    fields,
    lastField: lastSpatialField(fields),
  };
}

export { lastSpatialField, layerNode };
