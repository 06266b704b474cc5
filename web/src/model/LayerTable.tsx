import { type RefObject, useEffect, useMemo, useRef } from 'react';
import type { NodeField } from '../../../src/analysis/receptive_field.js';
import type { ResolvedGraph } from '../../../src/ir/resolve.js';
import { numel } from '../../../src/ir/shape.js';
import { compact, dims, pair } from '../format.js';
import { blockTotals, type blockTree, type Folded } from '../graph/fold.js';
import type { Analysis } from '../lab.js';
import { local } from './common.js';

interface TableRow {
  readonly id: string;
  readonly depth: number;
  readonly kind: 'node' | 'block' | 'frame';
  readonly order: number;
}

export function LayerTable({
  analysis,
  tree,
  folded,
  selected,
  onSelect,
  onToggle,
  fields,
}: {
  analysis: Analysis;
  tree: ReturnType<typeof blockTree>;
  folded: Folded;
  selected: string | null;
  onSelect: (id: string) => void;
  onToggle: (block: string) => void;
  fields: ReadonlyMap<string, NodeField>;
}) {
  const rows = useMemo(() => tableRows(folded), [folded]);
  const box = useRef<HTMLElement>(null);
  useSelectedRowInView(box, selected, rows);

  return (
    <section className="table-wrap layer-table" aria-label="layers" ref={box}>
      <table className="data">
        <thead>
          <tr>
            <th>layer</th>
            <th>output</th>
            <th className="num">params</th>
            <th className="num">MACs</th>
            <th className="num" title="receptive field size (px)">
              RF
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <LayerRow
              key={row.id}
              row={row}
              r={analysis.resolved}
              tree={tree}
              fields={fields}
              selected={selected === row.id}
              onSelect={onSelect}
              onToggle={onToggle}
            />
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The folded graph's frames and boxes in order, each frame's contents under it, indented. */
function tableRows(folded: Folded): TableRow[] {
  const children = new Map<string | null, TableRow[]>();
  const push = (parent: string | null, row: TableRow) => {
    const list = children.get(parent) ?? [];
    children.set(parent, list);
    list.push(row);
  };
  for (const c of folded.containers) push(c.parent, { id: c.name, depth: 0, kind: 'frame', order: c.order });
  for (const i of folded.items) push(i.container, { id: i.id, depth: 0, kind: i.kind, order: i.order });
  const out: TableRow[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const row of (children.get(parent) ?? []).sort((a, b) => a.order - b.order)) {
      out.push({ ...row, depth });
      if (row.kind === 'frame') walk(row.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** Bring the selected row into the table's own view (never scroll the page), also after the rows change. */
function useSelectedRowInView(
  box: RefObject<HTMLElement | null>,
  selected: string | null,
  rows: readonly TableRow[],
): void {
  // biome-ignore lint/correctness/useExhaustiveDependencies: `rows` is a trigger: the row may have just appeared.
  useEffect(() => {
    const pane = box.current;
    const row = selected ? pane?.querySelector<HTMLElement>(`tr[data-row="${CSS.escape(selected)}"]`) : null;
    if (!pane || !row) return;
    const top = row.offsetTop;
    if (top < pane.scrollTop + 30 || top + row.offsetHeight > pane.scrollTop + pane.clientHeight) {
      pane.scrollTo({ top: Math.max(0, top - pane.clientHeight / 3), behavior: 'smooth' });
    }
  }, [box, selected, rows]);
}

function LayerRow({
  row,
  r,
  tree,
  fields,
  selected,
  onSelect,
  onToggle,
}: {
  row: TableRow;
  r: ResolvedGraph;
  tree: ReturnType<typeof blockTree>;
  fields: ReadonlyMap<string, NodeField>;
  selected: boolean;
  onSelect: (id: string) => void;
  onToggle: (block: string) => void;
}) {
  const block = row.kind === 'node' ? undefined : tree.blocks.get(row.id)!;
  const n = r.nodes[block ? block.output : r.byName.get(row.id)!.index]!;
  const t = block
    ? blockTotals(r, block)
    : {
        params: n.params.filter((p) => p.role === 'param').reduce((s, p) => s + numel(p.shape), 0),
        macs: n.inference ? n.macs : 0,
      };
  const f = fields.get(n.node.name);
  const container = row.depth > 0 ? (block ? block.parent : (tree.chain[n.index]!.at(-1) ?? null)) : null;
  return (
    <tr
      data-row={row.id}
      className={[row.kind === 'frame' ? 'container' : '', selected ? 'selected' : ''].join(' ')}
    >
      <td
        className="name"
        style={{ paddingLeft: `${0.5 + row.depth * 0.9}rem` }}
        title={block ? `${row.id} (${block.type})` : row.id}
      >
        {block ? (
          <button
            type="button"
            className="toggle"
            aria-label={`${row.kind === 'frame' ? 'close' : 'open'} ${row.id}`}
            onClick={(e) => {
              e.stopPropagation();
              onToggle(row.id);
            }}
          >
            {row.kind === 'frame' ? '▾' : '▸'}
          </button>
        ) : (
          <span className="toggle" />
        )}
        <button
          type="button"
          className="toggle"
          style={{ width: 'auto' }}
          onClick={(e) => {
            e.stopPropagation();
            onSelect(row.id);
          }}
        >
          {local(row.id, container)}
        </button>
        {row.kind === 'frame' ? <span className="muted"> {block!.type}</span> : null}
      </td>
      <td className="mono">{dims(n.ctx.output)}</td>
      <td className="num">{t.params ? compact(t.params) : ''}</td>
      <td className="num">{t.macs ? compact(t.macs) : ''}</td>
      <td className="num">{f?.extent ? pair(f.size) : ''}</td>
    </tr>
  );
}
