import { describe, expect, it } from 'vitest';
import { learningRate, type Schedule, schedule } from '../../src/train/schedule.js';

describe('learning-rate schedules', () => {
  const s = (over: Partial<Schedule>) =>
    schedule({ kind: 'cosine', lr: 0.1, totalSteps: 100, warmupSteps: 0, ...over });

  it('warms up linearly, then follows the schedule', () => {
    const warm = s({ warmupSteps: 10 });
    expect(learningRate(warm, 0)).toBeCloseTo(0.01, 12);
    expect(learningRate(warm, 4)).toBeCloseTo(0.05, 12);
    expect(learningRate(warm, 9)).toBeCloseTo(0.1, 12);
    expect(learningRate(warm, 10)).toBeCloseTo(0.1, 12); // cosine starts at the peak
    expect(learningRate(warm, 55)).toBeCloseTo(0.05, 12); // half way through the cosine
    expect(learningRate(warm, 99)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 89) / 90)), 12);
  });

  it('step divides by 10 at 50% and 75%; constant stays', () => {
    const step = s({ kind: 'step' });
    expect([0, 49, 50, 74, 75, 99].map((i) => learningRate(step, i))).toEqual([
      0.1,
      0.1,
      0.1 * 0.1,
      0.1 * 0.1,
      0.1 * 0.1 ** 2,
      0.1 * 0.1 ** 2,
    ]);
    const constant = s({ kind: 'constant', warmupSteps: 4 });
    expect(learningRate(constant, 1)).toBeCloseTo(0.05, 12);
    expect(learningRate(constant, 50)).toBe(0.1);
  });

  it('refuses schedules that cannot run', () => {
    expect(() => s({ lr: 0 })).toThrow(/positive/);
    expect(() => s({ warmupSteps: 100 })).toThrow(/warm-up/);
    expect(() => s({ totalSteps: 0 })).toThrow(/at least one step/);
  });
});
