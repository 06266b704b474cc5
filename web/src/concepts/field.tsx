import {
  type AxisWindow,
  axisTransfer,
  closedForm,
  recursion,
} from '../../../src/analysis/receptive_field.js';
import { pair } from '../format.js';
import { analyse } from '../lab.js';
import { hrefOf, Link } from '../router.js';
import { type Concept, LayerLink, Verdict } from './kit.js';

const MODEL = 'vgg16';
const LAYER = 'features.30';

/** The windows on the path from the input to `layer` along H: VGG is a chain, so the path is the node order. */
function path(model: string, layer: string) {
  const a = analyse(model);
  const steps: { name: string; op: string; window: AxisWindow }[] = [];
  for (const n of a.resolved.nodes) {
    if (n.node.op === 'input') continue;
    const t = axisTransfer(n.def.spatial(n.ctx as never), 0, n.ctx.inputs[0]![2]!);
    if (t.kind === 'window') steps.push({ name: n.node.name, op: n.node.op, window: t.window });
    if (n.node.name === layer) break;
  }
  return { a, steps };
}

type Step = ReturnType<typeof path>['steps'][number];

/** Each layer of the path with the closed form's term and both formulas over the layers before and after. */
function pathRows(steps: readonly Step[]) {
  const w = steps.map((s) => s.window);
  let before = 1;
  return steps.map((s, l) => {
    const jump = before;
    before *= s.window.stride;
    return {
      ...s,
      jump,
      term: (s.window.kernel - 1) * jump,
      forward: closedForm(w.slice(0, l + 1)),
      backward: recursion(w.slice(l)),
    };
  });
}

type PathRow = ReturnType<typeof pathRows>[number];

function PathTable({ rows }: { rows: readonly PathRow[] }) {
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>l</th>
            <th>layer</th>
            <th className="num">k</th>
            <th className="num">s</th>
            <th className="num">p</th>
            <th className="num" title="product of the strides before this layer">
              Π s before
            </th>
            <th className="num" title="closed-form term (k - 1) x product of earlier strides">
              (k−1)·Π
            </th>
            <th className="num" title="closed form over layers 1..l: the field of this layer's output">
              r (1…l)
            </th>
            <th className="num" title="recursion over layers l..L, in units of layer l's input">
              r (l…L)
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, l) => (
            <tr key={r.name}>
              <td className="num">{l + 1}</td>
              <td>
                <code>{r.name}</code> <span className="muted">{r.op}</span>
              </td>
              <td className="num">{r.window.kernel}</td>
              <td className="num">{r.window.stride}</td>
              <td className="num">{r.window.padding}</td>
              <td className="num">{r.jump}</td>
              <td className="num">{r.term}</td>
              <td className="num">{r.forward.size}</td>
              <td className="num">{r.backward.size}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** What each formula gives, beside the formula. */
function FormulaPanels({
  rec,
  closed,
}: {
  rec: ReturnType<typeof recursion>;
  closed: ReturnType<typeof closedForm>;
}) {
  return (
    <div className="grid2" style={{ marginTop: '1rem' }}>
      <section className="panel">
        <h3>Recursion, from the output down</h3>
        <p className="mono" style={{ fontSize: '0.85rem' }}>
          r ← s·r + (k − s), S ← s·S, P ← s·P + p
          <br />
          from r = 1, S = 1, P = 0 at {LAYER}
        </p>
        <p>
          size <strong>{rec.size}</strong>, stride <strong>{rec.stride}</strong>, padding{' '}
          <strong>{rec.padding}</strong>
        </p>
      </section>
      <section className="panel">
        <h3>Closed form, from the input up</h3>
        <p className="mono" style={{ fontSize: '0.85rem' }}>
          r = 1 + Σ_l (k_l − 1)·Π_{'{i<l}'} s_i
          <br />S = Π_l s_l, P = Σ_l p_l·Π_{'{i<l}'} s_i
        </p>
        <p>
          size <strong>{closed.size}</strong>, stride <strong>{closed.stride}</strong>, padding{' '}
          <strong>{closed.padding}</strong>
        </p>
      </section>
    </div>
  );
}

export const fieldFormulas: Concept = {
  id: 'rf-formulas',
  title: 'The receptive field, by both formulas',
  claim:
    'The field of a layer follows from kernels, strides and paddings alone, either by the recursion r_{l−1} = s_l·r_l + (k_l − s_l) from the output down, or by the closed form r = 1 + Σ_l (k_l − 1)·Π_{i<l} s_i from the input up; both give VGG-16 pool5 a 212-pixel field.',
  headline: () => {
    const { steps } = path(MODEL, LAYER);
    const w = steps.map((s) => s.window);
    return `${recursion(w).size} = ${closedForm(w).size} px at ${MODEL} ${LAYER}`;
  },
  links: [
    { model: MODEL, layer: LAYER, label: 'vgg16 features.30 (pool5)' },
    { model: MODEL, layer: 'features.16', label: 'vgg16 features.16 (pool3)' },
  ],
  Body() {
    const { a, steps } = path(MODEL, LAYER);
    const w = steps.map((s) => s.window);
    const rec = recursion(w);
    const closed = closedForm(w);
    const dag = a.fields.byName.get(LAYER)!;
    const rows = pathRows(steps);
    const agree =
      rec.size === closed.size &&
      rec.stride === closed.stride &&
      rec.padding === closed.padding &&
      rec.size === dag.size[0] &&
      rec.stride === dag.stride[0] &&
      rec.padding === dag.padding[0];
    return (
      <>
        <p>
          The path from the image to <LayerLink model={MODEL} layer={LAYER} />: every conv and pool of {MODEL}
          , read from each op's spatial facet (ReLUs keep geometry and drop out). The numbers below are along
          H; W is the same.
        </p>
        <PathTable rows={rows} />
        <FormulaPanels rec={rec} closed={closed} />
        <Verdict ok={agree && rec.size === 212}>
          Both formulas and the graph pass that runs the lab give {pair(dag.size)} pixels, stride{' '}
          {pair(dag.stride)}, padding {pair(dag.padding)}: the published figure for VGG-16 pool5 (212, 32,
          90).
        </Verdict>
        <p>
          Convolutions add (k − 1)·Π s to the field, and pooling multiplies everything after it by its stride:
          the 3×3 convs after the last pool add 2·16 = 32 pixels each, the first ones only 2. See it drawn on
          the image in the <Link href={hrefOf(`/rf/${MODEL}`, { layer: LAYER })}>receptive-field view</Link>.
        </p>
      </>
    );
  },
};
