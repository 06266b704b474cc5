import { describe, expect, it } from 'vitest';
import { combine, judge, MACHINE_HOURS, type Rule, settle, type Test } from '../../src/experiments/judge.js';
import { seedsToDecide } from '../../src/experiments/stats.js';

const rule = (test: Test, secondary = false): Rule => ({
  key: 'e',
  claim: 'the effect as claimed',
  effect: 'a per-seed difference',
  test,
  format: 'number',
  ...(secondary && { secondary }),
});

/** The verdict of one part over the given per-seed values. */
const verdictOf = (test: Test, values: readonly number[]) =>
  judge(
    [rule(test)],
    values.map((e) => ({ e })),
  ).parts[0]!;

describe('the judge', () => {
  it('greater: held above the baseline and at the threshold, not held when the interval is under it', () => {
    const test: Test = { kind: 'greater', threshold: 0.5 };
    // Mean 1, sd 0.1 over 3 seeds: the interval is [0.75, 1.25].
    expect(verdictOf(test, [0.9, 1, 1.1]).verdict).toBe('held');
    // Mean 0.2, tight: an effect of 0.5 is ruled out, so the claim did not hold though the effect is real.
    expect(verdictOf(test, [0.19, 0.2, 0.21]).verdict).toBe('did not hold');
    // Opposite direction.
    expect(verdictOf(test, [-1.1, -1, -0.9]).verdict).toBe('did not hold');
    // Straddling zero with a wide spread: open.
    const open = verdictOf(test, [-1, 0.5, 2]);
    expect(open.verdict).toBe('inconclusive');
    // The mean (0.5) has reached the threshold, so the boundary to clear is the baseline, 0.5 away.
    expect(open.seedsNeeded).toBe(seedsToDecide(open.summary.sd, 0.5));
  });

  it('greater with the mean short of the threshold: the seeds needed to rule the threshold out', () => {
    const part = verdictOf({ kind: 'greater', threshold: 1 }, [0, 0.5, 1.3]);
    expect(part.verdict).toBe('inconclusive');
    expect(part.seedsNeeded).toBe(seedsToDecide(part.summary.sd, 1 - part.summary.mean));
  });

  it('smaller is the mirror image, with factors written as log ratios', () => {
    const test: Test = { kind: 'smaller', threshold: Math.log(1 / 1.1) };
    expect(verdictOf(test, [0.4, 0.42, 0.38].map(Math.log)).verdict).toBe('held');
    expect(verdictOf(test, [0.97, 0.99, 0.98].map(Math.log)).verdict).toBe('did not hold');
    expect(verdictOf(test, [0.5, 0.9, 1.3].map(Math.log)).verdict).toBe('inconclusive');
  });

  it('not-greater: held under the margin, not held when the effect is shown to exceed it', () => {
    const test: Test = { kind: 'not-greater', threshold: 0.5 };
    expect(verdictOf(test, [0.1, 0, -0.1]).verdict).toBe('held');
    expect(verdictOf(test, [0.9, 1, 1.1]).verdict).toBe('did not hold');
    expect(verdictOf(test, [0, 0.5, 1]).verdict).toBe('inconclusive');
  });

  it('within: equivalence inside the margin, not held wholly outside, open across it', () => {
    const test: Test = { kind: 'within', threshold: Math.log(1.1) };
    expect(verdictOf(test, [0.97, 0.99, 0.95].map(Math.log)).verdict).toBe('held');
    expect(verdictOf(test, [0.7, 0.72, 0.71].map(Math.log)).verdict).toBe('did not hold');
    const open = verdictOf(test, [0.85, 0.95, 1.05].map(Math.log));
    expect(open.verdict).toBe('inconclusive');
    expect(open.seedsNeeded).toBe(
      seedsToDecide(open.summary.sd, Math.log(1.1) - Math.abs(open.summary.mean)),
    );
  });

  it('always: a fact on every seed', () => {
    expect(judge([rule({ kind: 'always' })], [{ e: true }, { e: true }]).verdict).toBe('held');
    expect(judge([rule({ kind: 'always' })], [{ e: true }, { e: false }]).verdict).toBe('did not hold');
  });

  it('leaves out seeds whose effect is not finite, and says how many', () => {
    const part = verdictOf({ kind: 'greater', threshold: 0 }, [1, 1.1, Number.POSITIVE_INFINITY, 0.9]);
    expect(part.summary.n).toBe(3);
    expect(part.summary.left).toBe(1);
    expect(part.verdict).toBe('held');
  });

  it('combines primary parts as a three-valued AND; secondary parts do not decide', () => {
    expect(combine(['held', 'held'])).toBe('held');
    expect(combine(['held', 'inconclusive'])).toBe('inconclusive');
    expect(combine(['inconclusive', 'did not hold'])).toBe('did not hold');
    const rules: Rule[] = [
      { ...rule({ kind: 'greater', threshold: 0 }), key: 'a' },
      { ...rule({ kind: 'greater', threshold: 0 }, true), key: 'b' },
      { ...rule({ kind: 'greater', threshold: 0 }), key: 'c' },
    ];
    const seeds = [
      { a: 1, b: -1, c: -1 },
      { a: 1.1, b: -1.1, c: 2 },
      { a: 0.9, b: -0.9, c: 0.5 },
    ];
    const j = judge(rules, seeds);
    expect(j.parts.map((p) => p.verdict)).toEqual(['held', 'did not hold', 'inconclusive']);
    expect(j.verdict).toBe('inconclusive');
    expect(j.seedsNeeded).toBe(j.parts[2]!.seedsNeeded);
    expect(() => judge(rules, [{ a: 1 }])).toThrow(/no effect 'b'/);
  });
});

describe('settling full against half budget', () => {
  const held = judge([rule({ kind: 'greater', threshold: 0 })], [{ e: 1 }, { e: 1.1 }, { e: 0.9 }]);
  const open = judge([rule({ kind: 'greater', threshold: 0 })], [{ e: -1 }, { e: 2 }, { e: 0.3 }]);
  const failed = judge([rule({ kind: 'greater', threshold: 0 })], [{ e: -1 }, { e: -1.1 }, { e: -0.9 }]);

  it('states the full verdict when the half agrees', () => {
    expect(settle(held, held, 600)).toEqual({ verdict: 'held', full: 'held', half: 'held', reason: 'agree' });
    expect(settle(failed, failed, 600).verdict).toBe('did not hold');
  });

  it('is inconclusive when the half budget disagrees: twice the budget would check it', () => {
    const s = settle(held, failed, 3600);
    expect(s.verdict).toBe('inconclusive');
    expect(s.reason).toBe('unstable');
    expect(s.settle).toEqual({ budgetFactor: 2, hours: 6, beyondMachine: false });
    expect(settle(held, open, 30 * 3600).settle!.beyondMachine).toBe(true);
  });

  it('is inconclusive when the full budget is undecided, with the seeds and hours that would decide it', () => {
    const s = settle(open, held, 1800);
    expect(s.reason).toBe('undecided');
    const seeds = open.seedsNeeded!;
    expect(s.settle).toEqual({
      seeds,
      budgetFactor: 1,
      hours: seeds / 2,
      beyondMachine: seeds / 2 > MACHINE_HOURS,
    });
  });
});
