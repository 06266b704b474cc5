import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'react';
import { ChartView, SERIES } from '../chart.js';
import { BatchInput, batchFrom } from '../components.js';
import { binaryStep, bytes, compact, compactBytes, metric, thousands } from '../format.js';
import { useAnalyses, useProgressive } from '../hooks.js';
import { type Analysis, zooEntries } from '../lab.js';
import { memoryOf } from '../memory.js';
import { OpenOnnx } from '../model/OpenOnnx.js';
import { hrefOf, Link, type Route, setQuery } from '../router.js';

interface Row {
  readonly name: string;
  readonly family: string;
  readonly input: string;
  readonly params: number;
  readonly macs: number;
  readonly rf: number;
  readonly rfLayer: string;
  readonly activations: number;
  readonly inferPeak: number | null;
  readonly trainPeak: number | null;
}

type Key = 'name' | 'family' | 'params' | 'macs' | 'rf' | 'activations' | 'inferPeak' | 'trainPeak';

const COLUMNS: readonly { key: Key; label: string; numeric: boolean; title: string }[] = [
  { key: 'name', label: 'model', numeric: false, title: 'zoo name (torchvision where torchvision has it)' },
  { key: 'family', label: 'family', numeric: false, title: 'architecture family' },
  { key: 'params', label: 'params', numeric: true, title: 'learnable parameters, auxiliary heads included' },
  {
    key: 'macs',
    label: 'MACs',
    numeric: true,
    title: "conv + linear multiply-accumulates of one image's inference pass (torchvision's convention)",
  },
  {
    key: 'rf',
    label: 'receptive field',
    numeric: true,
    title: 'receptive field (pixels) of the last layer that is still a feature map',
  },
  {
    key: 'activations',
    label: 'activations',
    numeric: true,
    title: 'bytes of every feature map one inference pass produces, at the chosen batch',
  },
  {
    key: 'inferPeak',
    label: 'inference peak',
    numeric: true,
    title: 'most bytes alive at once in one inference pass, parameters included',
  },
  {
    key: 'trainPeak',
    label: 'training peak',
    numeric: true,
    title: 'most bytes alive at once in one training step (SGD), parameters and gradients included',
  },
];

interface Peaks {
  readonly infer: number;
  readonly train: number;
}

/** The CLI's defaults: `convlab memory NAME --batch B [--mode train]`, naive strategy, SGD. */
const peaksOf = (name: string, batch: number): Peaks => ({
  infer: memoryOf(name, { batch, mode: 'infer', strategy: 'naive' }).bytes.peak,
  train: memoryOf(name, { batch, mode: 'train', strategy: 'naive', optimizer: 'sgd' }).bytes.peak,
});

function rowOf(a: Analysis, batch: number, peaks: Peaks | undefined): Row {
  return {
    name: a.entry.name,
    family: a.entry.family,
    input: a.entry.input.join('×'),
    params: a.summary.totals.params,
    macs: a.summary.totals.macs,
    rf: Math.max(...a.lastField.size),
    rfLayer: a.lastField.name,
    activations: a.summary.totals.activationBytes * batch,
    inferPeak: peaks?.infer ?? null,
    trainPeak: peaks?.train ?? null,
  };
}

/**
 * Every zoo model's row, filled in as it comes: analyses first, then (once all are analysed) the
 * memory peaks at `batch`. `done` counts the models finished in the stage under way.
 */
function useZooRows(batch: number): { names: string[]; rows: Row[]; loading: boolean; done: number } {
  const names = useMemo(() => zooEntries.map((m) => m.name), []);
  const analyses = useAnalyses(names);
  const ready = useMemo(() => [...analyses.keys()], [analyses]);
  const peaks = useProgressive(
    ready.length === names.length ? ready : [],
    (name) => peaksOf(name, batch),
    String(batch),
  );
  const rows = useMemo(
    () => [...analyses.values()].map((a) => rowOf(a, batch, peaks.get(a.entry.name))),
    [analyses, batch, peaks],
  );
  const loading = analyses.size < names.length || peaks.size < names.length;
  return { names, rows, loading, done: analyses.size < names.length ? analyses.size : peaks.size };
}

