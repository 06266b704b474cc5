import { type Summary, seedsToDecide, summarise } from './stats.js';

/**
 * The judge: per-seed numbers in, a verdict out, by a rule declared before any number is seen.
 * Pure: no training, no files, no clock; every experiment's verdict goes through it.
 *
 * A claim is split into parts. Each part is one effect measured once per seed, as a paired
 * comparison where it compares two arms (the same seed initialises both nets and orders both
 * runs' batches, so the per-seed difference cancels what the seed does to both), and a test of
 * what the claim says about it:
 * - `greater`: the effect is positive and at least `threshold` (a smallest effect of interest).
 *   Held when the 95% interval lies above `baseline` (the no-effect value) and the mean reaches the
 *   threshold; did not hold when the whole interval lies below the threshold (an effect as large
 *   as claimed is ruled out, the opposite direction included); otherwise undecided.
 * - `smaller`: the mirror image (the effect is below `baseline`, by at least as far as `threshold`).
 * - `not-greater`: the claim that the effect stays under `threshold` (non-inferiority): held when
 *   the interval lies below it, did not hold when `greater` would hold.
 * - `within`: |effect| < threshold (equivalence): held when the interval lies inside
 *   (-threshold, threshold), did not hold when it lies wholly outside, otherwise undecided.
 * - `always`: a fact checked on every seed (1 true, 0 false): held when it holds on each.
 * The claim holds when every primary part held, did not hold when any primary part did not hold,
 * and is inconclusive otherwise; secondary parts get verdicts of their own.
 *
 * An undecided part comes with the number of seeds that would decide it (`seedsToDecide`: with the
 * seeds' spread as measured, the interval that falls on one side of the boundary nearest the mean
 * with probability 0.8, if the true effect is the measured mean).
 */

export type Verdict = 'held' | 'did not hold' | 'inconclusive';

export type Test =
  | {
      readonly kind: 'greater' | 'smaller' | 'not-greater';
      readonly threshold: number;
      readonly baseline?: number;
    }
  | { readonly kind: 'within'; readonly threshold: number }
  | { readonly kind: 'always' };

/** How an effect is written: a fraction in points, a natural log ratio as a factor, log10 in decades, or as is. */
export type EffectFormat = 'points' | 'ratio' | 'decades' | 'number';

export interface Rule {
  /** The key of the effect in each seed's effects record. */
  readonly key: string;
  /** What holding means, in words ("plain56 trains worse than plain20 by at least 0.5 points"). */
  readonly claim: string;
  /** What the per-seed number is ("plain56's training error minus plain20's"). */
  readonly effect: string;
  readonly test: Test;
  readonly format: EffectFormat;
  /** Secondary parts are judged and reported but do not decide the claim (default: primary). */
  readonly secondary?: boolean;
}

/** One seed's effects by rule key: a number, or a boolean for `always`; NaN or Infinity leaves the seed out. */
export type Effects = Readonly<Record<string, number | boolean>>;

export interface PartJudgement {
  readonly rule: Rule;
  readonly values: readonly number[];
  readonly summary: Summary;
  readonly verdict: Verdict;
  /** For an undecided part: the seeds that would decide it; undefined when no number would. */
  readonly seedsNeeded?: number;
}

export interface Judgement {
  readonly parts: readonly PartJudgement[];
  readonly verdict: Verdict;
  /** Seeds that would decide every undecided primary part (their maximum); undefined if none would. */
  readonly seedsNeeded?: number;
  readonly seeds: number;
}

/** Greater-than decisions on an interval oriented so that the claim's direction is up. */
function decideGreater(s: Summary, threshold: number, baseline: number): 'up' | 'down' | 'open' {
  if (s.lo > baseline && s.mean >= threshold) return 'up';
  if (s.hi < threshold) return 'down';
  return 'open';
}

/** The distance from the mean to the boundary the next seeds would have to clear (see the file comment). */
function distanceToDecide(mean: number, threshold: number, baseline: number): number {
  return mean >= threshold ? mean - baseline : threshold - mean;
}

const flip = (s: Summary): Summary => ({ ...s, mean: -s.mean, lo: -s.hi, hi: -s.lo });

