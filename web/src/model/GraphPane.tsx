import { type ReactNode, type RefObject, useEffect, useMemo, useRef, useState } from 'react';
import type { ResolvedGraph } from '../../../src/ir/resolve.js';
import { compact, dims } from '../format.js';
import { CATEGORY_STYLE, categoryOf, describeNode } from '../graph/describe.js';
import { blockTotals, type blockTree, type Folded } from '../graph/fold.js';
import { type BoxView, type FrameView, GraphView } from '../graph/GraphView.js';
import { type Layout, labelsFit, layout, NODE_HEIGHT, textWidth } from '../graph/layout.js';
import type { Analysis } from '../lab.js';
import { DESC_FONT, local, NAME_FONT } from './common.js';

export function GraphPane({
  analysis,
  folded,
  tree,
  selected,
  onSelect,
  onToggle,
  toolbar,
}: {
  analysis: Analysis;
  folded: Folded;
  tree: ReturnType<typeof blockTree>;
  selected: string | null;
  onSelect: (id: string) => void;
  onToggle: (block: string) => void;
  toolbar: ReactNode;
}) {
  const r = analysis.resolved;
  const [zoom, setZoom] = useState<number | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const pane = usePaneSize(scroller);

  const { boxes, frames } = useMemo(() => boxViews(r, folded, tree), [folded, r, tree]);
  const { result, error } = useLayout(folded, boxes, frames);

  // On open the whole graph fits its pane, at every width; the zoom buttons then enlarge it.
  const fit = result ? fitScale(result.layout, pane) : 1;
  const scale = zoom ?? fit;
  const pending = !result || result.folded !== folded;
  const labelled = labelsFit(folded.items.length, folded.edges.length);

  return (
    <>
      <div className="graph-toolbar">
        {toolbar}
        <span className="spacer" />
        <span className="muted" style={{ fontSize: '0.8rem' }}>
          {pending
            ? `laying out ${folded.items.length} boxes, ${folded.edges.length} edges…`
            : `${folded.items.length} boxes, ${folded.edges.length} edges${labelled ? '' : ' (shapes on hover)'}`}
        </span>
        <ZoomControls fit={fit} scale={scale} zoomed={zoom !== null} onZoom={setZoom} />
      </div>
      <div className="graph-scroll" ref={scroller}>
        {error ? <div className="error">layout failed: {error}</div> : null}
        {result ? (
          <GraphView
            layout={result.layout}
            boxes={boxes}
            frames={frames}
            selected={selected}
            scale={scale}
            onSelect={onSelect}
            onToggle={onToggle}
          />
        ) : (
          <div className="graph-status">
            Laying out {folded.items.length} boxes and {folded.edges.length} edges…
            {labelled ? '' : ' (all-to-all dense connections take a few seconds)'}
          </div>
        )}
      </div>
      <Legend />
    </>
  );
}

/** Zoom out, the current scale (a toggle between fitting the pane and 100%), zoom in. */
function ZoomControls({
  fit,
  scale,
  zoomed,
  onZoom,
}: {
  fit: number;
  scale: number;
  zoomed: boolean;
  onZoom: (zoom: number | null) => void;
}) {
  return (
    <>
      <button
        type="button"
        aria-label="zoom out"
        onClick={() => onZoom(Math.max(Math.min(0.2, fit), scale / 1.25))}
      >
        −
      </button>
      <button type="button" onClick={() => onZoom(zoomed ? null : 1)} title="toggle fit to width / 100%">
        {Math.round(scale * 100)}%
      </button>
      <button type="button" aria-label="zoom in" onClick={() => onZoom(Math.min(2.5, scale * 1.25))}>
        +
      </button>
    </>
  );
}

/** The scale at which a layout fits inside a pane of `size` (a small margin kept), never above 100%. */
export function fitScale(
  l: Pick<Layout, 'width' | 'height'>,
  size: { width: number; height: number },
): number {
  const margin = 8;
  const scale = Math.min(1, (size.width - margin) / l.width, (size.height - margin) / l.height);
  return Number.isFinite(scale) && scale > 0.02 ? scale : 0.02;
}

