import { useEffect, useState } from 'react';
import { separableConv2d } from '../../../src/blocks/separable.js';
import type { OnnxAttr, OnnxWriter } from '../../../src/ir/op.js';
import type { Shape } from '../../../src/ir/shape.js';
import { ChannelShuffle } from '../../../src/ops/channel_shuffle.js';
import { conv2d } from '../../../src/ops/conv2d.js';
import { SERIES } from '../chart.js';
import { dims, metric, thousands } from '../format.js';
import { analyse } from '../lab.js';
import { CompareTable, type Concept, fragment, inputOf, LayerLink, node, ratio, Verdict } from './kit.js';

const SEPARABLE = 'entry_flow.block2.sepconv1';

function separable() {
  const input = inputOf(analyse('xception'), `${SEPARABLE}.depthwise`);
  const out = node('xception', `${SEPARABLE}.pointwise`).ctx.output[1]!;
  const standard = fragment('standard 3x3', input, (x) =>
    conv2d(x, { out, kernel: 3, padding: 1, bias: false }, 'conv'),
  );
  const sep = fragment('separable 3x3', input, (x) => separableConv2d(x, 'sepconv', { out, kernel: 3 }));
  return { input, out, standard, sep };
}

export const depthwiseSeparable: Concept = {
  id: 'separable',
  title: 'Depthwise-separable vs standard convolution',
  claim:
    'A depthwise k×k (one filter per channel) followed by a 1×1 pointwise conv costs 1/N + 1/k² of a standard k×k with N output channels, with the same output shape and receptive field (Xception, MobileNet).',
  headline: () => {
    const s = separable();
    return `${ratio(s.sep.summary.totals.macs, s.standard.summary.totals.macs)} the MACs of a standard 3×3`;
  },
  links: [
    { model: 'xception', layer: SEPARABLE, label: "xception's entry flow, block 2" },
    { model: 'mobilenet_v2', layer: 'features.3.conv.1', label: "mobilenet_v2's depthwise 3×3" },
  ],
  Body() {
    const s = separable();
    const a = s.standard.summary.totals;
    const b = s.sep.summary.totals;
    const predicted = 1 / s.out + 1 / 9;
    return (
      <>
        <p>
          At the size of <LayerLink model="xception" layer={SEPARABLE} /> ({dims([1, ...s.input])} → {s.out}{' '}
          channels):
        </p>
        <CompareTable
          rows={[
            {
              label: 'standard 3×3 (built here)',
              params: a.params,
              macs: a.macs,
              rf: s.standard.field,
              output: s.standard.output,
            },
            {
              label: 'depthwise 3×3 + pointwise 1×1',
              params: b.params,
              macs: b.macs,
              rf: s.sep.field,
              output: s.sep.output,
            },
          ]}
        />
        <Verdict
          ok={
            Math.abs(b.macs / a.macs - predicted) < 1e-9 && s.sep.field.size[0] === s.standard.field.size[0]
          }
        >
          {thousands(b.macs)} / {thousands(a.macs)} = {(b.macs / a.macs).toFixed(4)}, exactly 1/{s.out} + 1/9
          = {predicted.toFixed(4)}: {ratio(b.macs, a.macs)} the cost, same {s.sep.field.size[0]}×
          {s.sep.field.size[0]} field, same output.
        </Verdict>
        <p>
          The depthwise part looks at space one channel at a time (
          {thousands(node('xception', `${SEPARABLE}.depthwise`).macs)} MACs); the pointwise part mixes
          channels at one position ({metric(node('xception', `${SEPARABLE}.pointwise`).macs)} MACs).
          Xception's hypothesis is that these two kinds of correlation can be learned separately; nearly all
          of its cost is in the 1×1s.
        </p>
      </>
    );
  },
};

/** A tensor of channel indices, as the ONNX ops the shuffle lowers to see it. */
interface Indices {
  shape: number[];
  data: number[];
}

/**
 * Run the channel shuffle's own ONNX lowering (its `onnx` facet) on a tensor holding channel
 * indices: the permutation shown is the op's definition, not a copy of its formula.
 */
function shufflePermutation(channels: number, groups: number): number[] {
  const input: Shape = [1, channels, 1, 1];
  const values = new Map<string, Indices>([
    ['x', { shape: [...input], data: Array.from({ length: channels }, (_, i) => i) }],
  ]);
  let fresh = 0;
  const writer: OnnxWriter = {
    mode: 'infer',
    target: {},
    constant(v) {
      const name = `c${fresh++}`;
      values.set(name, { shape: [v.length], data: [...v] });
      return name;
    },
    param() {
      throw new Error('channel shuffle has no parameters');
    },
    // An inference lowering saves nothing for backward, updates no buffer and draws nothing.
    save() {},
    update() {},
    randomSource: () => undefined,
    node(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, OnnxAttr>> = {}) {
      const x = values.get(inputs[0]!)!;
      const name = `t${fresh++}`;
      if (opType === 'Reshape') {
        const target = values.get(inputs[1]!)!.data.map((d, i) => (d === 0 ? x.shape[i]! : d));
        values.set(name, { shape: target, data: x.data });
      } else if (opType === 'Transpose') {
        const perm = (attrs['perm'] as { ints: readonly number[] }).ints;
        const shape = perm.map((p) => x.shape[p]!);
        const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
        const data: number[] = [];
        const index = shape.map(() => 0);
        for (let k = 0; k < x.data.length; k++) {
          data.push(x.data[perm.reduce((s, p, i) => s + index[i]! * strides[p]!, 0)]!);
          for (let d = shape.length - 1; d >= 0; d--) {
            if (++index[d]! < shape[d]!) break;
            index[d] = 0;
          }
        }
        values.set(name, { shape, data });
      } else throw new Error(`the shuffle demo does not interpret ONNX ${opType}`);
      return [name];
    },
  };
  const ctx = { attrs: { groups }, inputs: [input], output: input };
  const out = ChannelShuffle.onnx(ctx, writer, ['x']);
  return values.get(out)!.data;
}

