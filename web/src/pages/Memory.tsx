import type { ChartConfiguration, Plugin } from 'chart.js';
import { useMemo } from 'react';
import { ChartView, SERIES } from '../chart.js';
import { BatchInput, batchFrom, ZooOptions } from '../components.js';
import { binaryStep, bytes, compactBytes, metric, times } from '../format.js';
import { findEntry } from '../lab.js';
import {
  type MemoryReport,
  type Mode,
  memoryOf,
  OPTIMIZERS,
  type Optimizer,
  STRATEGIES,
  type Strategy,
} from '../memory.js';
import { hrefOf, Link, type Route, setQuery } from '../router.js';

const STRATEGY_INFO: Readonly<Record<Strategy, string>> = {
  naive: 'every feature map lives until its last reader (forward) or until its backward step has used it',
  inplace: 'ReLU, inference BN and the add of a residual block overwrite an input that dies there',
  checkpoint: 'keep only segment boundaries (about √n segments) and recompute each segment in backward',
  shared:
    "DenseNet's memory-efficient layers: concat, BN and ReLU outputs go to shared buffers and are recomputed",
};

const STRATEGY_COLOUR: Readonly<Record<Strategy, string>> = {
  naive: SERIES[0]!,
  inplace: SERIES[2]!,
  checkpoint: SERIES[1]!,
  shared: SERIES[3]!,
};

const DEFAULT_A = 'densenet121';
const DEFAULT_B = 'resnet50';

interface MemorySettings {
  readonly a: string;
  readonly b: string | null;
  readonly batch: number;
  readonly mode: Mode;
  readonly optimizer: Optimizer;
}

/** The page's settings from its query, each falling back to its default when missing or invalid. */
function settingsOf(q: URLSearchParams): MemorySettings {
  const a = findEntry(q.get('a') ?? '')?.kind === 'zoo' ? q.get('a')! : DEFAULT_A;
  const bRaw = q.get('b');
  const b =
    bRaw === 'none'
      ? null
      : findEntry(bRaw ?? '')?.kind === 'zoo'
        ? bRaw!
        : a === DEFAULT_B
          ? DEFAULT_A
          : DEFAULT_B;
  const batch = batchFrom(q.get('batch'), 32);
  const mode: Mode = q.get('mode') === 'infer' ? 'infer' : 'train';
  const optimizer: Optimizer = OPTIMIZERS.includes(q.get('opt') as Optimizer)
    ? (q.get('opt') as Optimizer)
    : 'sgd';
  return { a, b, batch, mode, optimizer };
}

interface ModelReports {
  readonly name: string;
  readonly byStrategy: readonly MemoryReport[];
}

export function MemoryPage({ route }: { route: Route }) {
  const settings = settingsOf(route.query);
  const { a, b, batch, mode, optimizer } = settings;
  const reports = useMemo(
    () =>
      (b && b !== a ? [a, b] : [a]).map((name) => ({
        name,
        byStrategy: STRATEGIES.map((strategy) => memoryOf(name, { batch, mode, strategy, optimizer })),
      })),
    [a, b, batch, mode, optimizer],
  );

  return (
    <>
      <h1>Memory</h1>
      <p className="lede">
        Bytes alive at every step of one{' '}
        {mode === 'train' ? 'training step (forward, then backward)' : 'inference pass'} at batch {batch}, by
        liveness over the execution order: a feature map is freed after its last reader, and in training after
        the backward step that uses what was saved. The four strategies are overlaid.
        {[a, b].some((m) => m && findEntry(m)?.family === 'densenet')
          ? ' DenseNet keeps every earlier map of a block alive for the concatenations, which is why it needs far more memory than a ResNet of similar cost.'
          : ''}
      </p>
      <MemoryControls settings={settings} />
      <div className="mem-charts">
        {reports.map((r) => (
          <section className="panel" key={r.name}>
            <h2 style={{ marginTop: 0 }}>
              <Link href={`/model/${r.name}`}>{r.name}</Link>{' '}
              <span className="muted" style={{ fontWeight: 500, fontSize: '0.9rem' }}>
                peak {bytes(r.byStrategy[0]!.bytes.peak)} naive
              </span>
            </h2>
            <Timeline reports={r.byStrategy} />
          </section>
        ))}
      </div>

      <h2>Peak by strategy</h2>
      <div className="grid2">
        <section className="panel">
          <PeakChart reports={reports} />
        </section>
        <StrategyList />
      </div>

      <h2>Breakdown</h2>
      <BreakdownTable reports={reports} mode={mode} />
      <p className="footer-note">
        The same numbers as{' '}
        <code>
          convlab memory {a} --batch {batch} --mode {mode} --strategy S
          {mode === 'train' ? ` --optimizer ${optimizer}` : ''}
        </code>
        . All feature maps are float32.{' '}
        <Link href={hrefOf('/concepts/dense-growth')}>Why DenseNet grows quadratically →</Link>
      </p>
    </>
  );
}

