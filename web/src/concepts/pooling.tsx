import { summarise } from '../../../src/analysis/summary.js';
import { withInputShape } from '../../../src/ir/graph.js';
import { resolveGraph } from '../../../src/ir/resolve.js';
import { numel } from '../../../src/ir/shape.js';
import { dims, metric, pair, thousands } from '../format.js';
import { analyse } from '../lab.js';
import { hrefOf, Link } from '../router.js';
import { type Concept, LayerLink, node, paramsOf, Verdict } from './kit.js';

const SIZES: readonly (readonly [number, number])[] = [
  [224, 224],
  [160, 288],
  [320, 320],
  [96, 96],
];

function spp() {
  const a = analyse('vgg16_spp');
  const fc = a.resolved.nodes.find((n) => n.node.name.startsWith('classifier.') && n.macs > 0)!;
  const rows = SIZES.map(([h, w]) => {
    const r = resolveGraph(withInputShape(a.graph, [3, h, w]));
    return {
      input: [3, h, w] as const,
      conv: r.byName.get('features.29')!.ctx.output,
      spp: r.byName.get('spp.concat')!.ctx.output,
      fcParams: r.byName.get(fc.node.name)!.params.reduce((s, p) => s + numel(p.shape), 0),
      params: summarise(r).totals.params,
      macs: summarise(r).totals.macs,
    };
  });
  return { a, fc: fc.node.name, rows };
}