function decidePart(rule: Rule, values: readonly number[]): PartJudgement {
  const summary = summarise(values);
  const t = rule.test;
  const part = (verdict: Verdict, distance = 0): PartJudgement => {
    const needed = verdict === 'inconclusive' ? seedsToDecide(summary.sd, distance) : undefined;
    return { rule, values, summary, verdict, ...(needed !== undefined && { seedsNeeded: needed }) };
  };
  if (t.kind === 'always') return part(values.every((v) => v === 1) ? 'held' : 'did not hold');
  if (summary.n === 0) return part('inconclusive');
  if (t.kind === 'within') {
    if (summary.lo > -t.threshold && summary.hi < t.threshold) return part('held');
    if (summary.lo > t.threshold || summary.hi < -t.threshold) return part('did not hold');
    return part('inconclusive', Math.abs(t.threshold - Math.abs(summary.mean)));
  }
  const sign = t.kind === 'smaller' ? -1 : 1;
  const oriented = sign > 0 ? summary : flip(summary);
  const [threshold, baseline] = [sign * t.threshold, sign * (t.baseline ?? 0)];
  const outcome = decideGreater(oriented, threshold, baseline);
  if (outcome === 'open') return part('inconclusive', distanceToDecide(oriented.mean, threshold, baseline));
  const claimUp = t.kind !== 'not-greater';
  return part((outcome === 'up') === claimUp ? 'held' : 'did not hold');
}

/** Three-valued AND: any part that did not hold decides; otherwise any undecided part leaves it open. */
export function combine(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('did not hold')) return 'did not hold';
  return verdicts.includes('inconclusive') ? 'inconclusive' : 'held';
}

/** Judge every part of a claim over the seeds' effects (see the file comment). */
export function judge(rules: readonly Rule[], seeds: readonly Effects[]): Judgement {
  const parts = rules.map((rule) =>
    decidePart(
      rule,
      seeds.map((effects) => {
        const v = effects[rule.key];
        if (v === undefined) throw new Error(`no effect '${rule.key}' in a seed's effects`);
        return typeof v === 'boolean' ? Number(v) : v;
      }),
    ),
  );
  const primary = parts.filter((p) => !p.rule.secondary);
  const verdict = combine(primary.map((p) => p.verdict));
  const open = primary.filter((p) => p.verdict === 'inconclusive');
  const needed = open.map((p) => p.seedsNeeded);
  const seedsNeeded =
    verdict === 'inconclusive' && needed.every((n) => n !== undefined)
      ? Math.max(...(needed as number[]))
      : undefined;
  return { parts, verdict, seeds: seeds.length, ...(seedsNeeded !== undefined && { seedsNeeded }) };
}

/** More CPU time than this for one report is beyond this machine (2 cores shared with other work). */
export const MACHINE_HOURS = 24;

/**
 * The verdict a report states: the full budget's, when the half budget agrees with it. When they
 * disagree the verdict is not stable, so it is inconclusive, and the budget that would check it is
 * twice this one (whose half is this full budget). When the full budget is undecided, the budget
 * that would decide it is the seeds the power calculation asks for.
 */
export interface Settled {
  readonly verdict: Verdict;
  readonly full: Verdict;
  readonly half: Verdict;
  /** agree: full and half agree; unstable: they do not; undecided: the full budget's verdict is open. */
  readonly reason: 'agree' | 'unstable' | 'undecided';
  /** The budget that would settle an inconclusive verdict, and what it would cost on this machine. */
  readonly settle?: {
    readonly seeds?: number;
    readonly budgetFactor: number;
    readonly hours?: number;
    readonly beyondMachine: boolean;
  };
}

/**
 * Settle a claim from its full- and half-budget judgements; `secondsPerSeed` is what one seed
 * took at the full budget (its half included where the half is a run of its own).
 */
export function settle(full: Judgement, half: Judgement, secondsPerSeed: number): Settled {
  const base = { full: full.verdict, half: half.verdict };
  if (full.verdict === 'inconclusive') {
    const seeds = full.seedsNeeded;
    const hours = seeds === undefined ? undefined : (seeds * secondsPerSeed) / 3600;
    return {
      ...base,
      verdict: 'inconclusive',
      reason: 'undecided',
      settle: {
        ...(seeds !== undefined && { seeds }),
        budgetFactor: 1,
        ...(hours !== undefined && { hours }),
        beyondMachine: hours === undefined || hours > MACHINE_HOURS,
      },
    };
  }
  if (full.verdict === half.verdict) return { ...base, verdict: full.verdict, reason: 'agree' };
  // Twice the steps per seed, every seed of this run again: its half is this full budget.
  const hours = (2 * full.seeds * secondsPerSeed) / 3600;
  return {
    ...base,
    verdict: 'inconclusive',
    reason: 'unstable',
    settle: { budgetFactor: 2, hours, beyondMachine: hours > MACHINE_HOURS },
  };
}
