/**
 * Top-to-bottom layout by ELK's layered algorithm, run in a web worker so a large graph never
 * blocks the page. Expanded blocks are ELK compound nodes; all coordinates come back absolute.
 */
import ELK, { type ElkExtendedEdge, type ElkNode } from 'elkjs/lib/elk-api.js';
import workerUrl from 'elkjs/lib/elk-worker.min.js?url';
import type { Folded } from './fold.js';

export interface Box {
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface EdgeRoute {
  readonly id: string;
  readonly points: readonly { x: number; y: number }[];
  /** The shape the edge carries (its tooltip, and its label when labels are drawn). */
  readonly text: string;
  readonly label: { text: string; x: number; y: number; width: number; height: number } | null;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyMap<string, Box>;
  readonly containers: ReadonlyMap<string, Box>;
  readonly edges: readonly EdgeRoute[];
}

export const NODE_HEIGHT = 40;
export const CONTAINER_HEADER = 26;
export const LABEL_FONT =
  '10px ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace';

/**
 * Whether edges get their shapes as drawn labels. All-to-all connections (an open dense block: every
 * layer reads every earlier one) would make ELK place a label on hundreds of long edges, which takes
 * tens of seconds and spreads the drawing out; there the shapes are shown on hover instead.
 */
export const labelsFit = (boxes: number, edges: number): boolean => edges <= 150 || edges <= 1.5 * boxes;

let elk: InstanceType<typeof ELK> | undefined;
let busy = false;
/**
 * The layout engine. A worker runs one layout at a time, so a request while another is still
 * running (a user opening blocks quickly) ends the old worker instead of queueing behind it.
 */
function engine(): InstanceType<typeof ELK> {
  if (elk && busy) {
    elk.terminateWorker();
    elk = undefined;
  }
  elk ??= new ELK({ workerUrl });
  return elk;
}

let context: CanvasRenderingContext2D | null = null;
/** Width of `text` in the CSS font `font`, as the SVG will draw it. */
export function textWidth(text: string, font: string): number {
  context ??= document.createElement('canvas').getContext('2d');
  if (!context) return text.length * 7;
  context.font = font;
  return context.measureText(text).width;
}

const OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '26',
  'elk.layered.spacing.edgeNodeBetweenLayers': '14',
  'elk.spacing.nodeNode': '22',
  'elk.spacing.edgeNode': '14',
  'elk.spacing.edgeLabel': '3',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.layered.nodePlacement.bk.fixedAlignment': 'BALANCED',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.json.edgeCoords': 'ROOT',
  'elk.json.shapeCoords': 'ROOT',
  'elk.padding': '[top=16,left=16,bottom=16,right=16]',
};

/** Lay out the folded graph; `sizeOf` gives each visible box its size, `labelOf` each edge its text. */
export async function layout(
  folded: Folded,
  sizeOf: (id: string) => { width: number; height: number },
  labelOf: (edge: Folded['edges'][number]) => string,
): Promise<Layout> {
  const compound = new Map<string, ElkNode>();
  const root: ElkNode = { id: '__root', layoutOptions: OPTIONS, children: [], edges: [] };
  const parentOf = (container: string | null): ElkNode => (container ? compound.get(container)! : root);
  for (const c of folded.containers) {
    const node: ElkNode = {
      id: `frame:${c.name}`,
      layoutOptions: { 'elk.padding': `[top=${CONTAINER_HEADER + 8},left=12,bottom=12,right=12]` },
      children: [],
    };
    compound.set(c.name, node);
  }
  // Children in topological order: ELK's model-order option then keeps the graph reading downwards.
  const entries: { order: number; parent: string | null; node: ElkNode }[] = [
    ...folded.containers.map((c) => ({ order: c.order, parent: c.parent, node: compound.get(c.name)! })),
    ...folded.items.map((i) => ({
      order: i.order,
      parent: i.container,
      node: { id: i.id, ...sizeOf(i.id) },
    })),
  ];
  entries.sort((a, b) => a.order - b.order);
  for (const e of entries) parentOf(e.parent).children!.push(e.node);

  const labelled = labelsFit(folded.items.length, folded.edges.length);
  const edges: ElkExtendedEdge[] = folded.edges.map((e) => {
    const text = labelOf(e);
    return {
      id: e.id,
      sources: [e.source],
      targets: [e.target],
      labels: labelled ? [{ text, width: textWidth(text, LABEL_FONT) + 4, height: 12 }] : [],
    };
  });
  root.edges = edges;

  const running = engine();
  busy = true;
  let result: ElkNode;
  try {
    result = await running.layout(root);
  } finally {
    if (elk === running) busy = false;
  }
  const nodes = new Map<string, Box>();
  const containers = new Map<string, Box>();
  const visit = (n: ElkNode) => {
    for (const c of n.children ?? []) {
      const frame = c.id.startsWith('frame:');
      const id = frame ? c.id.slice('frame:'.length) : c.id;
      const box = { id, x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 };
      if (frame) {
        containers.set(id, box);
        visit(c);
      } else nodes.set(c.id, box);
    }
  };
  visit(result);
  const byId = new Map(folded.edges.map((e) => [e.id, e]));
  const routes: EdgeRoute[] = (result.edges ?? []).map((e) => {
    const section = (e as ElkExtendedEdge).sections?.[0];
    const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [];
    const l = e.labels?.[0];
    return {
      id: e.id,
      points,
      text: labelOf(byId.get(e.id)!),
      label: l
        ? { text: l.text ?? '', x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 }
        : null,
    };
  });
  return { width: result.width ?? 0, height: result.height ?? 0, nodes, containers, edges: routes };
}