export const sppFixedLength: Concept = {
  id: 'spp',
  title: 'Spatial pyramid pooling: one length at any input size',
  claim:
    'Max-pooling the last feature map into 4×4, 2×2 and 1×1 bins whose size scales with the map gives 21 values per channel whatever the image size, so the fully connected layers after it accept any input (He et al., SPP-net).',
  headline: () => {
    const s = spp();
    return `${thousands(s.rows[0]!.spp[1]!)} features at ${s.rows.length} input sizes`;
  },
  links: [
    { model: 'vgg16_spp', layer: 'spp', label: 'vgg16_spp: the pyramid on VGG-16' },
    { model: 'spp_head', layer: 'spp', label: 'the spp_head example' },
  ],
  Body() {
    const s = spp();
    const same = s.rows.every((r) => r.spp[1] === s.rows[0]!.spp[1] && r.params === s.rows[0]!.params);
    return (
      <>
        <p>
          <LayerLink model="vgg16_spp" layer="spp" /> resolved by convlab at several input sizes (pyramid
          levels 4, 2, 1 on 512 channels):
        </p>
        <div className="table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>input</th>
                <th>last conv map</th>
                <th>pyramid output</th>
                <th className="num">{s.fc} params</th>
                <th className="num">model params</th>
                <th className="num">MACs</th>
              </tr>
            </thead>
            <tbody>
              {s.rows.map((r) => (
                <tr key={r.input.join('x')}>
                  <td className="mono">{r.input.join('×')}</td>
                  <td className="mono">{dims(r.conv)}</td>
                  <td className="mono">{dims(r.spp)}</td>
                  <td className="num">{thousands(r.fcParams)}</td>
                  <td className="num">{thousands(r.params)}</td>
                  <td className="num">{metric(r.macs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Verdict ok={same}>
          The conv map changes with the image ({s.rows.map((r) => `${r.conv[2]}×${r.conv[3]}`).join(', ')}),
          the pyramid output is {thousands(s.rows[0]!.spp[1]!)} = 512 × (16 + 4 + 1) every time, so the same
          weights serve every size; only the conv MACs grow with the image.
        </Verdict>
        <p className="muted">
          torchvision's VGG has the same property for a single level: its{' '}
          <code>AdaptiveAvgPool2d((7, 7))</code> is a one-level pyramid. Try other sizes on the{' '}
          <Link href={hrefOf('/spec', { from: 'spp_head' })}>spp_head example</Link> in the spec editor by
          editing its <code>input</code>.
        </p>
      </>
    );
  },
};

function l2() {
  const a = analyse('maxpool_l2norm');
  const pool = a.resolved.byName.get('pool4')!;
  const norm = a.resolved.byName.get('pool4_norm')!;
  const vggConv = node('vgg16', 'features.21');
  const vggPool = analyse('vgg16').fields.byName.get('features.23')!;
  const vggConvField = analyse('vgg16').fields.byName.get('features.22')!;
  return { a, pool, norm, vggConv, vggPool, vggConvField };
}

export const maxpoolL2: Concept = {
  id: 'maxpool-l2norm',
  title: 'Max-pool, then L2 normalisation',
  claim:
    "Features from different depths have very different magnitudes. L2-normalising each position's channel vector after max pooling (with a learnable scale, ParseNet and SSD's conv4_3 with scale 20) puts them on one scale for a few hundred parameters and no MACs.",
  headline: () => {
    const x = l2();
    return `${thousands(paramsOf('maxpool_l2norm', 'pool4_norm'))} params, ${x.norm.macs} MACs`;
  },
  links: [
    { model: 'maxpool_l2norm', layer: 'pool4_norm', label: 'the maxpool_l2norm example (SSD300 sizes)' },
    { model: 'vgg16', layer: 'features.23', label: "vgg16's pool4, which the example normalises" },
  ],
  Body() {
    const x = l2();
    const f = x.a.fields.byName;
    const poolField = f.get('pool4')!;
    const normField = f.get('pool4_norm')!;
    const scale = x.norm.node.attrs['scaleInit'] as number;
    const channels = x.norm.ctx.output[1]!;
    const positions = x.norm.ctx.output[2]! * x.norm.ctx.output[3]!;
    const t = summarise(x.a.resolved).totals;
    return (
      <>
        <p>
          The{' '}
          <LayerLink model="maxpool_l2norm" layer="pool4_norm">
            maxpool_l2norm example
          </LayerLink>{' '}
          takes VGG-16's conv4_3 at SSD300's 38×38 ({dims(x.pool.ctx.inputs[0]!)} → 2×2 max pool →{' '}
          {dims(x.pool.ctx.output)}) and normalises it: y = γ · x / ‖x‖ over the {channels} channels at each
          of the {positions} positions, γ initialised to {scale}.
        </p>
        <div className="table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>layer</th>
                <th>output</th>
                <th className="num">params</th>
                <th className="num">MACs</th>
                <th className="num">FLOPs</th>
                <th className="num">receptive field</th>
              </tr>
            </thead>
            <tbody>
              {[x.pool, x.norm].map((n) => (
                <tr key={n.node.name}>
                  <td>
                    <LayerLink model="maxpool_l2norm" layer={n.node.name}>
                      <code>{n.node.name}</code>
                    </LayerLink>{' '}
                    <span className="muted">{n.node.op}</span>
                  </td>
                  <td className="mono">{dims(n.ctx.output)}</td>
                  <td className="num">{thousands(paramsOf('maxpool_l2norm', n.node.name))}</td>
                  <td className="num">{thousands(n.macs)}</td>
                  <td className="num">{thousands(n.flops)}</td>
                  <td className="num">{pair(f.get(n.node.name)!.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Verdict
          ok={
            x.norm.macs === 0 &&
            normField.size[0] === poolField.size[0] &&
            paramsOf('maxpool_l2norm', 'pool4_norm') === channels
          }
        >
          The normalisation adds {channels} parameters (one scale per channel, of the example's{' '}
          {thousands(t.params)}), no MACs and {thousands(x.norm.flops)} FLOPs, and leaves the field where the
          pool put it ({pair(poolField.size)} in the example's own input; the pool grows it, the norm cannot:
          it works at one position).
        </Verdict>
        <p>
          In the full VGG-16 the same pool (<LayerLink model="vgg16" layer="features.23" />) takes the field
          from {pair(x.vggConvField.size)} to {pair(x.vggPool.size)} pixels of the image, with effective
          stride {pair(x.vggPool.stride)}. Its features are much larger in norm than those of deeper layers,
          which is why SSD normalises only this one before predicting boxes from it.
        </p>
      </>
    );
  },
};
