import { basicBlock } from '../../../src/blocks/residual.js';
import { conv2d } from '../../../src/ops/conv2d.js';
import { dims, metric, percent, thousands } from '../format.js';
import { analyse } from '../lab.js';
import {
  Bars,
  block,
  blocksOfType,
  CompareTable,
  type Concept,
  fragment,
  inputOf,
  LayerLink,
  node,
  paramsOf,
  ratio,
  Verdict,
} from './kit.js';

function bottleneckVsBasic() {
  const basic = block('resnet34', 'layer1.0');
  const bottle = block('resnet50', 'layer1.1');
  const wide = inputOf(analyse('resnet50'), 'layer1.1.conv1');
  // What a basic block would cost at the bottleneck's 256 channels: the width the bottleneck carries.
  const basicWide = fragment('basic block at 256 channels', wide, (x) =>
    basicBlock(x, 'block', { planes: wide[0], stride: 1, shortcut: 'projection' }),
  );
  return { basic, bottle, wide, basicWide };
}

export const bottleneckBlock: Concept = {
  id: 'bottleneck',
  title: 'Bottleneck vs basic block',
  claim:
    "ResNet-50's bottleneck (1×1 down to 64, 3×3, 1×1 back up to 256) carries four times the channels of ResNet-34's basic block for fewer parameters and MACs; a basic block at 256 channels would cost over ten times more.",
  headline: () => {
    const b = bottleneckVsBasic();
    return `4× the channels for ${ratio(b.bottle.params, b.basic.params)} the params`;
  },
  links: [
    { model: 'resnet50', layer: 'layer1.1', label: 'resnet50 layer1.1 (bottleneck)' },
    { model: 'resnet34', layer: 'layer1.0', label: 'resnet34 layer1.0 (basic block)' },
  ],
  Body() {
    const b = bottleneckVsBasic();
    const wide = b.basicWide.summary.totals;
    const basicOut = analyse('resnet34').resolved.nodes[b.basic.output]!.ctx.output;
    const bottleOut = analyse('resnet50').resolved.nodes[b.bottle.output]!.ctx.output;
    return (
      <>
        <p>Both blocks at the 56×56 stage, read from the zoo models (BatchNorm included):</p>
        <CompareTable
          rows={[
            {
              label: (
                <LayerLink model="resnet34" layer="layer1.0">
                  basic block (resnet34 layer1.0)
                </LayerLink>
              ),
              params: b.basic.params,
              macs: b.basic.macs,
              output: basicOut,
              note: '3×3 64 → 64, 3×3 64 → 64',
            },
            {
              label: (
                <LayerLink model="resnet50" layer="layer1.1">
                  bottleneck (resnet50 layer1.1)
                </LayerLink>
              ),
              params: b.bottle.params,
              macs: b.bottle.macs,
              output: bottleOut,
              note: '1×1 256 → 64, 3×3 64 → 64, 1×1 64 → 256',
            },
            {
              label: 'basic block at 256 channels (built here)',
              params: wide.params,
              macs: wide.macs,
              output: b.basicWide.output,
              note: '3×3 256 → 256, twice',
            },
          ]}
        />
        <Verdict ok={b.bottle.params < b.basic.params && bottleOut[1] === 4 * basicOut[1]!}>
          The bottleneck outputs {bottleOut[1]} channels against {basicOut[1]} with{' '}
          {ratio(b.bottle.params, b.basic.params)} the parameters and {ratio(b.bottle.macs, b.basic.macs)} the
          MACs; a basic block as wide would need {ratio(wide.params, b.bottle.params)} the bottleneck's
          parameters.
        </Verdict>
        <p>
          That is how ResNet-50 is deeper than ResNet-34 (three layers per block instead of two) at about the
          same cost: {metric(analyse('resnet50').summary.totals.macs)} against{' '}
          {metric(analyse('resnet34').summary.totals.macs)} MACs. The 3×3, the only layer that mixes space,
          works on the narrow 64-channel middle.
        </p>
      </>
    );
  },
};

function groups() {
  const conv = node('resnext50_32x4d', 'layer1.0.conv2');
  const g = conv.node.attrs['groups'] as number;
  const input = inputOf(analyse('resnext50_32x4d'), 'layer1.0.conv2');
  const dense = fragment('ungrouped 3x3', input, (x) =>
    conv2d(x, { out: conv.ctx.output[1]!, kernel: 3, padding: 1, bias: false }, 'conv'),
  );
  const resnet = analyse('resnet50').summary.totals;
  const resnext = analyse('resnext50_32x4d').summary.totals;
  return { conv, g, input, dense, resnet, resnext };
}

