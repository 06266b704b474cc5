import type { ChartConfiguration } from 'chart.js';
import { type DragEvent, type MouseEvent, useEffect, useMemo, useRef, useState } from 'react';
import type { NodeField } from '../../../src/analysis/receptive_field.js';
import { ChartView, SERIES } from '../chart.js';
import { Stat } from '../components.js';
import { pair } from '../format.js';
import { type Analysis, analyse, catalogue, findEntry, layerNode } from '../lab.js';
import { hrefOf, Link, navigate, type Route, setQuery } from '../router.js';
import { drawField, fieldRegion, span } from './fieldCanvas.js';

/** Layers with a field that moves with the output: what the view can draw. */
const drawable = (a: Analysis): NodeField[] =>
  a.fields.nodes.filter((f) => f.inference && f.extent !== null && !f.global && f.op !== 'input');

export function FieldPage({ route, name }: { route: Route; name: string }) {
  const entry = findEntry(name);
  if (!entry) {
    return (
      <div className="panel">
        <h1>Unknown model '{name}'</h1>
        <p>
          Try <Link href="/rf/vgg16?layer=features.30">vgg16 features.30</Link>.
        </p>
      </div>
    );
  }
  const a = analyse(name);
  const layers = drawable(a);
  const asked = route.query.get('layer');
  const resolved = asked ? layerNode(a.graph, asked) : undefined;
  const field =
    (resolved ? layers.find((f) => f.name === resolved) : undefined) ??
    (layers.includes(a.lastField) ? a.lastField : layers[layers.length - 1]);
  return (
    <>
      <h1>Receptive field</h1>
      <p className="lede">
        Which input pixels one output position of a layer can see, by Araujo, Norris and Sim (Distill, 2019):
        its size, its effective stride (how far the field moves when the output moves by one) and its
        effective padding. Click the picture to pick another output position; drop an image to see the field
        on it.
      </p>
      <FieldControls name={name} field={field} layers={layers} />
      {asked && field && field.name !== resolved ? (
        <p className="notice" data-testid="unknown-layer">
          {resolved
            ? `${asked === resolved ? asked : `${asked} (${resolved})`} sees the whole image: its field does not move with the output; showing ${field.name}.`
            : `${name} has no layer '${asked}'; showing ${field.name}.`}
        </p>
      ) : null}
      {field ? (
        <FieldView
          key={`${name}/${field.name}`}
          analysis={a}
          field={field}
          layers={layers}
          pos={route.query.get('pos')}
        />
      ) : (
        <div className="notice">{name} has no layer with a spatial field (no feature maps).</div>
      )}
    </>
  );
}

