import { type KeyboardEvent, type RefObject, useEffect, useRef } from 'react';
import type { Box, EdgeRoute, Layout } from './layout.js';

export interface BoxView {
  readonly id: string;
  readonly kind: 'node' | 'block';
  readonly title: string;
  readonly subtitle: string;
  readonly fill: string;
  readonly stroke: string;
  /** Drawn dashed: auxiliary heads, which inference never runs. */
  readonly dashed: boolean;
}

export interface FrameView {
  readonly id: string;
  readonly title: string;
}

const activate = (handler: () => void) => (e: KeyboardEvent) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    handler();
  }
};

/** Keep the selection in view: scroll the graph's own pane, never the page. */
function useSelectionInView(
  svg: RefObject<SVGSVGElement | null>,
  layout: Layout,
  selected: string | null,
  scale: number,
): void {
  useEffect(() => {
    const pane = svg.current?.parentElement;
    if (!pane) return;
    if (!selected) {
      pane.scrollLeft = (pane.scrollWidth - pane.clientWidth) / 2;
      return;
    }
    const box = layout.nodes.get(selected) ?? layout.containers.get(selected);
    if (!box) return;
    const top = box.y * scale;
    const left = box.x * scale;
    const visible =
      top >= pane.scrollTop &&
      top + box.height * scale <= pane.scrollTop + pane.clientHeight &&
      left >= pane.scrollLeft &&
      left + box.width * scale <= pane.scrollLeft + pane.clientWidth;
    if (!visible) {
      pane.scrollTo({
        top: Math.max(0, top - pane.clientHeight / 3),
        left: Math.max(0, left + (box.width * scale) / 2 - pane.clientWidth / 2),
        behavior: 'smooth',
      });
    }
  }, [svg, selected, layout, scale]);
}

/** The laid-out graph as SVG: frames (expanded blocks), edges with their shape labels, boxes. */
export function GraphView({
  layout,
  boxes,
  frames,
  selected,
  scale,
  onSelect,
  onToggle,
}: {
  layout: Layout;
  boxes: ReadonlyMap<string, BoxView>;
  frames: ReadonlyMap<string, FrameView>;
  selected: string | null;
  scale: number;
  onSelect: (id: string) => void;
  onToggle: (block: string) => void;
}) {
  const svg = useRef<SVGSVGElement>(null);
  useSelectionInView(svg, layout, selected, scale);

  return (
    <svg
      ref={svg}
      className="graph"
      width={layout.width * scale}
      height={layout.height * scale}
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      aria-label="model graph"
      data-testid="graph"
    >
      <title>Model graph</title>
      <ArrowMarker />
      {[...layout.containers.values()].map((c) => (
        <Frame
          key={c.id}
          box={c}
          title={frames.get(c.id)?.title ?? c.id}
          selected={selected === c.id}
          onToggle={onToggle}
        />
      ))}
      {layout.edges.map((e) => (
        <Edge key={e.id} edge={e} />
      ))}
      {[...layout.nodes.values()].map((n) => {
        const view = boxes.get(n.id);
        if (!view) return null;
        return (
          <NodeBox
            key={n.id}
            box={n}
            view={view}
            selected={selected === n.id}
            onSelect={onSelect}
            onToggle={onToggle}
          />
        );
      })}
    </svg>
  );
}

function ArrowMarker() {
  return (
    <defs>
      <marker id="arrow" viewBox="0 0 8 8" refX="7.5" refY="4" markerWidth="7" markerHeight="7" orient="auto">
        <path d="M0,0 L8,4 L0,8 z" fill="#8b93a5" />
      </marker>
    </defs>
  );
}

/** An expanded block: its frame, and its title as the button that collapses it. */
function Frame({
  box: c,
  title,
  selected,
  onToggle,
}: {
  box: Box;
  title: string;
  selected: boolean;
  onToggle: (block: string) => void;
}) {
  return (
    <g className={`container${selected ? ' selected' : ''}`}>
      <rect x={c.x} y={c.y} width={c.width} height={c.height} rx={8} />
      {/* biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; the group takes its role. */}
      <g
        role="button"
        tabIndex={0}
        aria-label={`collapse ${c.id}`}
        onClick={() => onToggle(c.id)}
        onKeyDown={activate(() => onToggle(c.id))}
      >
        <text x={c.x + 10} y={c.y + 17}>
          ▾ {title}
        </text>
      </g>
    </g>
  );
}

/** An edge with its arrow head and, where there is room, the shape it carries. */
function Edge({ edge: e }: { edge: EdgeRoute }) {
  return (
    <g className="edge">
      <title>{`${e.id.replace('->', ' → ')}: ${e.text}`}</title>
      <path d={e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ')} markerEnd="url(#arrow)" />
      {e.label ? (
        <text x={e.label.x + 2} y={e.label.y + e.label.height - 2}>
          {e.label.text}
        </text>
      ) : null}
    </g>
  );
}

/** A node or a collapsed block (drawn as a stack, with a + that expands it). */
function NodeBox({
  box: n,
  view,
  selected,
  onSelect,
  onToggle,
}: {
  box: Box;
  view: BoxView;
  selected: boolean;
  onSelect: (id: string) => void;
  onToggle: (block: string) => void;
}) {
  const block = view.kind === 'block';
  return (
    // biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; the group takes its role.
    <g
      className={`node${selected ? ' selected' : ''}`}
      transform={`translate(${n.x},${n.y})`}
      role="button"
      tabIndex={0}
      aria-label={`${view.title}: ${view.subtitle}`}
      data-id={n.id}
      onClick={() => onSelect(n.id)}
      onDoubleClick={block ? () => onToggle(n.id) : undefined}
      onKeyDown={activate(() => onSelect(n.id))}
    >
      {block ? (
        <rect x={3} y={3} width={n.width} height={n.height} rx={6} fill="#fff" stroke={view.stroke} />
      ) : null}
      <rect
        className="box"
        width={n.width}
        height={n.height}
        rx={6}
        fill={view.fill}
        stroke={view.stroke}
        strokeDasharray={view.dashed ? '4 3' : undefined}
      />
      <text className="name" x={10} y={16}>
        {view.title}
      </text>
      <text className="desc" x={10} y={31}>
        {view.subtitle}
      </text>
      {block ? <ExpandButton box={n} stroke={view.stroke} onToggle={onToggle} /> : null}
    </g>
  );
}

/** The + on a collapsed block. */
function ExpandButton({
  box: n,
  stroke,
  onToggle,
}: {
  box: Box;
  stroke: string;
  onToggle: (block: string) => void;
}) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; the group takes its role.
    <g
      role="button"
      tabIndex={0}
      aria-label={`expand ${n.id}`}
      onClick={(e) => {
        e.stopPropagation();
        onToggle(n.id);
      }}
      onKeyDown={activate(() => onToggle(n.id))}
    >
      <rect x={n.width - 24} y={n.height / 2 - 9} width={18} height={18} rx={4} fill="#fff" stroke={stroke} />
      <text x={n.width - 15} y={n.height / 2 + 4.5} textAnchor="middle" fontSize={14} fill={stroke}>
        +
      </text>
    </g>
  );
}