/**
 * The pane's inner size, kept current as the window or the layout around it changes: measured
 * once the pane is in the document (a first guess would place the graph off-centre) and again on
 * every resize.
 */
function usePaneSize(ref: RefObject<HTMLDivElement | null>): { width: number; height: number } {
  const [size, setSize] = useState({ width: 800, height: 600 });
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () =>
      setSize((old) =>
        Math.abs(old.width - el.clientWidth) > 2 || Math.abs(old.height - el.clientHeight) > 2
          ? { width: el.clientWidth, height: el.clientHeight }
          : old,
      );
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return size;
}

/** What each box and frame of the folded graph shows: names, sizes, the category's colours. */
function boxViews(
  r: ResolvedGraph,
  folded: Folded,
  tree: ReturnType<typeof blockTree>,
): { boxes: Map<string, BoxView>; frames: Map<string, FrameView> } {
  const boxes = new Map<string, BoxView>();
  for (const item of folded.items) {
    const n = r.nodes[item.node]!;
    if (item.kind === 'block') {
      const b = tree.blocks.get(item.id)!;
      const t = blockTotals(r, b);
      const style = CATEGORY_STYLE.compute;
      boxes.set(item.id, {
        id: item.id,
        kind: 'block',
        title: local(item.id, item.container),
        subtitle: `${b.type} · ${compact(t.params)} params · ${b.nodes.length} ops`,
        fill: '#f7f9ff',
        stroke: style.stroke,
        dashed: !n.inference,
      });
    } else {
      const style = CATEGORY_STYLE[categoryOf(n)];
      boxes.set(item.id, {
        id: item.id,
        kind: 'node',
        title: local(item.id, item.container),
        subtitle: describeNode(n),
        fill: style.fill,
        stroke: style.stroke,
        dashed: !n.inference,
      });
    }
  }
  const frames = new Map<string, FrameView>(
    folded.containers.map((c) => [
      c.name,
      { id: c.name, title: `${local(c.name, c.parent)} · ${tree.blocks.get(c.name)!.type}` },
    ]),
  );
  return { boxes, frames };
}

/** The folded graph laid out (asynchronously: elk takes seconds on dense graphs), or why it failed. */
function useLayout(
  folded: Folded,
  boxes: ReadonlyMap<string, BoxView>,
  frames: ReadonlyMap<string, FrameView>,
): { result: { folded: Folded; layout: Layout } | null; error: string | null } {
  const [result, setResult] = useState<{ folded: Folded; layout: Layout } | null>(null);
  const [error, setError] = useState<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new `boxes` comes with every new `folded`.
  useEffect(() => {
    let current = true;
    setError(null);
    const sizeOf = (id: string) => {
      const b = boxes.get(id)!;
      const w = Math.max(textWidth(b.title, NAME_FONT), textWidth(b.subtitle, DESC_FONT));
      return { width: Math.ceil(Math.max(96, w + 20 + (b.kind === 'block' ? 26 : 0))), height: NODE_HEIGHT };
    };
    layout(folded, sizeOf, (e) => dims(e.shape))
      .then((l) => {
        if (current) setResult({ folded, layout: l });
      })
      .catch((e: unknown) => {
        if (current) setError(String(e));
      });
    return () => {
      current = false;
    };
  }, [folded, boxes, frames]);
  return { result, error };
}

/** The colour of each category of op. */
function Legend() {
  return (
    <div
      className="legend"
      style={{ padding: '0.4rem 0.7rem', borderTop: '1px solid var(--line)', marginTop: 0 }}
    >
      {Object.entries(CATEGORY_STYLE)
        .filter(([k]) => k !== 'input')
        .map(([k, s]) => (
          <span key={k} style={{ ['--swatch' as string]: s.fill, ['--swatch-border' as string]: s.stroke }}>
            {s.label}
          </span>
        ))}
    </div>
  );
}
