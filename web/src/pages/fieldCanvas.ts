import type { NodeField } from '../../../src/analysis/receptive_field.js';
import { SERIES } from '../chart.js';

/** The drawn region of the input plane, in input pixels (it may start before the image). */
export interface FieldRegion {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** Input span [first, last] of output index `i` along one axis. */
export const span = (f: NodeField, axis: 0 | 1, i: number): [number, number] => {
  const first = i * f.stride[axis] - f.padding[axis];
  return [first, first + f.size[axis] - 1];
};

/** The image plus whatever of the field of output (i, j) and its neighbours hangs outside it. */
export function fieldRegion(f: NodeField, i: number, j: number, H: number, W: number): FieldRegion {
  const rows = [span(f, 0, i - 1), span(f, 0, i + 1), span(f, 0, i)];
  const cols = [span(f, 1, j - 1), span(f, 1, j + 1), span(f, 1, j)];
  const top = Math.min(0, ...rows.map((s) => s[0]));
  const left = Math.min(0, ...cols.map((s) => s[0]));
  const bottom = Math.max(H - 1, ...rows.map((s) => s[1]));
  const right = Math.max(W - 1, ...cols.map((s) => s[1]));
  const margin = Math.ceil(Math.max(bottom - top, right - left) * 0.03);
  return {
    top: top - margin,
    left: left - margin,
    height: bottom - top + 1 + 2 * margin,
    width: right - left + 1 + 2 * margin,
  };
}

/** What one drawing of the field needs; coordinates are input pixels once the transform is set. */
export interface FieldScene {
  readonly field: NodeField;
  readonly i: number;
  readonly j: number;
  readonly H: number;
  readonly W: number;
  readonly region: FieldRegion;
  readonly image: HTMLImageElement | null;
}

/** Draw the scene on a canvas `css` pixels across at the device's pixel ratio. */
export function drawField(c: HTMLCanvasElement, scene: FieldScene, css = 560): void {
  const { region: view } = scene;
  const ratio = window.devicePixelRatio || 1;
  const k = css / Math.max(view.width, view.height);
  c.width = Math.round(view.width * k * ratio);
  c.height = Math.round(view.height * k * ratio);
  const g = c.getContext('2d')!;
  g.setTransform(k * ratio, 0, 0, k * ratio, -view.left * k * ratio, -view.top * k * ratio);
  const px = 1 / (k * ratio); // one device pixel, in input pixels
  drawPadding(g, view, px);
  drawInput(g, scene, k * ratio, px);
  drawNeighbours(g, scene, px);
  drawChosen(g, scene, px);
  drawCentres(g, scene, px);
}

/** Zero padding outside the image, hatched. */
function drawPadding(g: CanvasRenderingContext2D, view: FieldRegion, px: number): void {
  g.fillStyle = '#eceef2';
  g.fillRect(view.left, view.top, view.width, view.height);
  g.strokeStyle = 'rgba(120, 128, 145, 0.25)';
  g.lineWidth = px;
  const step = Math.max(view.width, view.height) / 60;
  g.beginPath();
  for (let d = -view.height; d < view.width; d += step) {
    g.moveTo(view.left + d, view.top);
    g.lineTo(view.left + d + view.height, view.top + view.height);
  }
  g.stroke();
}

/** The input: the user's image resized to the input as the network sees it, or a pixel grid. */
function drawInput(
  g: CanvasRenderingContext2D,
  { image, H, W }: FieldScene,
  scale: number,
  px: number,
): void {
  if (image) g.drawImage(image, 0, 0, W, H);
  else {
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, W, H);
  }
  const gridStep = scale >= 4 ? 1 : ([2, 4, 8, 16, 32, 64].find((s) => s * scale >= 6) ?? 64);
  g.strokeStyle = image ? 'rgba(255,255,255,0.25)' : 'rgba(40, 50, 70, 0.07)';
  g.beginPath();
  for (let x = 0; x <= W; x += gridStep) {
    g.moveTo(x, 0);
    g.lineTo(x, H);
  }
  for (let y = 0; y <= H; y += gridStep) {
    g.moveTo(0, y);
    g.lineTo(W, y);
  }
  g.stroke();
  g.strokeStyle = '#5b6475';
  g.lineWidth = 1.5 * px;
  g.strokeRect(0, 0, W, H);
}

/** The rectangle [x, y, width, height] of output (oi, oj)'s field. */
function fieldRect(f: NodeField, oi: number, oj: number): [number, number, number, number] {
  const [y0, y1] = span(f, 0, oi);
  const [x0, x1] = span(f, 1, oj);
  return [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** Neighbouring fields, one output step away: they are the chosen field shifted by the effective stride. */
function drawNeighbours(g: CanvasRenderingContext2D, { field: f, i, j }: FieldScene, px: number): void {
  const [eh, ew] = f.extent!;
  g.setLineDash([6 * px, 4 * px]);
  g.lineWidth = 1.5 * px;
  g.strokeStyle = SERIES[1]!;
  for (const [di, dj] of [
    [-1, 0],
    [1, 0],
    [0, -1],
    [0, 1],
  ] as const) {
    const oi = i + di;
    const oj = j + dj;
    if (oi < 0 || oj < 0 || oi >= eh || oj >= ew) continue;
    g.strokeRect(...fieldRect(f, oi, oj));
  }
  g.setLineDash([]);
}

/** The chosen field. */
function drawChosen(g: CanvasRenderingContext2D, { field: f, i, j }: FieldScene, px: number): void {
  const [x, y, w, h] = fieldRect(f, i, j);
  g.fillStyle = 'rgba(47, 91, 211, 0.18)';
  g.fillRect(x, y, w, h);
  g.strokeStyle = SERIES[0]!;
  g.lineWidth = 2.5 * px;
  g.strokeRect(x, y, w, h);
}

/** Centres of every output position's field: the lattice of the effective stride; the chosen one large. */
function drawCentres(g: CanvasRenderingContext2D, { field: f, i, j, image }: FieldScene, px: number): void {
  const [eh, ew] = f.extent!;
  const dot = Math.max(1.6 * px, Math.min(3 * px, f.stride[0] / 5));
  g.fillStyle = image ? 'rgba(255, 255, 255, 0.9)' : 'rgba(27, 33, 48, 0.55)';
  for (let oi = 0; oi < eh; oi++) {
    for (let oj = 0; oj < ew; oj++) {
      const cy = f.centre[0] + oi * f.stride[0];
      const cx = f.centre[1] + oj * f.stride[1];
      g.beginPath();
      g.arc(cx, cy, dot, 0, Math.PI * 2);
      g.fill();
    }
  }
  const cy = f.centre[0] + i * f.stride[0];
  const cx = f.centre[1] + j * f.stride[1];
  g.fillStyle = SERIES[0]!;
  g.beginPath();
  g.arc(cx, cy, dot * 2, 0, Math.PI * 2);
  g.fill();
}
