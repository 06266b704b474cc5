import { describe, expect, it } from 'vitest';
import { lineChart, logTicks, niceTicks } from '../../src/experiments/plot.js';
import { markdownTable } from '../../src/experiments/report.js';
import { movingAverage, variance } from '../../src/experiments/smooth.js';

describe('plots and report helpers', () => {
  it('nice ticks step by 1, 2 or 5 times a power of ten and cover the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-0.013, 0.021)).toEqual([-0.01, 0, 0.01, 0.02]);
  });

  it('log ticks: powers of ten over decades, 1-2-5 or 1..9 within one, linear when narrower', () => {
    expect(logTicks(-4.2, 0.3)).toEqual([1e-4, 1e-3, 1e-2, 1e-1, 1]);
    expect(logTicks(Math.log10(0.15), Math.log10(6))).toEqual([0.2, 0.5, 1, 2, 5]);
    expect(logTicks(Math.log10(0.012), Math.log10(0.045))).toEqual([0.02, 0.03, 0.04]);
    expect(logTicks(Math.log10(0.55), Math.log10(0.68))).toEqual([0.55, 0.6, 0.65]);
  });

  it('draws one path per series, markers, a legend, and nothing undefined or NaN', () => {
    const svg = lineChart({
      title: 'a < b & c',
      x: 'epoch',
      y: 'error',
      series: [
        {
          label: 'plain',
          points: [
            [1, 0.5],
            [2, 0.3],
            [3, 0.2],
          ],
        },
        {
          label: 'residual',
          points: [
            [1, 0.4],
            [2, Number.NaN],
            [3, 0.1],
          ],
          dashed: true,
        },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('puts log-scale ticks at powers of ten', () => {
    const svg = lineChart({
      title: 't',
      x: 'x',
      y: 'y',
      logY: true,
      series: [
        {
          label: 's',
          points: [
            [0, 1e-4],
            [1, 10],
          ],
        },
      ],
    });
    for (const t of ['1e-4', '0.001', '0.01', '0.1', '>1<', '>10<']) expect(svg).toContain(t);
  });

  it('smooths with a trailing window and computes the population variance', () => {
    expect(movingAverage([1, 2, 3, 4], 2)).toEqual([1, 1.5, 2.5, 3.5]);
    expect(variance([1, 3])).toBe(1);
  });

  it('writes markdown tables', () => {
    expect(markdownTable(['a', 'b'], [[1, 'x']])).toBe('| a | b |\n| --- | --- |\n| 1 | x |');
  });
});
