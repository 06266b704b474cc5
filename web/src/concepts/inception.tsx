import { basicConv2d, inceptionModule } from '../../../src/blocks/inception.js';
import { conv2d } from '../../../src/ops/conv2d.js';
import { bytes, dims, metric, thousands } from '../format.js';
import { analyse } from '../lab.js';
import {
  Bars,
  blocksOfType,
  CompareTable,
  type Concept,
  fragment,
  inputOf,
  LayerLink,
  ratio,
  Verdict,
} from './kit.js';

/** GoogLeNet's inception (3a) widths, Table 1 of the paper, as the zoo model builds them. */
const WIDTHS_3A = { ch1x1: 64, ch3x3red: 96, ch3x3: 128, ch5x5red: 16, ch5x5: 32, poolProj: 32 };

function reduction() {
  const input = inputOf(analyse('googlenet'), 'inception3a.branch3.0.conv');
  const [c] = input;
  const { ch5x5red: red, ch5x5: out } = WIDTHS_3A;
  const direct = fragment('5x5 on all channels', input, (x) =>
    basicConv2d(x, 'conv5x5', { out, kernel: 5, padding: 2 }),
  );
  const reduced = fragment('1x1 reduction, then 5x5', input, (x) =>
    basicConv2d(basicConv2d(x, 'reduce', { out: red, kernel: 1 }), 'conv5x5', { out, kernel: 5, padding: 2 }),
  );
  // The whole module, with the paper's 5x5 (torchvision's GoogLeNet uses 3x3 there).
  const module = fragment('inception (3a)', input, (x) =>
    inceptionModule(x, 'inception3a', { ...WIDTHS_3A, kernel5x5: 5 }),
  );
  return { input, c, red, out, direct, reduced, module };
}