/** How many channels each group of the next grouped conv reads from each group before the shuffle. */
function mixing(order: readonly number[], groups: number): number[][] {
  const per = order.length / groups;
  const m = Array.from({ length: groups }, () => Array.from({ length: groups }, () => 0));
  order.forEach((source, position) => {
    m[Math.floor(position / per)]![Math.floor(source / per)]! += 1;
  });
  return m;
}

const SHUFFLE = 'stage2.1.shuffle';

function ShuffleStrip({
  order,
  groups,
  label,
  animate,
}: {
  order: readonly number[];
  groups: number;
  label: boolean;
  animate: boolean;
}) {
  const [shuffled, setShuffled] = useState(false);
  useEffect(() => {
    if (!animate) return;
    const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (reduce) return;
    const t = setInterval(() => setShuffled((s) => !s), 1800);
    return () => clearInterval(t);
  }, [animate]);
  const per = order.length / groups;
  const where = new Map(order.map((source, position) => [source, position]));
  const width = 100 / order.length;
  return (
    <div className="shuffle">
      <div className="shuffle-caption">
        {animate ? (shuffled ? 'after the shuffle' : 'before the shuffle') : ''}{' '}
        {animate ? (
          <button
            type="button"
            onClick={() => setShuffled((s) => !s)}
            style={{ minHeight: 0, padding: '0 0.5rem', fontSize: '0.78rem' }}
          >
            {shuffled ? 'unshuffle' : 'shuffle'}
          </button>
        ) : null}
      </div>
      <div
        className="shuffle-row"
        role="img"
        aria-label={`channel order ${shuffled || !animate ? 'after' : 'before'} the shuffle`}
      >
        {[...order]
          .sort((x, y) => x - y)
          .map((c) => {
            const position = shuffled || !animate ? where.get(c)! : c;
            return (
              <div
                key={c}
                className="ch"
                style={{
                  left: `calc(${position * width}% + 1px)`,
                  width: `calc(${width}% - 2px)`,
                  background: SERIES[Math.floor(c / per) % SERIES.length],
                }}
              >
                {label ? c : ''}
              </div>
            );
          })}
      </div>
    </div>
  );
}

export const channelShuffle: Concept = {
  id: 'channel-shuffle',
  title: 'Channel shuffle',
  claim:
    "Stacked grouped convolutions never let information cross groups. ShuffleNet's channel shuffle interleaves the channels so every group of the next grouped conv reads from every group of the previous one, for no FLOPs.",
  headline: () => {
    const n = node('shufflenet_v1_g3', SHUFFLE);
    const g = n.node.attrs['groups'] as number;
    return `${g} groups mixed for ${n.flops} FLOPs`;
  },
  links: [
    { model: 'shufflenet_v1_g3', layer: SHUFFLE, label: 'shufflenet_v1_g3 stage2.1.shuffle' },
    {
      model: 'shufflenet_v2_x1_0',
      layer: 'stage2.1.channel_shuffle',
      label: 'ShuffleNet v2: shuffle after the concat',
    },
  ],
  Body() {
    const n = node('shufflenet_v1_g3', SHUFFLE);
    const g = n.node.attrs['groups'] as number;
    const c = n.ctx.output[1]!;
    const order = shufflePermutation(c, g);
    const small = shufflePermutation(4 * g, g);
    const identity = Array.from({ length: c }, (_, i) => i);
    const before = mixing(identity, g);
    const after = mixing(order, g);
    const everyGroup = after.every((row) => row.every((k) => k > 0));
    return (
      <>
        <p>
          Colour = the group a channel came from. The order is computed by running the op's own ONNX lowering
          (Reshape to [g, C/g], Transpose, Reshape back) on channel indices. {4 * g} channels in {g} groups:
        </p>
        <ShuffleStrip order={small} groups={g} label animate />
        <p>
          The real layer, <LayerLink model="shufflenet_v1_g3" layer={SHUFFLE} />: {c} channels, {g} groups, on
          a {dims(n.ctx.output)} map:
        </p>
        <ShuffleStrip order={order} groups={g} label={false} animate={false} />
        <div className="grid2" style={{ marginTop: '1rem' }}>
          <MixTable title="without the shuffle" m={before} />
          <MixTable title="with the shuffle" m={after} />
        </div>
        <Verdict ok={everyGroup && n.flops === 0 && n.macs === 0}>
          With the shuffle every group of the next grouped 1×1 reads channels of all {g} groups (
          {after.map((row) => row.join('/')).join(', ')}); without it, only its own. The shuffle has{' '}
          {n.params.length} parameters and {n.flops} FLOPs; it is a copy of {dims(n.ctx.output)} floats.
        </Verdict>
      </>
    );
  },
};

function MixTable({ title, m }: { title: string; m: readonly (readonly number[])[] }) {
  return (
    <section className="panel">
      <h3 style={{ marginTop: 0 }}>{title}</h3>
      <div className="table-wrap">
        <table className="data">
          <thead>
            <tr>
              <th>group of the next conv</th>
              {m.map((_, k) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: groups are positions.
                <th key={k} className="num">
                  from {k}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {m.map((row, k) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: groups are positions.
              <tr key={k}>
                <td>group {k}</td>
                {row.map((v, j) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: groups are positions.
                  <td key={j} className="num" style={{ color: v ? undefined : 'var(--faint)' }}>
                    {v}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
