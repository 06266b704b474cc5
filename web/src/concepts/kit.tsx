/**
 * What every concept page is built from: small networks built with convlab's own builder, ops and
 * blocks (at the sizes of a real layer of a zoo model) and analysed by the same passes as the zoo.
 */
import type { ChartConfiguration } from 'chart.js';
import { type ReactNode, useMemo } from 'react';
import {
  type NodeField,
  type ReceptiveFields,
  receptiveFields,
} from '../../../src/analysis/receptive_field.js';
import { type Summary, summarise } from '../../../src/analysis/summary.js';
import { GraphBuilder, type Tensor } from '../../../src/ir/builder.js';
import type { Graph } from '../../../src/ir/graph.js';
import { type ResolvedGraph, resolveGraph } from '../../../src/ir/resolve.js';
import { numel, type Shape } from '../../../src/ir/shape.js';
import { ChartView, SERIES } from '../chart.js';
import { compact, dims, pair, thousands, times } from '../format.js';
import { type BlockInfo, blockTotals, blockTree } from '../graph/fold.js';
import { type Analysis, analyse } from '../lab.js';
import { hrefOf, Link } from '../router.js';

export interface Concept {
  readonly id: string;
  readonly title: string;
  /** The claim, in one or two sentences. */
  readonly claim: string;
  /** The live figure on the index card. */
  readonly headline: () => string;
  /** Where the idea lives in real networks. */
  readonly links: readonly { readonly model: string; readonly layer: string; readonly label: string }[];
  readonly Body: () => ReactNode;
}

export interface Fragment {
  readonly graph: Graph;
  readonly resolved: ResolvedGraph;
  readonly summary: Summary;
  readonly fields: ReceptiveFields;
  /** The receptive field of the fragment's output, relative to the fragment's input. */
  readonly field: NodeField;
  readonly output: Shape;
}

const fragments = new Map<string, Fragment>();

/** Build `body` on an input of `input` = [C, H, W] with convlab's builder, and analyse it (cached by name). */
export function fragment(
  name: string,
  input: readonly [number, number, number],
  body: (x: Tensor) => Tensor,
): Fragment {
  const key = `${name}|${input.join('x')}`;
  const hit = fragments.get(key);
  if (hit) return hit;
  const b = new GraphBuilder(name, 'concept');
  const y = body(b.input(input));
  b.output(y);
  const graph = b.build();
  const resolved = resolveGraph(graph);
  const fields = receptiveFields(resolved);
  const out = resolved.nodes[resolved.nodes.length - 1]!;
  const result = {
    graph,
    resolved,
    summary: summarise(resolved),
    fields,
    field: fields.byName.get(out.node.name)!,
    output: out.ctx.output,
  };
  fragments.set(key, result);
  return result;
}

/** The input shape [C, H, W] of a named node of a zoo model (its first input). */
export function inputOf(a: Analysis, node: string): [number, number, number] {
  const n = a.resolved.byName.get(node);
  if (!n) throw new Error(`${a.entry.name} has no node '${node}'`);
  const [, c, h, w] = n.ctx.inputs[0]!;
  return [c!, h!, w!];
}

export const node = (model: string, name: string) => {
  const n = analyse(model).resolved.byName.get(name);
  if (!n) throw new Error(`${model} has no node '${name}'`);
  return n;
};

export const paramsOf = (model: string, name: string): number =>
  node(model, name)
    .params.filter((p) => p.role === 'param')
    .reduce((s, p) => s + numel(p.shape), 0);

const trees = new Map<string, ReturnType<typeof blockTree>>();
function treeOf(model: string) {
  const tree = trees.get(model) ?? blockTree(analyse(model).graph);
  trees.set(model, tree);
  return tree;
}

export function block(
  model: string,
  name: string,
): BlockInfo & { params: number; macs: number; flops: number } {
  const a = analyse(model);
  const b = treeOf(model).blocks.get(name);
  if (!b) throw new Error(`${model} has no block '${name}'`);
  return { ...b, ...blockTotals(a.resolved, b) };
}

