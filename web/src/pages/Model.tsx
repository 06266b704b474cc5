import { useEffect, useMemo, useState } from 'react';
import type { Graph } from '../../../src/ir/graph.js';
import { nearest } from '../../../src/zoo/registry.js';
import { CatalogueOptions, Stat } from '../components.js';
import { bytes, metric, pair, thousands } from '../format.js';
import { ancestorsOf, blockTree, defaultCollapsed, fold } from '../graph/fold.js';
import { type Analysis, analyse, findEntry } from '../lab.js';
import { Details } from '../model/Details.js';
import { GraphPane } from '../model/GraphPane.js';
import { LayerTable } from '../model/LayerTable.js';
import { hrefOf, Link, navigate, type Route, setQuery } from '../router.js';

export function ModelPage({ route, name }: { route: Route; name: string }) {
  const entry = findEntry(name);
  if (!entry) {
    return (
      <div className="panel">
        <h1>Unknown model '{name}'</h1>
        <p>
          Pick one from the <Link href="/">zoo</Link>.
        </p>
      </div>
    );
  }
  return <ModelView key={name} analysis={analyse(name)} selectedName={route.query.get('layer')} />;
}

type BlockTree = ReturnType<typeof blockTree>;

/**
 * Which blocks are closed: the defaults, with the blocks around the selection opened (at first and
 * whenever the selection changes), and the ways the page changes them.
 */
function useCollapsed(graph: Graph, tree: BlockTree, selectedName: string | null, selected: string | null) {
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => {
    const c = defaultCollapsed(graph, tree);
    if (selectedName) for (const a of ancestorsOf(tree, graph, selectedName)) c.delete(a);
    return c;
  });
  // A selection from the URL (or a click in the table) opens the blocks around it.
  useEffect(() => {
    if (!selected) return;
    const up = ancestorsOf(tree, graph, selected);
    setCollapsed((c) => (up.some((a) => c.has(a)) ? new Set([...c].filter((b) => !up.includes(b))) : c));
  }, [selected, tree, graph]);
  const toggle = (block: string) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(block)) next.delete(block);
      else next.add(block);
      return next;
    });
  return {
    collapsed,
    toggle,
    collapseAll: () => setCollapsed(new Set(tree.blocks.keys())),
    expandAll: () => setCollapsed(new Set()),
    reset: () => setCollapsed(defaultCollapsed(graph, tree)),
  };
}

function ModelView({ analysis, selectedName }: { analysis: Analysis; selectedName: string | null }) {
  const { graph, resolved: r, fields, entry } = analysis;
  const tree = useMemo(() => blockTree(graph), [graph]);
  const selected =
    selectedName && (tree.blocks.has(selectedName) || r.byName.has(selectedName)) ? selectedName : null;
  const { collapsed, toggle, collapseAll, expandAll, reset } = useCollapsed(
    graph,
    tree,
    selectedName,
    selected,
  );

  const folded = useMemo(() => fold(r, tree, collapsed), [r, tree, collapsed]);
  const shown = useMemo(() => {
    // The box a selected name is drawn in (a node inside a closed block shows as the block).
    if (!selected) return null;
    const i = r.byName.get(selected)?.index;
    return i === undefined ? selected : folded.itemOf[i]!;
  }, [selected, r, folded]);

  const select = (id: string) => setQuery({ layer: id });
  return (
    <>
      <ModelHead analysis={analysis} />
      {entry.description ? <p className="lede">{entry.description}</p> : null}
      {selectedName && !selected ? (
        <UnknownLayer analysis={analysis} tree={tree} name={selectedName} />
      ) : null}
      <ModelStats analysis={analysis} tree={tree} />

      <div className="model-layout">
        <section className="panel graph-pane" aria-label="graph">
          <GraphPane
            analysis={analysis}
            folded={folded}
            tree={tree}
            selected={shown}
            onSelect={select}
            onToggle={toggle}
            toolbar={
              <BlockButtons
                nodes={graph.nodes.length}
                collapseAll={collapseAll}
                reset={reset}
                expandAll={expandAll}
              />
            }
          />
        </section>
        <aside className="side">
          <Details
            analysis={analysis}
            tree={tree}
            selected={selected}
            collapsed={collapsed}
            onToggle={toggle}
            onSelect={select}
          />
          <LayerTable
            analysis={analysis}
            tree={tree}
            folded={folded}
            selected={shown}
            onSelect={select}
            onToggle={toggle}
            fields={fields.byName}
          />
        </aside>
      </div>
    </>
  );
}

/** The model's name and family, and the picker for another. */
function ModelHead({ analysis: { entry } }: { analysis: Analysis }) {
  return (
    <div className="page-head">
      <h1>
        {entry.name} <span className="family">{entry.family}</span>
      </h1>
      <label className="field">
        model
        <select value={entry.name} onChange={(e) => navigate(`/model/${e.target.value}`)}>
          <CatalogueOptions first="zoo" />
        </select>
      </label>
    </div>
  );
}

/** The graph toolbar's buttons that open and close every block at once. */
function BlockButtons({
  nodes,
  collapseAll,
  reset,
  expandAll,
}: {
  nodes: number;
  collapseAll: () => void;
  reset: () => void;
  expandAll: () => void;
}) {
  return (
    <>
      <button type="button" onClick={collapseAll}>
        Collapse all
      </button>
      <button type="button" onClick={reset}>
        Default
      </button>
      <button
        type="button"
        onClick={expandAll}
        title={`${nodes} nodes: the layout takes a moment on big models`}
      >
        Expand all
      </button>
    </>
  );
}

/** A `layer=` the model lacks: the nearest names it has. */
function UnknownLayer({ analysis, tree, name }: { analysis: Analysis; tree: BlockTree; name: string }) {
  const { entry, graph } = analysis;
  return (
    <p className="notice" data-testid="unknown-layer">
      {entry.name} has no layer or block named <code>{name}</code>; nearest:{' '}
      {nearest(name, [...tree.blocks.keys(), ...graph.nodes.map((n) => n.name)]).map((n, k) => (
        <span key={n}>
          {k ? ', ' : ''}
          <Link href={hrefOf(`/model/${entry.name}`, { layer: n })}>{n}</Link>
        </span>
      ))}
      .
    </p>
  );
}

function ModelStats({ analysis, tree }: { analysis: Analysis; tree: BlockTree }) {
  const { summary, graph } = analysis;
  const totals = summary.totals;
  const aux = graph.outputs.filter((o) => o.role === 'aux');
  return (
    <div className="stats" data-testid="model-stats">
      <Stat k="parameters" v={thousands(totals.params)} testId="params" />
      <Stat k="MACs" v={metric(totals.macs)} s={thousands(totals.macs)} />
      <Stat k="FLOPs" v={metric(totals.flops)} />
      <Stat k="input" v={summary.input.slice(1).join('×')} />
      <Stat k="receptive field" v={pair(analysis.lastField.size)} s={`at ${analysis.lastField.name}`} />
      <Stat k="activations" v={bytes(totals.activationBytes)} s="per image, inference" />
      <Stat k="layers" v={thousands(summary.layers.length)} s={`${tree.blocks.size} blocks`} />
      {aux.length ? <Stat k="aux heads" v={String(aux.length)} s="training only" /> : null}
    </div>
  );
}