function MemoryControls({ settings: { a, b, batch, mode, optimizer } }: { settings: MemorySettings }) {
  return (
    <div className="controls">
      <label>
        model
        <select value={a} onChange={(e) => setQuery({ a: e.target.value })}>
          <ZooOptions />
        </select>
      </label>
      <label>
        against
        <select value={b ?? 'none'} onChange={(e) => setQuery({ b: e.target.value })}>
          <option value="none">(none)</option>
          <ZooOptions />
        </select>
      </label>
      <BatchInput value={batch} onChange={(value) => setQuery({ batch: batchFrom(value, 32) })} />
      <div className="field">
        mode
        <div className="segmented">
          <button type="button" aria-pressed={mode === 'train'} onClick={() => setQuery({ mode: null })}>
            training
          </button>
          <button type="button" aria-pressed={mode === 'infer'} onClick={() => setQuery({ mode: 'infer' })}>
            inference
          </button>
        </div>
      </div>
      {mode === 'train' ? (
        <label>
          optimiser
          <select
            value={optimizer}
            onChange={(e) => setQuery({ opt: e.target.value === 'sgd' ? null : e.target.value })}
          >
            {OPTIMIZERS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
      ) : null}
    </div>
  );
}

function StrategyList() {
  return (
    <section className="panel">
      <h3>Strategies</h3>
      <dl className="strategy-list">
        {STRATEGIES.map((s) => (
          <div key={s}>
            <dt style={{ color: STRATEGY_COLOUR[s], fontWeight: 650 }}>{s}</dt>
            <dd>{STRATEGY_INFO[s]}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/** One row per model and strategy: the peak and what makes it up. */
function BreakdownTable({ reports, mode }: { reports: readonly ModelReports[]; mode: Mode }) {
  return (
    <div className="table-wrap">
      <table className="data" data-testid="memory-table">
        <thead>
          <tr>
            <th>model</th>
            <th>strategy</th>
            <th className="num">peak</th>
            <th className="num">vs naive</th>
            <th className="num">activations (all maps)</th>
            {mode === 'train' ? (
              <>
                <th className="num">saved for backward</th>
                <th className="num">params + grads + optimiser</th>
                <th className="num">extra FLOPs</th>
              </>
            ) : (
              <th className="num">params</th>
            )}
            <th>notes</th>
          </tr>
        </thead>
        <tbody>
          {reports.flatMap((r) =>
            r.byStrategy.map((m) => (
              <BreakdownRow key={`${r.name}/${m.strategy}`} name={r.name} m={m} naive={r.byStrategy[0]!} />
            )),
          )}
        </tbody>
      </table>
    </div>
  );
}

function BreakdownRow({ name, m, naive }: { name: string; m: MemoryReport; naive: MemoryReport }) {
  return (
    <tr>
      <td>{m.strategy === 'naive' ? <strong>{name}</strong> : ''}</td>
      <td style={{ color: STRATEGY_COLOUR[m.strategy], fontWeight: 600 }}>{m.strategy}</td>
      <td className="num">{bytes(m.bytes.peak)}</td>
      <td className="num">
        {m.strategy === 'naive' ? '' : times(m.bytes.peak / naive.bytes.peak).replace('×', '')}
      </td>
      <td className="num">{bytes(m.bytes.activationsTotal)}</td>
      {m.mode === 'train' ? (
        <>
          <td className="num">{bytes(m.bytes.savedForBackward)}</td>
          <td className="num">{bytes(m.bytes.params + m.bytes.grads + m.bytes.optimizer)}</td>
          <td className="num">{m.extraFlops ? metric(m.extraFlops) : ''}</td>
        </>
      ) : (
        <td className="num">{bytes(m.bytes.params)}</td>
      )}
      <td className="notes-cell">{m.notes.join('; ')}</td>
    </tr>
  );
}

/** A vertical rule where the forward pass ends and backward begins. */
const backwardMarker = (forwardEnd: number | null): Plugin<'line'> => ({
  id: 'backward-marker',
  afterDatasetsDraw(chart) {
    if (forwardEnd === null) return;
    const x = chart.scales['x']!.getPixelForValue(forwardEnd);
    const { top, bottom } = chart.chartArea;
    const g = chart.ctx;
    g.save();
    g.strokeStyle = 'rgba(27, 33, 48, 0.35)';
    g.setLineDash([4, 4]);
    g.beginPath();
    g.moveTo(x, top);
    g.lineTo(x, bottom);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = '#5b6475';
    g.font = '11px system-ui, sans-serif';
    g.fillText('backward →', x + 6, top + 12);
    g.restore();
  },
});

function Timeline({ reports }: { reports: readonly MemoryReport[] }) {
  const config = useMemo<ChartConfiguration<'line'>>(() => {
    const naive = reports[0]!;
    const forwardEnd =
      naive.mode === 'train' ? (naive.timeline.find((t) => t.phase === 'backward')?.step ?? null) : null;
    return {
      type: 'line',
      data: {
        // Naive is drawn underneath and wider, so a strategy that changes nothing shows as a line inside it.
        datasets: reports.map((r, k) => ({
          label: `${r.strategy} (peak ${compactBytes(r.bytes.peak)})`,
          data: r.timeline.map((t) => ({ x: t.step, y: t.liveBytes })),
          borderColor: STRATEGY_COLOUR[r.strategy],
          backgroundColor: STRATEGY_COLOUR[r.strategy],
          borderWidth: r.strategy === 'naive' ? 4 : 1.6,
          order: r.strategy === 'naive' ? reports.length : k,
          pointRadius: 0,
          tension: 0,
        })),
      },
      options: {
        parsing: false,
        normalized: true,
        animation: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          legend: {
            position: 'bottom',
            labels: { sort: (x, y) => (x.datasetIndex ?? 0) - (y.datasetIndex ?? 0) },
          },
          tooltip: {
            callbacks: {
              title: (items) => {
                const it = items[0];
                if (!it) return '';
                const t = reports[it.datasetIndex]!.timeline[it.dataIndex]!;
                return `step ${t.step} · ${t.phase} · ${t.node}`;
              },
              label: (c) => `${reports[c.datasetIndex]!.strategy}: ${bytes(c.parsed.y ?? 0)}`,
            },
          },
        },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 } },
          y: {
            beginAtZero: true,
            title: { display: true, text: 'live bytes' },
            ticks: {
              stepSize: binaryStep(Math.max(...reports.map((r) => r.bytes.peak))),
              callback: (v) => compactBytes(Number(v)),
            },
          },
        },
      },
      plugins: [backwardMarker(forwardEnd)],
    };
  }, [reports]);
  const r = reports[0]!;
  return (
    <ChartView
      config={config as unknown as ChartConfiguration}
      height={320}
      label={`live bytes per step of ${r.model}, batch ${r.batch}, ${r.mode}, for each strategy`}
      testId="memory-chart"
    />
  );
}

function PeakChart({ reports }: { reports: readonly ModelReports[] }) {
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: [...STRATEGIES],
        datasets: reports.map((r, k) => ({
          label: r.name,
          data: r.byStrategy.map((m) => m.bytes.peak),
          backgroundColor: k === 0 ? '#2f5bd3' : '#9aa8d6',
          borderRadius: 3,
        })),
      },
      options: {
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${bytes(c.parsed.y ?? 0)}` } },
        },
        scales: {
          y: {
            beginAtZero: true,
            ticks: {
              stepSize: binaryStep(
                Math.max(...reports.flatMap((r) => r.byStrategy.map((m) => m.bytes.peak))),
              ),
              callback: (v) => compactBytes(Number(v)),
            },
          },
        },
      },
    }),
    [reports],
  );
  return <ChartView config={config} height={260} label="peak bytes by strategy" testId="memory-peaks" />;
}
