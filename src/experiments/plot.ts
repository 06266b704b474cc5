/**
 * Line charts as standalone SVG, for experiment reports: no dependency, readable in any browser and
 * on GitHub. Axes get "nice" ticks (1, 2, 5 times a power of ten), a log y axis on request.
 */

export interface Series {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
  /** Draw a marker at each point (default: when the series has at most 40 points). */
  readonly markers?: boolean;
  readonly dashed?: boolean;
  /** Palette index; default: the series' place among those in the legend. */
  readonly colour?: number;
  /** List the series in the legend (default true); per-seed lines share their arm's entry. */
  readonly legend?: boolean;
  /** A thin, faint line: one seed among several. */
  readonly thin?: boolean;
  /** A shaded band (x, low, high) in the series' colour: an interval around it. */
  readonly band?: readonly (readonly [number, number, number])[];
}

export interface Chart {
  readonly title: string;
  readonly x: string;
  readonly y: string;
  readonly series: readonly Series[];
  readonly logY?: boolean;
  /** Force the y range to include these values (e.g. 0). */
  readonly includeY?: readonly number[];
  readonly width?: number;
  readonly height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** About `count` ticks covering [lo, hi] at 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(+t.toPrecision(12));
  return ticks;
}

/**
 * Ticks for a log axis from 10^lo to 10^hi: the powers of ten when it spans three or more, else
 * 1-2-5 (or 1..9) times them, else (a range narrower than about 1.3x) linear ticks.
 */
export function logTicks(lo: number, hi: number): number[] {
  const decades = niceTicks(Math.ceil(lo), Math.floor(hi)).filter(
    (e) => Number.isInteger(e) && e >= lo && e <= hi,
  );
  if (decades.length >= 3) return decades.map((e) => +(10 ** e).toPrecision(12));
  for (const mantissas of [
    [1, 2, 5],
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  ]) {
    const ticks: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of mantissas) {
        const v = +(m * 10 ** e).toPrecision(12);
        if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) ticks.push(v);
      }
    }
    if (ticks.length >= 3) return ticks;
  }
  return niceTicks(10 ** lo, 10 ** hi);
}

const format = (v: number) => {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(0);
  return String(+v.toPrecision(4));
};

/** A filled polygon from the band's low edge, left to right, back along its high edge. */
function band(
  b: readonly (readonly [number, number, number])[],
  colour: string,
  sx: (x: number) => number,
  sy: (y: number) => number,
  drawable: (p: readonly [number, number]) => boolean,
): string {
  const kept = b.filter(([x, lo, hi]) => drawable([x, lo]) && drawable([x, hi]));
  const edge = [
    ...kept.map(([x, lo]) => [x, lo] as const),
    ...[...kept].reverse().map(([x, , hi]) => [x, hi] as const),
  ];
  const d = edge.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ');
  return `<path d="${d} Z" fill="${colour}" fill-opacity="0.15" stroke="none"/>`;
}

export function lineChart(c: Chart): string {
  const width = c.width ?? 720;
  const height = c.height ?? 420;
  const margin = { left: 72, right: 190, top: 40, bottom: 56 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const points = c.series
    .flatMap((s) => [
      ...s.points,
      ...(s.band ?? []).flatMap(([x, lo, hi]) => [[x, lo] as const, [x, hi] as const]),
    ])
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.logY || y > 0));
  const ys = [...points.map(([, y]) => y), ...(c.includeY ?? [])];
  const fy = (y: number) => (c.logY ? Math.log10(Math.max(y, Number.MIN_VALUE)) : y);
  let [x0, x1] = [Math.min(...points.map(([x]) => x)), Math.max(...points.map(([x]) => x))];
  let [y0, y1] = [Math.min(...ys.map(fy)), Math.max(...ys.map(fy))];
  if (!points.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((fy(y) - y0) / (y1 - y0)) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left + plotW / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(c.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    out.push(
      `<line x1="${sx(t)}" y1="${margin.top}" x2="${sx(t)}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${margin.top + plotH + 16}" text-anchor="middle">${format(t)}</text>`,
    );
  }
  const yTicks = c.logY ? logTicks(y0, y1) : niceTicks(y0, y1);
  for (const t of yTicks) {
    const y = sy(t);
    out.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${format(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(c.x)}</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.y)}${c.logY ? ' (log scale)' : ''}</text>`,
  );
  let listed = 0;
  for (const s of c.series) {
    const place = s.legend === false ? undefined : listed++;
    const colour = COLOURS[(s.colour ?? place ?? 0) % COLOURS.length]!;
    const drawable = ([x, y]: readonly [number, number]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!c.logY || y > 0);
    if (s.band) out.push(band(s.band, colour, sx, sy, drawable));
    const finite = s.points.filter(drawable);
    const path = finite
      .map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`)
      .join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const stroke = s.thin ? 'stroke-width="0.8" stroke-opacity="0.45"' : 'stroke-width="1.8"';
    if (finite.length > 1) out.push(`<path d="${path}" fill="none" stroke="${colour}" ${stroke}${dash}/>`);
    if (s.markers ?? finite.length <= 40) {
      for (const [x, y] of finite)
        out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    if (place === undefined) continue;
    const ly = margin.top + 10 + place * 20;
    const lx = margin.left + plotW + 14;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
    );
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
