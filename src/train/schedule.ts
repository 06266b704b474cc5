import { ConvlabError } from '../ir/errors.js';

/**
 * Learning-rate schedules, evaluated per step (the optimiser's `lr` is a graph input, so the rate
 * may change every step at no cost).
 *
 * - constant: the base rate throughout.
 * - step: the base rate divided by 10 at 50% and again at 75% of the steps: the CIFAR schedule of
 *   the ResNet paper (He et al. 2015, section 4.2: 0.1, divided by 10 at 32k and 48k of 64k
 *   iterations).
 * - cosine: SGDR's annealing without restarts (Loshchilov and Hutter 2017), from the base rate to
 *   0 over the steps after the warm-up: lr * (1 + cos(pi * t / T)) / 2.
 * - cosine-restart: SGDR with one warm restart at half way (T_0 = half the steps, T_mult = 1): the
 *   first half is, step for step, the cosine schedule of a run half as long (warm-up included), the
 *   second half anneals again from the base rate. A run's first half is then a complete run of half
 *   its budget, which experiments read as their half-budget check.
 *
 * Linear warm-up (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): over the first W steps the
 * rate rises linearly, lr * (s + 1) / W at 0-based step s, so the very first step already moves.
 */

export const SCHEDULES = ['cosine', 'step', 'constant', 'cosine-restart'] as const;
export type ScheduleKind = (typeof SCHEDULES)[number];

export interface Schedule {
  readonly kind: ScheduleKind;
  /** The base (peak) learning rate. */
  readonly lr: number;
  /** Steps of the whole run. */
  readonly totalSteps: number;
  /** Steps of linear warm-up at the start, less than totalSteps (0 for none). */
  readonly warmupSteps: number;
}

/** The step schedule's decays, as fractions of the run, and their factor. */
export const STEP_MILESTONES = [0.5, 0.75] as const;
export const STEP_GAMMA = 0.1;

export function schedule(s: Schedule): Schedule {
  if (!SCHEDULES.includes(s.kind))
    throw new ConvlabError(`unknown schedule '${s.kind}'; schedules: ${SCHEDULES.join(', ')}`);
  if (!(s.lr > 0 && Number.isFinite(s.lr)))
    throw new ConvlabError(`the learning rate must be a positive number, got ${s.lr}`);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1)
    throw new ConvlabError(`a schedule needs at least one step, got ${s.totalSteps}`);
  const cycle = s.kind === 'cosine-restart' ? Math.floor(s.totalSteps / 2) : s.totalSteps;
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0 || s.warmupSteps >= cycle) {
    throw new ConvlabError(
      `the warm-up (${s.warmupSteps} steps) must be shorter than the ${cycle === s.totalSteps ? 'run' : 'first cycle'} (${cycle} steps)`,
    );
  }
  return s;
}

/** Cosine annealing from `lr` to 0 over `span` steps, at step `t` of them. */
const cosine = (lr: number, t: number, span: number) => (lr * (1 + Math.cos((Math.PI * t) / span))) / 2;

/** The learning rate of the 0-based step `step`. */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  switch (s.kind) {
    case 'constant':
      return s.lr;
    case 'step': {
      const decays = STEP_MILESTONES.filter((m) => step >= Math.round(m * s.totalSteps)).length;
      return s.lr * STEP_GAMMA ** decays;
    }
    case 'cosine':
      return cosine(s.lr, step - s.warmupSteps, s.totalSteps - s.warmupSteps);
    case 'cosine-restart': {
      const cycle = Math.floor(s.totalSteps / 2);
      return step < cycle
        ? cosine(s.lr, step - s.warmupSteps, cycle - s.warmupSteps)
        : cosine(s.lr, step - cycle, s.totalSteps - cycle);
    }
  }
}
