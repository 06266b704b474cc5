/**
 * The statistics every experiment shares: a figure over seeds as mean, standard deviation and a
 * Student-t 95% interval, and the number of seeds that would make such an interval decide
 * between two outcomes. Written for the small samples experiments have (3 to 20 seeds), where the
 * normal approximation's 1.96 would understate the interval (the t quantile is 4.30 at 3 seeds).
 */

/** A figure measured once per seed, summarised. */
export interface Summary {
  /** Seeds that gave a finite value (the others are left out; see `left`). */
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n - 1 in the denominator); NaN for one value. */
  readonly sd: number;
  /** The two-sided 95% interval of the mean, mean -/+ t(0.975, n - 1) sd / sqrt(n); infinite for one value. */
  readonly lo: number;
  readonly hi: number;
  /** Values left out because they were not finite (a run that diverged, say). */
  readonly left: number;
}

/** The confidence of every interval an experiment reports. */
export const LEVEL = 0.95;
/** The probability that a design of the computed size decides, as power calculations usually ask. */
export const POWER = 0.8;

export const mean = (values: readonly number[]): number => values.reduce((s, v) => s + v, 0) / values.length;

/** Sample standard deviation (NaN for fewer than two values). */
export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
}

/** Mean, standard deviation and t interval of the finite values (see `Summary`). */
export function summarise(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) {
    return { n, mean: Number.NaN, sd: Number.NaN, lo: -Infinity, hi: Infinity, left: values.length };
  }
  const m = mean(finite);
  const sd = sampleSd(finite);
  const half = n < 2 ? Infinity : tQuantile((1 + LEVEL) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean: m, sd, lo: m - half, hi: m + half, left: values.length - n };
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the incomplete beta function (modified Lentz's method). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const coefficient of [
      (m * (b - m) * x) / ((a + m2 - 1) * (a + m2)),
      (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1)),
    ]) {
      d = 1 + coefficient * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + coefficient / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast on the side of the mode; use the symmetry I_x(a,b) = 1 - I_(1-x)(b,a).
  return x < (a + 1) / (a + b + 2)
    ? (front * betaFraction(a, b, x)) / a
    : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

const quantiles = new Map<string, number>();

/** The t with P(T <= t) = p, for 0 < p < 1 (bisection on the CDF, to about 1e-12; remembered). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`a quantile needs 0 < p < 1, got ${p}`);
  if (!(df > 0)) throw new RangeError(`Student's t needs positive degrees of freedom, got ${df}`);
  if (p < 0.5) return -tQuantile(1 - p, df);
  const key = `${p}/${df}`;
  let t = quantiles.get(key);
  if (t === undefined) {
    t = bisectCdf(p, df);
    quantiles.set(key, t);
  }
  return t;
}

function bisectCdf(p: number, df: number): number {
  let [lo, hi] = [0, 1];
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Beyond this many seeds a design is not a budget but a statement that the data cannot decide. */
export const MAX_SEEDS = 100_000;

/**
 * The fewest seeds (at least 2) at which a 95% interval, centred on a true effect `distance` away
 * from a decision boundary, falls wholly on the effect's side of it with probability 0.8, given
 * the seeds' standard deviation `sd`: the smallest n with
 * (t(0.975, n - 1) + t(0.8, n - 1)) sd / sqrt(n) <= distance, the usual t-adjusted power
 * calculation for a one-sample (or paired) mean. Undefined when no number up to MAX_SEEDS would do
 * (the effect sits on the boundary, or the spread is unknown).
 */
export function seedsToDecide(sd: number, distance: number): number | undefined {
  if (!(sd >= 0) || !(distance > 0) || !Number.isFinite(distance)) return undefined;
  if (sd === 0) return 2;
  const enough = (n: number) =>
    (tQuantile((1 + LEVEL) / 2, n - 1) + tQuantile(POWER, n - 1)) * (sd / Math.sqrt(n)) <= distance;
  let hi = 2;
  while (!enough(hi)) {
    if (hi >= MAX_SEEDS) return undefined;
    hi = Math.min(2 * hi, MAX_SEEDS);
  }
  let lo = Math.max(2, Math.floor(hi / 2));
  if (enough(lo)) return lo;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (enough(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