export function ZooPage({ route }: { route: Route }) {
  const batch = batchFrom(route.query.get('batch'), 1);
  const sortKey = (route.query.get('sort') ?? 'name') as Key;
  const desc = route.query.get('dir') === 'desc';
  const filter = route.query.get('q') ?? '';
  const compare = (route.query.get('compare') ?? '').split(',').filter(Boolean);
  const { names, rows, loading, done } = useZooRows(batch);
  const visible = useMemo(
    () => filteredAndSorted(rows, filter, sortKey, desc),
    [rows, filter, sortKey, desc],
  );

  const toggle = (name: string) => {
    const next = compare.includes(name) ? compare.filter((n) => n !== name) : [...compare, name];
    setQuery({ compare: next.join(',') });
  };
  const sortBy = (key: Key) => {
    const numeric = COLUMNS.find((c) => c.key === key)!.numeric;
    const nextDesc = key === sortKey ? !desc : numeric;
    setQuery({ sort: key, dir: nextDesc ? 'desc' : 'asc' });
  };

  return (
    <>
      <h1>The zoo</h1>
      <p className="lede">
        {names.length} classic CNNs, each built from convlab's op and block library and analysed live in this
        page: the same passes as <code>convlab summary</code>, <code>rf</code> and <code>memory</code>. Click
        a model to see its graph; tick two or more to compare them.
      </p>
      <div className="controls">
        <OpenOnnx />
        <label>
          search
          <input
            type="search"
            placeholder="resnet, densenet…"
            value={filter}
            onChange={(e) => setQuery({ q: e.target.value })}
          />
        </label>
        <BatchInput
          value={batch}
          onChange={(value) => setQuery({ batch: batchFrom(value, 1) === 1 ? '' : value })}
        />
        {loading ? (
          <span className="muted">
            analysing… {done}/{names.length}
          </span>
        ) : null}
      </div>

      {compare.length > 0 ? <Compare names={compare} rows={rows} batch={batch} onRemove={toggle} /> : null}

      <ZooTable
        rows={visible}
        compare={compare}
        sortKey={sortKey}
        desc={desc}
        ready={!loading}
        onSort={sortBy}
        onToggle={toggle}
      />
      <p className="footer-note">
        Parameters count every learnable tensor as built (BatchNorm's weight and bias included, running
        statistics excluded). MACs follow torchvision's convention and never count auxiliary heads. Memory is
        float32 at batch {batch}: peaks are <code>convlab memory</code>'s defaults (naive strategy; training
        with plain SGD, so parameters, gradients and the tensors saved for backward).
      </p>
    </>
  );
}

