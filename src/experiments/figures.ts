import type { Series } from './plot.js';
import { movingAverage } from './smooth.js';
import { summarise } from './stats.js';

/**
 * The plot pieces reports share: every seed's curve of one arm as thin lines under one legend
 * entry, and a mean over seeds with its 95% interval as a band.
 */

type Points = readonly (readonly [number, number])[];

/** One arm's curve for every seed: thin lines in the arm's colour, listed once in the legend. */
export function seedCurves(
  label: string,
  colour: number,
  curves: readonly Points[],
  options: { dashed?: boolean } = {},
): Series[] {
  return curves.map((points, i) => ({
    label,
    points,
    colour,
    thin: curves.length > 1,
    markers: false,
    legend: i === 0,
    ...(options.dashed && { dashed: true }),
  }));
}

/**
 * The mean over seeds at each x, with the 95% interval of the mean as a band; `log` averages the
 * logarithms (a geometric mean and its interval), for factors and quantities spanning decades.
 * `perSeed[s][i]` is seed s's value at xs[i].
 */
export function meanWithInterval(
  label: string,
  colour: number,
  xs: readonly number[],
  perSeed: readonly (readonly number[])[],
  options: { log?: boolean; dashed?: boolean; markers?: boolean } = {},
): Series {
  const to = options.log ? Math.log : (v: number) => v;
  const from = options.log ? Math.exp : (v: number) => v;
  const summaries = xs.map((_, i) => summarise(perSeed.map((values) => to(values[i]!))));
  return {
    label,
    colour,
    points: xs.map((x, i) => [x, from(summaries[i]!.mean)] as const),
    band: xs.flatMap((x, i) => {
      const s = summaries[i]!;
      return s.n > 1 ? [[x, from(s.lo), from(s.hi)] as const] : [];
    }),
    ...(options.dashed && { dashed: true }),
    ...(options.markers !== undefined && { markers: options.markers }),
  };
}

/** The moving-average window for per-step curves: about a sixth of an epoch. */
export const smoothingWindow = (steps: number, epochs: number): number =>
  Math.max(1, Math.round(steps / (6 * epochs)));

/**
 * One arm's per-step values for every seed, each smoothed by a trailing moving average over
 * `window` steps and drawn against epochs (`perSeed[s]` is seed s's value at every step).
 */
export function smoothedSeedCurves(
  label: string,
  colour: number,
  perSeed: readonly (readonly number[])[],
  epochs: number,
  window: number,
  options: { dashed?: boolean } = {},
): Series[] {
  return seedCurves(
    label,
    colour,
    perSeed.map((values) =>
      movingAverage(values, window).map((v, i) => [((i + 1) / values.length) * epochs, v] as const),
    ),
    options,
  );
}
