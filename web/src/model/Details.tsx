import type { NodeField } from '../../../src/analysis/receptive_field.js';
import type { ResolvedGraph, ResolvedNode } from '../../../src/ir/resolve.js';
import { numel } from '../../../src/ir/shape.js';
import { bytes, dims, pair, thousands } from '../format.js';
import { notableAttrs } from '../graph/describe.js';
import { type BlockInfo, blockTotals, type blockTree } from '../graph/fold.js';
import type { Analysis } from '../lab.js';
import { hrefOf, Link } from '../router.js';
import { FLOAT, savedBytes } from './common.js';

function FieldRow({ f }: { f: NodeField | undefined }) {
  if (!f) return null;
  if (f.extent === null && f.global) return <dd>the whole input ({pair(f.size)})</dd>;
  const flags = [
    f.global ? 'whole image' : '',
    f.clipped ? 'larger than the input' : '',
    f.approximate ? 'upper bound' : '',
    !f.aligned ? 'after an unaligned merge' : '',
  ].filter(Boolean);
  return (
    <dd>
      {pair(f.size)} px, stride {pair(f.stride)}, padding {pair(f.padding)}
      {flags.length ? <span className="muted"> ({flags.join(', ')})</span> : null}
    </dd>
  );
}

export function Details({
  analysis,
  tree,
  selected,
  collapsed,
  onToggle,
  onSelect,
}: {
  analysis: Analysis;
  tree: ReturnType<typeof blockTree>;
  selected: string | null;
  collapsed: ReadonlySet<string>;
  onToggle: (block: string) => void;
  onSelect: (id: string) => void;
}) {
  if (!selected) return <NoSelection />;
  const block = tree.blocks.get(selected);
  if (block)
    return (
      <BlockDetails
        analysis={analysis}
        block={block}
        collapsed={collapsed}
        onToggle={onToggle}
        onSelect={onSelect}
      />
    );
  return <NodeDetails analysis={analysis} name={selected} onSelect={onSelect} />;
}

function NoSelection() {
  return (
    <section className="panel details" aria-label="details">
      <h3 style={{ marginTop: 0 }}>Click a box</h3>
      <p className="muted" style={{ marginBottom: 0 }}>
        Select a layer or block in the graph or the table to see its shapes, parameters, MACs, receptive field
        and memory. Blocks open with <strong>+</strong> (or a double click) and close from their frame's
        title.
      </p>
    </section>
  );
}

/** A layer's name as a button that selects it. */
function SelectButton({ name, onSelect }: { name: string; onSelect: (id: string) => void }) {
  return (
    <button type="button" className="toggle" style={{ width: 'auto' }} onClick={() => onSelect(name)}>
      <code>{name}</code>
    </button>
  );
}

/** The way to the same layer in the receptive-field view (where it has a spatial field) and the memory view. */
function ViewLinks({ model, layer, field }: { model: string; layer: string; field: NodeField | undefined }) {
  return (
    <div className="links">
      {field?.extent ? <Link href={hrefOf(`/rf/${model}`, { layer })}>Receptive field view →</Link> : null}
      <Link href={hrefOf('/memory', { a: model })}>Memory view →</Link>
    </div>
  );
}

function NodeDetails({
  analysis,
  name,
  onSelect,
}: {
  analysis: Analysis;
  name: string;
  onSelect: (id: string) => void;
}) {
  const r = analysis.resolved;
  const n = r.byName.get(name)!;
  const f = analysis.fields.byName.get(name);
  return (
    <section className="panel details" aria-label="details" data-testid="details">
      <div className="title">
        <code>{n.node.name}</code>
        <span className="pill">{n.node.op}</span>
        {!n.inference ? <span className="pill warn">training only</span> : null}
      </div>
      <p className="muted" style={{ margin: '0.3rem 0 0' }}>
        {n.def.summary}
      </p>
      <dl>
        {notableAttrs(n).length ? (
          <>
            <dt>attributes</dt>
            <dd className="mono">
              {notableAttrs(n)
                .map(([k, v]) => `${k} ${v}`)
                .join(' · ')}
            </dd>
          </>
        ) : null}
        {n.inputs.length ? (
          <>
            <dt>input{n.inputs.length > 1 ? 's' : ''}</dt>
            <dd>
              {n.inputs.map((i) => (
                <div key={i}>
                  <SelectButton name={r.nodes[i]!.node.name} onSelect={onSelect} />{' '}
                  <span className="mono">{dims(r.nodes[i]!.ctx.output)}</span>
                </div>
              ))}
            </dd>
          </>
        ) : null}
        <dt>output</dt>
        <dd className="mono">[{n.ctx.output.join(', ')}]</dd>
        <NodeFigures n={n} f={f} />
      </dl>
      <ViewLinks model={analysis.entry.name} layer={n.node.name} field={f} />
    </section>
  );
}

