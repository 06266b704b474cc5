import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'react';
import { numel } from '../../../src/ir/shape.js';
import { ChartView, SERIES } from '../chart.js';
import { binaryStep, bytes, compactBytes, times } from '../format.js';
import { analyse } from '../lab.js';
import { type MemoryReport, memoryOf } from '../memory.js';
import { hrefOf, Link } from '../router.js';
import { blocksOfType, type Concept, LayerLink, Verdict } from './kit.js';

const FLOAT = 4;

/** Per dense layer of one block: the bytes of the fresh concatenation it reads, and of the k maps it adds. */
function growth(model: string, blockName: string) {
  const a = analyse(model);
  const layers = blocksOfType(model, 'DenseLayer').filter((l) => l.parent === blockName);
  return layers.map((l, k) => {
    const cat = a.resolved.byName.get(`${l.name}.concated_features`)!;
    const out = a.resolved.nodes[l.output]!;
    return {
      layer: k + 1,
      name: l.name,
      concatBytes: numel(cat.ctx.output) * FLOAT,
      channels: cat.ctx.output[1]!,
      newBytes: numel(out.ctx.output) * FLOAT,
    };
  });
}

type Growth = ReturnType<typeof growth>;

/** Bytes of the concatenations made so far against those of the new maps, layer by layer. */
function growthChart(g: Growth): ChartConfiguration {
  let running = 0;
  const cumulative = g.map((l) => (running += l.concatBytes));
  let added = 0;
  const linear = g.map((l) => (added += l.newBytes));
  return {
    type: 'line',
    data: {
      labels: g.map((l) => String(l.layer)),
      datasets: [
        {
          label: 'concatenations made so far (naive)',
          data: cumulative,
          borderColor: SERIES[1],
          backgroundColor: SERIES[1],
          pointRadius: 2,
        },
        {
          label: 'new feature maps so far (k per layer)',
          data: linear,
          borderColor: SERIES[0],
          backgroundColor: SERIES[0],
          pointRadius: 2,
        },
      ],
    },
    options: {
      plugins: {
        legend: { position: 'bottom' },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${bytes(c.parsed.y ?? 0)}` } },
      },
      scales: {
        x: { title: { display: true, text: `dense layer of ${BLOCK}` } },
        y: {
          beginAtZero: true,
          ticks: { stepSize: binaryStep(running), callback: (v) => compactBytes(Number(v)) },
        },
      },
    },
  };
}

/** Activations and training peaks, naive and with shared buffers. */
function PeakTable({
  models,
}: {
  models: readonly { model: string; naive: MemoryReport; shared: MemoryReport }[];
}) {
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>model</th>
            <th className="num">activations (all maps)</th>
            <th className="num">peak, naive</th>
            <th className="num">peak, shared buffers</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={m.model}>
              <td>
                <Link href={`/model/${m.model}`}>{m.model}</Link>
              </td>
              <td className="num">{bytes(m.naive.bytes.activationsTotal)}</td>
              <td className="num">{bytes(m.naive.bytes.peak)}</td>
              <td className="num">{bytes(m.shared.bytes.peak)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const BLOCK = 'features.denseblock3';

export const denseGrowth: Concept = {
  id: 'dense-growth',
  title: "DenseNet's quadratic feature-map growth",
  claim:
    'Layer l of a dense block reads the concatenation of all l earlier maps, a new tensor each time. The concatenations grow linearly, so the bytes they take grow with the square of the block length, which is why a naive DenseNet needs far more memory than a ResNet of similar cost.',
  headline: () => {
    const g = growth('densenet121', BLOCK);
    const copies = g.reduce((s, l) => s + l.concatBytes, 0);
    const fresh = g.reduce((s, l) => s + l.newBytes, 0);
    return `${times(copies / fresh)} more bytes copied than computed in ${g.length} layers`;
  },
  links: [
    { model: 'densenet121', layer: BLOCK, label: 'densenet121 denseblock3 (24 layers)' },
    {
      model: 'densenet121',
      layer: `${BLOCK}.denselayer24.concated_features`,
      label: 'the 24th concatenation',
    },
  ],
  Body() {
    const g = useMemo(() => growth('densenet121', BLOCK), []);
    const total = g.reduce((s, l) => s + l.concatBytes, 0);
    const k = g[1]!.channels - g[0]!.channels;
    const c0 = g[0]!.channels;
    const L = g.length;
    const [, , h, w] = analyse('densenet121').resolved.byName.get(`${BLOCK}.denselayer1.concated_features`)!
      .ctx.output;
    // Σ_l (c0 + (l-1)k)·H·W·4 = (L·c0 + k·L(L-1)/2)·H·W·4: the closed form the measured sum must match.
    const formula = (L * c0 + (k * L * (L - 1)) / 2) * h! * w! * FLOAT;
    const config = useMemo(() => growthChart(g), [g]);
    const batch = 32;
    const mem = ['densenet121', 'resnet50'].map((m) => ({
      model: m,
      naive: memoryOf(m, { batch, mode: 'train', strategy: 'naive' }),
      shared: memoryOf(m, { batch, mode: 'train', strategy: 'shared' }),
    }));
    return (
      <>
        <p>
          In <LayerLink model="densenet121" layer={BLOCK} /> ({L} layers, growth k = {k}, {c0} channels in,{' '}
          {h}×{w}), layer l's <code>concated_features</code> has {c0} + (l−1)·{k} channels:
        </p>
        <ChartView config={config} height={280} label="bytes of concatenations against layer index" />
        <Verdict ok={total === formula}>
          The {L} concatenations hold {bytes(total)} per image, exactly (L·c₀ + k·L(L−1)/2)·H·W·4 ={' '}
          {bytes(formula)}: quadratic in L. The layers themselves add only{' '}
          {bytes(g.reduce((s, l) => s + l.newBytes, 0))} of new maps.
        </Verdict>
        <p>
          In training each concatenation is saved for backward by the batch norm that reads it, so the
          quadratic term stays alive until backward. The memory pass at batch {batch}, one training step
          (SGD):
        </p>
        <PeakTable models={mem} />
        <p>
          Pleiss et al.'s memory-efficient DenseNet writes the concatenation, BN and ReLU outputs to shared
          buffers and recomputes them in backward (the <code>shared</code> strategy). See both timelines in
          the <Link href={hrefOf('/memory', { a: 'densenet121', b: 'resnet50', batch })}>memory view</Link>.
        </p>
      </>
    );
  },
};