export const resnextGroups: Concept = {
  id: 'resnext-groups',
  title: "ResNeXt's 32 groups",
  claim:
    "Splitting the bottleneck's 3×3 into 32 groups divides its cost by 32; ResNeXt spends the saving on a bottleneck twice as wide, and lands at ResNet-50's budget.",
  headline: () => {
    const x = groups();
    return `3×3 at ${ratio(x.conv.macs, x.dense.summary.totals.macs)} the MACs; ${metric(x.resnext.params)} vs ${metric(x.resnet.params)} params`;
  },
  links: [
    {
      model: 'resnext50_32x4d',
      layer: 'layer1.0.conv2',
      label: 'resnext50_32x4d layer1.0.conv2 (32 groups)',
    },
    { model: 'resnet50', layer: 'layer1.0.conv2', label: 'resnet50 layer1.0.conv2' },
  ],
  Body() {
    const x = groups();
    const d = x.dense.summary.totals;
    const conv2 = node('resnet50', 'layer1.0.conv2');
    return (
      <>
        <p>
          The 3×3 of <LayerLink model="resnext50_32x4d" layer="layer1.0.conv2" /> reads{' '}
          {dims([1, ...x.input])} in {x.g} groups of {x.input[0] / x.g} channels; each group's filters see
          only their own group:
        </p>
        <CompareTable
          rows={[
            { label: 'ungrouped 3×3 (built here)', params: d.params, macs: d.macs, output: x.dense.output },
            {
              label: `${x.g} groups (resnext50_32x4d)`,
              params: paramsOf('resnext50_32x4d', 'layer1.0.conv2'),
              macs: x.conv.macs,
              output: x.conv.ctx.output,
            },
            {
              label: 'resnet50 layer1.0.conv2 (64 wide)',
              params: paramsOf('resnet50', 'layer1.0.conv2'),
              macs: conv2.macs,
              output: conv2.ctx.output,
            },
          ]}
        />
        <Verdict ok={d.macs === x.conv.macs * x.g}>
          Grouping divides the 3×3's parameters and MACs by exactly {x.g}. Over the network: resnext50_32x4d
          has {thousands(x.resnext.params)} parameters and {metric(x.resnext.macs)} MACs, resnet50{' '}
          {thousands(x.resnet.params)} and {metric(x.resnet.macs)}: the same budget, with 128-channel
          bottlenecks instead of 64 (the paper reports a better top-1 error for it: 22.2% vs 23.9%).
        </Verdict>
      </>
    );
  },
};

function se() {
  const blocks = blocksOfType('se_resnet50', 'SqueezeExcitation');
  const t = analyse('se_resnet50').summary.totals;
  const params = blocks.reduce((s, b) => s + b.params, 0);
  const macs = blocks.reduce((s, b) => s + b.macs, 0);
  const first = blocks[0]!;
  const channels = analyse('se_resnet50').resolved.nodes[first.output]!.ctx.output[1]!;
  return { blocks, t, params, macs, first, channels };
}

export const seOverhead: Concept = {
  id: 'se-overhead',
  title: "Squeeze-and-excitation's overhead",
  claim:
    'An SE block (global pool, FC to C/16, ReLU, FC to C, sigmoid, rescale) costs about 10% more parameters on ResNet-50 but well under 1% more MACs, because its FCs run on a 1×1 map.',
  headline: () => {
    const x = se();
    return `+${percent(x.params / (x.t.params - x.params))} params, +${percent(x.macs / (x.t.macs - x.macs))} MACs`;
  },
  links: [
    { model: 'se_resnet50', layer: 'layer1.0.se', label: 'se_resnet50 layer1.0.se' },
    { model: 'se_resnet50', layer: 'layer4.2.se', label: 'the last SE block (2048 channels)' },
  ],
  Body() {
    const x = se();
    const stages = ['layer1', 'layer2', 'layer3', 'layer4'];
    const perStage = stages.map((s) => x.blocks.filter((b) => b.name.startsWith(`${s}.`)));
    const c = x.channels;
    const expected = 2 * c * Math.floor(c / 16) + Math.floor(c / 16) + c;
    return (
      <>
        <p>
          Summed over the {x.blocks.length} <code>SqueezeExcitation</code> blocks of{' '}
          <LayerLink model="se_resnet50" layer="layer1.0.se">
            se_resnet50
          </LayerLink>
          :
        </p>
        <div className="stats">
          <div className="stat">
            <span className="k">SE parameters</span>
            <span className="v">{thousands(x.params)}</span>
            <span className="s">
              of {thousands(x.t.params)} ({percent(x.params / x.t.params)})
            </span>
          </div>
          <div className="stat">
            <span className="k">SE MACs</span>
            <span className="v">{thousands(x.macs)}</span>
            <span className="s">
              of {metric(x.t.macs)} ({percent(x.macs / x.t.macs)})
            </span>
          </div>
          <div className="stat">
            <span className="k">layer1.0.se</span>
            <span className="v">{thousands(x.first.params)}</span>
            <span className="s">
              2·C·C/16 + C/16 + C at C = {c}: {thousands(expected)}
            </span>
          </div>
        </div>
        <Verdict ok={x.first.params === expected && x.macs / x.t.macs < 0.01}>
          SE adds {percent(x.params / (x.t.params - x.params))} parameters but{' '}
          {percent(x.macs / (x.t.macs - x.macs))} MACs: each FC multiplies a C-vector once per image, while a
          conv of the same weights would run at every position.
        </Verdict>
        <div className="grid2">
          <section className="panel">
            <Bars
              title="SE parameters per stage"
              labels={stages}
              values={perStage.map((b) => b.reduce((s, y) => s + y.params, 0))}
            />
          </section>
          <section className="panel">
            <Bars
              title="SE MACs per stage"
              labels={stages}
              values={perStage.map((b) => b.reduce((s, y) => s + y.macs, 0))}
            />
          </section>
        </div>
        <p className="muted">
          The parameters concentrate in layer4, where C = 2048. (se_resnet50 strides in the first 1×1 of a
          block, as the SENet paper's ResNet does, so its total MACs are not torchvision's resnet50's.)
        </p>
      </>
    );
  },
};