/** A layer's parameters, cost, receptive field and memory, as definition-list rows. */
function NodeFigures({ n, f }: { n: ResolvedNode; f: NodeField | undefined }) {
  const params = n.params.filter((p) => p.role === 'param');
  const buffers = n.params.filter((p) => p.role === 'buffer');
  const own = params.reduce((s, p) => s + numel(p.shape), 0);
  return (
    <>
      <dt>parameters</dt>
      <dd>
        {thousands(own)}
        {params.length || buffers.length ? (
          <ul className="tensor-list">
            {[...params, ...buffers].map((p) => (
              <li key={p.name}>
                {p.name} [{p.shape.join(', ')}]{p.role === 'buffer' ? ' buffer' : ''}
              </li>
            ))}
          </ul>
        ) : null}
      </dd>
      <dt>MACs</dt>
      <dd>{n.inference ? thousands(n.macs) : '0 (not run at inference)'}</dd>
      <dt>FLOPs</dt>
      <dd>{n.inference ? thousands(n.flops) : '0'}</dd>
      <dt>receptive field</dt>
      <FieldRow f={f} />
      <dt>memory</dt>
      <dd>
        output {n.def.memory.view ? '0 B (a view of its input)' : bytes(numel(n.ctx.output) * FLOAT)} per
        image
        {n.def.memory.inplace ? ', can run in place' : ''}; keeps {bytes(savedBytes(n))} for backward
      </dd>
    </>
  );
}

function BlockDetails({
  analysis,
  block,
  collapsed,
  onToggle,
  onSelect,
}: {
  analysis: Analysis;
  block: BlockInfo;
  collapsed: ReadonlySet<string>;
  onToggle: (block: string) => void;
  onSelect: (id: string) => void;
}) {
  const r = analysis.resolved;
  const out = r.nodes[block.output]!;
  const inside = new Set(block.nodes);
  const entering = new Map<number, number>();
  for (const i of block.nodes) for (const j of r.nodes[i]!.inputs) if (!inside.has(j)) entering.set(j, j);
  const f = analysis.fields.byName.get(out.node.name);
  return (
    <section className="panel details" aria-label="details" data-testid="details">
      <div className="title">
        <code>{block.name}</code>
        <span className="pill">{block.type}</span>
        <button type="button" style={{ marginLeft: 'auto' }} onClick={() => onToggle(block.name)}>
          {collapsed.has(block.name) ? 'Open block' : 'Close block'}
        </button>
      </div>
      <dl>
        <dt>ops</dt>
        <dd>{block.nodes.length}</dd>
        <dt>input{entering.size > 1 ? 's' : ''}</dt>
        <dd>
          {[...entering.keys()].map((j) => (
            <div key={j}>
              <code>{r.nodes[j]!.node.name}</code>{' '}
              <span className="mono">{dims(r.nodes[j]!.ctx.output)}</span>
            </div>
          ))}
        </dd>
        <dt>output</dt>
        <dd>
          <SelectButton name={out.node.name} onSelect={onSelect} />{' '}
          <span className="mono">[{out.ctx.output.join(', ')}]</span>
        </dd>
        <BlockFigures r={r} block={block} f={f} />
      </dl>
      <ViewLinks model={analysis.entry.name} layer={out.node.name} field={f} />
    </section>
  );
}

/** A block's totals: parameters, cost, its output's receptive field, the memory of its maps. */
function BlockFigures({ r, block, f }: { r: ResolvedGraph; block: BlockInfo; f: NodeField | undefined }) {
  const t = blockTotals(r, block);
  const maps = block.nodes.reduce(
    (s, i) => s + (r.nodes[i]!.def.memory.view ? 0 : numel(r.nodes[i]!.ctx.output) * FLOAT),
    0,
  );
  return (
    <>
      <dt>parameters</dt>
      <dd>{thousands(t.params)}</dd>
      <dt>MACs</dt>
      <dd>{thousands(t.macs)}</dd>
      <dt>FLOPs</dt>
      <dd>{thousands(t.flops)}</dd>
      <dt>receptive field</dt>
      <FieldRow f={f} />
      <dt>memory</dt>
      <dd>
        {bytes(maps)} of feature maps per image; keeps{' '}
        {bytes(block.nodes.reduce((s, i) => s + savedBytes(r.nodes[i]!), 0))} for backward
      </dd>
    </>
  );
}