export function blocksOfType(model: string, type: string): (BlockInfo & { params: number; macs: number })[] {
  const a = analyse(model);
  return [...treeOf(model).blocks.values()]
    .filter((b) => b.type === type)
    .map((b) => ({ ...b, ...blockTotals(a.resolved, b) }));
}

export function LayerLink({
  model,
  layer,
  children,
}: {
  model: string;
  layer: string;
  children?: ReactNode;
}) {
  return (
    <Link href={hrefOf(`/model/${model}`, { layer })}>
      {children ?? (
        <>
          <code>{model}</code> <code>{layer}</code>
        </>
      )}
    </Link>
  );
}

export interface Row {
  readonly label: ReactNode;
  readonly params: number;
  readonly macs: number;
  readonly rf?: NodeField | readonly [number, number];
  readonly output?: Shape;
  readonly note?: ReactNode;
}

/** Variants side by side: parameters, MACs, receptive field, each against the first row. */
export function CompareTable({ rows, baseline = 0 }: { rows: readonly Row[]; baseline?: number }) {
  const base = rows[baseline]!;
  const hasRf = rows.some((r) => r.rf);
  const hasOut = rows.some((r) => r.output);
  const hasNote = rows.some((r) => r.note);
  const rfText = (rf: Row['rf']) => (rf ? pair('size' in rf ? rf.size : rf) : '');
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>variant</th>
            {hasOut ? <th>output</th> : null}
            <th className="num">params</th>
            <th className="num">vs first</th>
            <th className="num">MACs</th>
            <th className="num">vs first</th>
            {hasRf ? <th className="num">receptive field</th> : null}
            {hasNote ? <th>note</th> : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, k) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows are fixed per page.
            <tr key={k}>
              <td>{r.label}</td>
              {hasOut ? <td className="mono">{r.output ? dims(r.output) : ''}</td> : null}
              <td className="num">{thousands(r.params)}</td>
              <td className="num">{k === baseline ? '' : ratio(r.params, base.params)}</td>
              <td className="num">{thousands(r.macs)}</td>
              <td className="num">{k === baseline ? '' : ratio(r.macs, base.macs)}</td>
              {hasRf ? <td className="num">{rfText(r.rf)}</td> : null}
              {hasNote ? <td style={{ whiteSpace: 'normal', minWidth: '14rem' }}>{r.note}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** 0.72× (or 1/9.7 when it is a big cut). */
export function ratio(x: number, base: number): string {
  if (base === 0) return '';
  const r = x / base;
  return r < 0.2 && r > 0 ? `1/${Number((1 / r).toFixed(1))}` : times(r);
}

export function Verdict({ ok, children }: { ok: boolean; children: ReactNode }) {
  return (
    <p className="verdict" style={{ color: ok ? 'var(--good)' : 'var(--bad)' }} data-testid="verdict">
      {ok ? '✓ ' : '✗ '}
      {children}
    </p>
  );
}

/** A small bar chart of one quantity over variants. */
export function Bars({
  title,
  labels,
  values,
  format = compact,
  height = 220,
}: {
  title: string;
  labels: readonly string[];
  values: readonly number[];
  format?: (n: number) => string;
  height?: number;
}) {
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: [...labels],
        datasets: [
          {
            label: title,
            data: [...values],
            backgroundColor: labels.map((_, i) => SERIES[i % SERIES.length]!),
            borderRadius: 3,
          },
        ],
      },
      options: {
        plugins: {
          legend: { display: false },
          title: { display: true, text: title, align: 'start', font: { size: 13, weight: 'bold' } },
          tooltip: { callbacks: { label: (c) => format(c.parsed.y ?? 0) } },
        },
        scales: { y: { beginAtZero: true, ticks: { callback: (v) => format(Number(v)) } } },
      },
    }),
    [title, labels, values, format],
  );
  return (
    <ChartView
      config={config}
      height={height}
      label={`${title}: ${labels.map((l, i) => `${l} ${format(values[i]!)}`).join(', ')}`}
    />
  );
}