/** The model and layer pickers, and the way to the same layer in the model view. */
function FieldControls({
  name,
  field,
  layers,
}: {
  name: string;
  field: NodeField | undefined;
  layers: readonly NodeField[];
}) {
  return (
    <div className="controls">
      <label>
        model
        <select value={name} onChange={(e) => navigate(`/rf/${e.target.value}`)}>
          {catalogue.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      {field ? (
        <label>
          layer
          <select
            value={field.name}
            onChange={(e) => setQuery({ layer: e.target.value, pos: null })}
            style={{ maxWidth: '22rem' }}
          >
            {layers.map((f) => (
              <option key={f.name} value={f.name}>
                {f.name} ({pair(f.size)} px)
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {field ? (
        <Link className="button" href={hrefOf(`/model/${name}`, { layer: field.name })}>
          Show in the model view
        </Link>
      ) : null}
    </div>
  );
}

/** Output position [i, j] (row, column) from `pos=3,3`, or the centre. */
function position(f: NodeField, pos: string | null): [number, number] {
  const [h, w] = f.extent!;
  const m = pos?.match(/^(\d+),(\d+)$/);
  if (m && Number(m[1]) < h && Number(m[2]) < w) return [Number(m[1]), Number(m[2])];
  return [Math.floor((h - 1) / 2), Math.floor((w - 1) / 2)];
}

function FieldView({
  analysis,
  field: f,
  layers,
  pos,
}: {
  analysis: Analysis;
  field: NodeField;
  layers: readonly NodeField[];
  pos: string | null;
}) {
  const [H, W] = analysis.fields.input;
  const [i, j] = position(f, pos);
  const [image, setImage] = useState<HTMLImageElement | null>(null);
  const drop = useImageDrop(setImage);
  return (
    <div className="rf-layout">
      <section className="panel">
        <FieldCanvas field={f} i={i} j={j} H={H} W={W} image={image} drop={drop.handlers} />
        <FieldLegend i={i} j={j} />
        <ImageDrop image={image} onImage={setImage} drop={drop} />
      </section>
      <section>
        <FieldStats field={f} i={i} j={j} H={H} W={W} />
        <SizeChart layers={layers} chosen={f.name} model={analysis.entry.name} />
      </section>
    </div>
  );
}

/** The picture: click it to pick another output position. */
function FieldCanvas({
  field: f,
  i,
  j,
  H,
  W,
  image,
  drop,
}: {
  field: NodeField;
  i: number;
  j: number;
  H: number;
  W: number;
  image: HTMLImageElement | null;
  drop: DropHandlers;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useMemo(() => fieldRegion(f, i, j, H, W), [f, i, j, H, W]);
  useEffect(() => {
    if (canvas.current) drawField(canvas.current, { field: f, i, j, H, W, region: view, image });
  }, [f, i, j, image, view, H, W]);

  const pick = (e: MouseEvent<HTMLCanvasElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const x = view.left + ((e.clientX - box.left) / box.width) * view.width;
    const y = view.top + ((e.clientY - box.top) / box.height) * view.height;
    const [eh, ew] = f.extent!;
    const oi = Math.min(eh - 1, Math.max(0, Math.round((y - f.centre[0]) / f.stride[0])));
    const oj = Math.min(ew - 1, Math.max(0, Math.round((x - f.centre[1]) / f.stride[1])));
    setQuery({ pos: `${oi},${oj}` });
  };
  return (
    <div className="rf-canvas-wrap">
      <canvas
        ref={canvas}
        onClick={pick}
        {...drop}
        aria-label={`receptive field of ${f.name} at output position ${i},${j}`}
        data-testid="rf-canvas"
      />
    </div>
  );
}

function FieldLegend({ i, j }: { i: number; j: number }) {
  return (
    <div className="legend">
      <span
        style={{
          ['--swatch' as string]: 'rgba(47, 91, 211, 0.25)',
          ['--swatch-border' as string]: SERIES[0],
        }}
      >
        field of output ({i}, {j})
      </span>
      <span style={{ ['--swatch' as string]: '#fff', ['--swatch-border' as string]: SERIES[1] }}>
        neighbours, one output step away
      </span>
      <span style={{ ['--swatch' as string]: '#5b6475' }}>field centres (stride lattice)</span>
      <span style={{ ['--swatch' as string]: '#eceef2', ['--swatch-border' as string]: '#c9ced8' }}>
        zero padding
      </span>
    </div>
  );
}

interface DropHandlers {
  onDragOver: (e: DragEvent) => void;
  onDragLeave: () => void;
  onDrop: (e: DragEvent) => void;
}

/** Dropping an image file anywhere it is offered (the picture, the drop zone) loads it. */
function useImageDrop(onImage: (image: HTMLImageElement) => void): {
  over: boolean;
  handlers: DropHandlers;
  load: (file: File | undefined) => void;
} {
  const [over, setOver] = useState(false);
  const load = (file: File | undefined) => {
    if (!file?.type.startsWith('image/')) return;
    const img = new Image();
    img.onload = () => onImage(img);
    img.src = URL.createObjectURL(file);
  };
  const handlers: DropHandlers = {
    onDragOver: (e) => {
      e.preventDefault();
      setOver(true);
    },
    onDragLeave: () => setOver(false),
    onDrop: (e) => {
      e.preventDefault();
      setOver(false);
      load(e.dataTransfer.files[0]);
    },
  };
  return { over, handlers, load };
}

/** Where the user drops or picks an image to see the field on. */
function ImageDrop({
  image,
  onImage,
  drop,
}: {
  image: HTMLImageElement | null;
  onImage: (image: HTMLImageElement | null) => void;
  drop: ReturnType<typeof useImageDrop>;
}) {
  return (
    <section className={`drop${drop.over ? ' over' : ''}`} aria-label="your image" {...drop.handlers}>
      <label>
        Drop an image here or{' '}
        <input type="file" accept="image/*" onChange={(e) => drop.load(e.target.files?.[0])} />
      </label>
      {image ? (
        <button type="button" onClick={() => onImage(null)}>
          Remove image
        </button>
      ) : null}
    </section>
  );
}

/** What the figures of a field do not say: clipping, approximations, merges, global context. */
function fieldNotes(f: NodeField, H: number, W: number): string[] {
  return [
    f.clipped
      ? `The field (${pair(f.size)}) is larger than the ${H}×${W} input: every output sees at most the whole image, and zero padding fills the rest.`
      : '',
    f.approximate
      ? 'An adaptive pooling with unequal bins is upstream: size and stride are upper bounds.'
      : '',
    !f.aligned
      ? 'Paths with different fields merge upstream (an unaligned merge): the field shown is their union.'
      : '',
    f.context
      ? `A squeeze-and-excitation gate (${f.context}) also lets the whole image scale this map; the field shown is the spatial one.`
      : '',
  ].filter(Boolean);
}

function FieldStats({
  field: f,
  i,
  j,
  H,
  W,
}: {
  field: NodeField;
  i: number;
  j: number;
  H: number;
  W: number;
}) {
  const [y0, y1] = span(f, 0, i);
  const [x0, x1] = span(f, 1, j);
  const seen = (Math.min(y1, H - 1) - Math.max(y0, 0) + 1) * (Math.min(x1, W - 1) - Math.max(x0, 0) + 1);
  return (
    <>
      <div className="stat-grid">
        <div className="stat big" data-testid="rf-size">
          <span className="k">field size</span>
          <span className="v">{pair(f.size)}</span>
          <span className="s">
            pixels of the {H}×{W} input
          </span>
        </div>
        <Stat
          k="effective stride"
          v={pair(f.stride)}
          s="distance between neighbouring fields"
          testId="rf-stride"
        />
        <Stat
          k="effective padding"
          v={pair(f.padding)}
          s="how far the first field starts before the image"
          testId="rf-padding"
        />
        <Stat
          k={`centre of (${i}, ${j})`}
          v={`${f.centre[1] + j * f.stride[1]}, ${f.centre[0] + i * f.stride[0]}`}
          s="x, y in input pixels"
        />
        <Stat k="output map" v={`${f.extent![0]}×${f.extent![1]}`} s={`${f.op} ${f.name}`} />
        <Stat
          k="inside the image"
          v={`${Math.round((100 * seen) / (f.size[0] * f.size[1]))}%`}
          s="of this field"
        />
      </div>
      {fieldNotes(f, H, W).map((n) => (
        <p className="notice" key={n}>
          {n}
        </p>
      ))}
      <p className="muted" style={{ fontSize: '0.88rem' }}>
        Output ({i}, {j}) reads input rows {y0}…{y1} and columns {x0}…{x1}: the first row is {i} ×{' '}
        {f.stride[0]} − {f.padding[0]} = {y0}, and the field spans {f.size[0]} rows from there.
      </p>
    </>
  );
}

function SizeChart({
  layers,
  chosen,
  model,
}: {
  layers: readonly NodeField[];
  chosen: string;
  model: string;
}) {
  const config = useMemo<ChartConfiguration>(() => {
    const at = layers.findIndex((l) => l.name === chosen);
    return {
      type: 'line',
      data: {
        labels: layers.map((l) => l.name),
        datasets: [
          {
            label: 'field size (px)',
            data: layers.map((l) => Math.max(...l.size)),
            borderColor: SERIES[0],
            backgroundColor: SERIES[0],
            pointRadius: layers.map((_, k) => (k === at ? 6 : layers.length > 80 ? 0 : 2)),
            pointHoverRadius: 6,
            borderWidth: 2,
            stepped: false,
            yAxisID: 'y',
          },
          {
            label: 'effective stride',
            data: layers.map((l) => Math.max(...l.stride)),
            borderColor: SERIES[1],
            backgroundColor: SERIES[1],
            pointRadius: 0,
            borderWidth: 1.5,
            borderDash: [5, 3],
            stepped: true,
            yAxisID: 'stride',
          },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        onClick: (_e, elements) => {
          const k = elements[0]?.index;
          if (k !== undefined) setQuery({ layer: layers[k]!.name, pos: null });
        },
        plugins: {
          title: {
            display: true,
            text: `Field size per layer of ${model}`,
            align: 'start',
            font: { size: 13, weight: 'bold' },
          },
        },
        scales: {
          x: { ticks: { autoSkip: true, maxRotation: 50, font: { size: 10 } } },
          y: { beginAtZero: true, title: { display: true, text: 'field size (px)' } },
          stride: {
            type: 'linear',
            beginAtZero: true,
            position: 'right',
            grid: { drawOnChartArea: false },
            title: { display: true, text: 'effective stride' },
            ticks: { precision: 0 },
          },
        },
      },
    };
  }, [layers, chosen, model]);
  return (
    <ChartView
      config={config}
      height={300}
      label={`receptive field size per layer of ${model}`}
      testId="rf-chart"
    />
  );
}