function ZooTable({
  rows,
  compare,
  sortKey,
  desc,
  ready,
  onSort,
  onToggle,
}: {
  rows: readonly Row[];
  compare: readonly string[];
  sortKey: Key;
  desc: boolean;
  ready: boolean;
  onSort: (key: Key) => void;
  onToggle: (name: string) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="data zoo-table" data-testid="zoo-table" data-ready={ready}>
        <thead>
          <tr>
            <th className="check">
              <span className="sr-only">compare</span>
            </th>
            {COLUMNS.map((c) => (
              <th
                key={c.key}
                className={
                  [c.numeric ? 'num' : '', c.key === 'family' ? 'narrow-hide' : ''].join(' ').trim() ||
                  undefined
                }
                title={c.title}
                aria-sort={sortKey === c.key ? (desc ? 'descending' : 'ascending') : undefined}
              >
                <button type="button" className="sort" onClick={() => onSort(c.key)}>
                  {c.label}
                  <span aria-hidden="true">{sortKey === c.key ? (desc ? '▼' : '▲') : ''}</span>
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <ZooRow key={r.name} r={r} selected={compare.includes(r.name)} onToggle={onToggle} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ZooRow({ r, selected, onToggle }: { r: Row; selected: boolean; onToggle: (name: string) => void }) {
  return (
    <tr className={selected ? 'selected' : undefined}>
      <td className="check">
        <input
          type="checkbox"
          aria-label={`compare ${r.name}`}
          checked={selected}
          onChange={() => onToggle(r.name)}
        />
      </td>
      <td className="name">
        <Link href={`/model/${r.name}`}>{r.name}</Link>
      </td>
      <td className="narrow-hide">
        <span className="family">{r.family}</span>
      </td>
      <td className="num" title={`${r.params} parameters`}>
        {thousands(r.params)}
      </td>
      <td className="num" title={`${thousands(r.macs)} MACs at ${r.input}`}>
        {metric(r.macs)}
      </td>
      <td className="num" title={`at ${r.rfLayer}`}>
        <Link href={hrefOf(`/rf/${r.name}`, { layer: r.rfLayer })}>{r.rf}</Link>
      </td>
      <td className="num">{bytes(r.activations)}</td>
      <td className="num">{r.inferPeak === null ? '…' : bytes(r.inferPeak)}</td>
      <td className="num">{r.trainPeak === null ? '…' : bytes(r.trainPeak)}</td>
    </tr>
  );
}

/** The rows whose name or family contains the search text, sorted by `key`; unknown figures last. */
function filteredAndSorted(rows: readonly Row[], filter: string, key: Key, desc: boolean): Row[] {
  const q = filter.trim().toLowerCase();
  const kept = q ? rows.filter((r) => r.name.includes(q) || r.family.includes(q)) : rows;
  const sign = desc ? -1 : 1;
  return [...kept].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    if (typeof x === 'string' && typeof y === 'string') return sign * x.localeCompare(y);
    return sign * (((x as number | null) ?? -1) - ((y as number | null) ?? -1));
  });
}

interface Metric {
  readonly title: string;
  readonly value: (r: Row) => number | null;
  readonly format: (n: number) => string;
  /** Bytes: ticks at powers of two. */
  readonly binary: boolean;
}

function Compare({
  names,
  rows,
  batch,
  onRemove,
}: {
  names: readonly string[];
  rows: readonly Row[];
  batch: number;
  onRemove: (name: string) => void;
}) {
  const chosen = useMemo(
    () => names.map((n) => rows.find((r) => r.name === n)).filter((r): r is Row => r !== undefined),
    [names, rows],
  );
  const metrics = useMemo(
    (): Metric[] => [
      { title: 'Parameters', value: (r) => r.params, format: compact, binary: false },
      { title: 'MACs', value: (r) => r.macs, format: compact, binary: false },
      { title: 'Receptive field (px)', value: (r) => r.rf, format: String, binary: false },
      {
        title: `Training peak, batch ${batch}`,
        value: (r) => r.trainPeak,
        format: compactBytes,
        binary: true,
      },
    ],
    [batch],
  );
  return (
    <section className="panel" style={{ marginBottom: '1rem' }} aria-label="comparison">
      <div className="compare-bar">
        <strong>Comparing</strong>
        {chosen.map((r) => (
          <span className="chip" key={r.name}>
            {r.name}
            <button type="button" aria-label={`remove ${r.name}`} onClick={() => onRemove(r.name)}>
              ×
            </button>
          </span>
        ))}
        {chosen.length < 2 ? <span className="muted">tick one more model to compare</span> : null}
      </div>
      {chosen.length >= 2 ? (
        <div className="grid4">
          {metrics.map((m) => (
            <CompareChart key={m.title} rows={chosen} {...m} />
          ))}
        </div>
      ) : null}
    </section>
  );
}

function CompareChart({ title, rows, value, format, binary }: Metric & { rows: readonly Row[] }) {
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: rows.map((r) => r.name),
        datasets: [
          {
            label: title,
            data: rows.map((r) => value(r) ?? 0),
            backgroundColor: rows.map((_, i) => SERIES[i % SERIES.length]!),
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
        scales: {
          y: {
            beginAtZero: true,
            ticks: {
              ...(binary ? { stepSize: binaryStep(Math.max(...rows.map((r) => value(r) ?? 0)), 5) } : {}),
              callback: (v) => format(Number(v)),
            },
          },
          x: { ticks: { autoSkip: false, maxRotation: 60 } },
        },
      },
    }),
    [rows, title, value, format, binary],
  );
  return (
    <ChartView config={config} height={230} label={`${title} of ${rows.map((r) => r.name).join(', ')}`} />
  );
}