export const inceptionReduction: Concept = {
  id: 'inception-1x1',
  title: '1×1 reductions in Inception',
  claim:
    'A 1×1 convolution that first shrinks the channels makes the expensive 5×5 branch of an Inception module an order of magnitude cheaper, with the same output and receptive field.',
  headline: () => {
    const r = reduction();
    return `${ratio(r.reduced.summary.totals.macs, r.direct.summary.totals.macs)} the MACs of the direct 5×5`;
  },
  links: [
    { model: 'googlenet', layer: 'inception3a.branch3', label: "googlenet's inception (3a) 5×5 branch" },
    {
      model: 'inception_3a_naive',
      layer: 'inception3a.branch3.conv',
      label: 'the module without reductions (example)',
    },
  ],
  Body() {
    const r = reduction();
    const d = r.direct.summary.totals;
    const s = r.reduced.summary.totals;
    return (
      <>
        <p>
          Inception (3a) of GoogLeNet reads a {dims([1, ...r.input])} map (
          <LayerLink model="googlenet" layer="inception3a" />
          ). Its 5×5 branch produces {r.out} channels. Built here with convlab's own <code>basicConv2d</code>{' '}
          block at that size:
        </p>
        <CompareTable
          rows={[
            {
              label: `5×5 conv, ${r.c} → ${r.out}`,
              params: d.params,
              macs: d.macs,
              rf: r.direct.field,
              output: r.direct.output,
            },
            {
              label: `1×1 ${r.c} → ${r.red}, then 5×5 ${r.red} → ${r.out}`,
              params: s.params,
              macs: s.macs,
              rf: r.reduced.field,
              output: r.reduced.output,
            },
          ]}
        />
        <Verdict ok={s.macs < d.macs / 5}>
          The reduction cuts the branch from {metric(d.macs)} to {metric(s.macs)} MACs (
          {ratio(s.macs, d.macs)}) with the same {dims(r.reduced.output)} output and the same{' '}
          {r.reduced.field.size[0]}-pixel receptive field.
        </Verdict>
        <p>
          Over the whole module (1×1, 3×3, 5×5 and pool branches, the paper's Table 1 widths) the reductions
          are why GoogLeNet could afford nine of these: the module with reductions costs{' '}
          {metric(r.module.summary.totals.macs)} MACs and {thousands(r.module.summary.totals.params)}{' '}
          parameters. The version without them is the{' '}
          <LayerLink model="inception_3a_naive" layer="inception3a.cat">
            inception_3a_naive example
          </LayerLink>
          : {metric(analyse('inception_3a_naive').summary.totals.macs)} MACs, and it passes all {r.c} pool
          channels on, so the next module would read{' '}
          {analyse('inception_3a_naive').summary.outputs[0]!.shape[1]} channels instead of{' '}
          {r.module.output[1]}.
        </p>
        <p className="muted">
          torchvision's GoogLeNet builds this branch with a 3×3 kernel (pytorch/vision#906), and convlab's zoo
          model follows it so that its weights load; the comparison above uses the paper's 5×5.
        </p>
      </>
    );
  },
};

function factorised() {
  const a = analyse('inception_v3');
  const [, h, w] = inputOf(a, 'Mixed_5b.branch5x5_2.conv');
  const c = 64;
  const input = [c, h, w] as const;
  const conv = (k: readonly [number, number], name: string) => (x: Parameters<typeof conv2d>[0]) =>
    conv2d(
      x,
      { out: c, kernel: k, padding: [Math.floor(k[0] / 2), Math.floor(k[1] / 2)], bias: false },
      name,
    );
  return {
    h,
    w,
    c,
    variants: [
      { label: 'one 5×5', f: fragment('5x5', input, conv([5, 5], 'conv')) },
      {
        label: 'two 3×3',
        f: fragment('3x3x2', input, (x) => conv([3, 3], 'conv2')(conv([3, 3], 'conv1')(x))),
      },
      { label: 'one 3×3', f: fragment('3x3', input, conv([3, 3], 'conv')) },
      {
        label: '3×1 then 1×3',
        f: fragment('3x1+1x3', input, (x) => conv([1, 3], 'conv2')(conv([3, 1], 'conv1')(x))),
      },
    ],
  };
}

export const factorisedKernels: Concept = {
  id: 'factorised-kernels',
  title: '5×5 vs two 3×3 vs 3×1 + 1×3',
  claim:
    'Two stacked 3×3 convolutions see the same 5×5 window as one 5×5 for 18/25 of the cost; a 3×3 factorised into 3×1 and 1×3 keeps its 3×3 field for 6/9 (Inception v3).',
  headline: () => {
    const f = factorised();
    return `${ratio(f.variants[1]!.f.summary.totals.params, f.variants[0]!.f.summary.totals.params)} and ${ratio(
      f.variants[3]!.f.summary.totals.params,
      f.variants[2]!.f.summary.totals.params,
    )} the weights, same field`;
  },
  links: [
    { model: 'inception_v3', layer: 'Mixed_5b', label: 'Mixed_5b: a 5×5 branch beside a double 3×3 branch' },
    { model: 'inception_v3', layer: 'Mixed_6b', label: 'Mixed_6b: 7×7 factorised into 1×7 and 7×1' },
  ],
  Body() {
    const f = factorised();
    const v = f.variants;
    const totals = v.map((x) => x.f.summary.totals);
    return (
      <>
        <p>
          At the {f.h}×{f.w} grid of Inception v3's <LayerLink model="inception_v3" layer="Mixed_5b" /> with{' '}
          {f.c} channels in and out (no bias), each variant built and measured by convlab, receptive field by
          the Distill formulas:
        </p>
        <CompareTable
          rows={v.map((x, k) => ({
            label: x.label,
            params: totals[k]!.params,
            macs: totals[k]!.macs,
            rf: x.f.field,
          }))}
        />
        <Verdict
          ok={
            v[0]!.f.field.size[0] === v[1]!.f.field.size[0] &&
            v[2]!.f.field.size[0] === v[3]!.f.field.size[0] &&
            totals[1]!.params * 25 === totals[0]!.params * 18 &&
            totals[3]!.params * 9 === totals[2]!.params * 6
          }
        >
          Two 3×3: field {v[1]!.f.field.size[0]} like the 5×5, {thousands(totals[1]!.params)} vs{' '}
          {thousands(totals[0]!.params)} weights = 18/25. 3×1 + 1×3: field {v[3]!.f.field.size[0]} like the
          3×3, {thousands(totals[3]!.params)} vs {thousands(totals[2]!.params)} = 6/9.
        </Verdict>
        <div className="grid2">
          <section className="panel">
            <Bars title="parameters" labels={v.map((x) => x.label)} values={totals.map((t) => t.params)} />
          </section>
          <section className="panel">
            <Bars title="MACs" labels={v.map((x) => x.label)} values={totals.map((t) => t.macs)} />
          </section>
        </div>
        <p>
          The stack also puts a non-linearity between the two halves (in Inception v3, BN and ReLU), so it is
          at least as expressive for less. In the real network: the{' '}
          <LayerLink model="inception_v3" layer="Mixed_5b.branch3x3dbl_3">
            double-3×3 branch of Mixed_5b
          </LayerLink>{' '}
          stands beside its{' '}
          <LayerLink model="inception_v3" layer="Mixed_5b.branch5x5_2">
            5×5 branch
          </LayerLink>
          , and{' '}
          <LayerLink model="inception_v3" layer="Mixed_6b.branch7x7_2">
            Mixed_6b
          </LayerLink>{' '}
          factorises 7×7 into 1×7 and 7×1.
        </p>
      </>
    );
  },
};

function auxHeads() {
  const a = analyse('googlenet');
  const heads = blocksOfType('googlenet', 'InceptionAux');
  const mainOut = a.graph.outputs.find((o) => o.role === 'main')!;
  const aux = a.graph.outputs.filter((o) => o.role === 'aux');
  const headMacs = heads.map((h) => h.nodes.reduce((s, i) => s + a.resolved.nodes[i]!.macs, 0));
  return { a, heads, mainOut, aux, headMacs };
}

export const auxiliaryLosses: Concept = {
  id: 'aux-losses',
  title: "GoogLeNet's three losses",
  claim:
    'Two auxiliary classifiers on intermediate layers add their losses with weight 0.3 to the main loss during training, to push gradient into the middle of a deep network; at inference they are discarded and cost nothing.',
  headline: () => {
    const x = auxHeads();
    return `1 / ${x.aux.map((o) => o.lossWeight).join(' / ')}; ${metric(x.heads.reduce((s, h) => s + h.params, 0))} params dropped at inference`;
  },
  links: [
    { model: 'googlenet', layer: 'aux1', label: 'aux1, on inception (4a)' },
    { model: 'googlenet', layer: 'aux2', label: 'aux2, on inception (4d)' },
  ],
  Body() {
    const x = auxHeads();
    const t = x.a.summary.totals;
    const auxParams = x.heads.reduce((s, h) => s + h.params, 0);
    const weights = [x.mainOut, ...x.aux];
    return (
      <>
        <p>The graph's outputs, read from the zoo model (each output carries its role and loss weight):</p>
        <div className="table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>output</th>
                <th>role</th>
                <th className="num">loss weight</th>
                <th>reads</th>
                <th className="num">params of the head</th>
                <th className="num">MACs if it ran</th>
              </tr>
            </thead>
            <tbody>
              {weights.map((o) => {
                const head = x.heads.find((h) => o.node.startsWith(`${h.name}.`));
                const k = head ? x.heads.indexOf(head) : -1;
                const reads = head
                  ? x.a.resolved.nodes[x.a.resolved.nodes[head.nodes[0]!]!.inputs[0]!]!.node.name
                  : '';
                return (
                  <tr key={o.node}>
                    <td>
                      <LayerLink model="googlenet" layer={head ? head.name : o.node}>
                        <code>{o.node}</code>
                      </LayerLink>
                    </td>
                    <td>{o.role}</td>
                    <td className="num">{o.lossWeight}</td>
                    <td>{reads ? <code>{reads}</code> : 'the last layer'}</td>
                    <td className="num">{head ? thousands(head.params) : ''}</td>
                    <td className="num">{k >= 0 ? metric(x.headMacs[k]!) : ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <p>
          Training minimises{' '}
          <code>
            L ={' '}
            {weights
              .map(
                (o, k) => `${o.lossWeight === 1 ? '' : `${o.lossWeight}·`}L${k === 0 ? '_main' : `_aux${k}`}`,
              )
              .join(' + ')}
          </code>
          .
        </p>
        <Verdict ok={x.aux.length === 2 && x.aux.every((o) => o.lossWeight === 0.3)}>
          The heads hold {thousands(auxParams)} of GoogLeNet's {thousands(t.params)} parameters (
          {((100 * auxParams) / t.params).toFixed(0)}%), but the {metric(t.macs)} inference MACs exclude them:
          an inference pass never runs them.
        </Verdict>
        <p className="muted">
          Each head: 4×4 average pool, 1×1 conv to 128, FC 1024, dropout 0.7, FC to the classes (memory for
          one image at the head's input:{' '}
          {bytes(x.a.resolved.nodes[x.heads[0]!.nodes[0]!]!.ctx.inputs[0]!.reduce((p, d) => p * d, 4))}
          ). Inception v3 keeps one such head (<LayerLink model="inception_v3" layer="AuxLogits" />
          ).
        </p>
      </>
    );
  },
};
