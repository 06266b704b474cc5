import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Budget, Experiment, Outcome, Verdict } from './experiment.js';

/** A markdown table; numbers are written as given (format them first). */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const percent = (x: number, digits = 2) => `${(100 * x).toFixed(digits)}%`;

export interface ReportMeta {
  readonly source: string;
  readonly budget: Budget;
  readonly seed: number;
  readonly seconds: number;
  readonly date: string;
  readonly machine: string;
}

/**
 * DIR/report.md (claim, setup, results, figures, verdict), DIR/results.json (every number, and the
 * run's metadata) and one SVG per figure.
 */
export function writeReport(dir: string, e: Experiment, o: Outcome, meta: ReportMeta): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  for (const f of o.figures) write(`${f.name}.svg`, f.svg);
  const md = [
    `# ${e.title}`,
    '',
    `**Verdict: ${verdictSentence(o.verdict)}** ${o.finding}`,
    '',
    ...(meta.budget === 'quick'
      ? [
          '> Quick budget: a smoke test of a few steps that checks the experiment runs end to end. Its numbers',
          '> and its verdict say nothing about the claim; the full budget (`--budget full`) does.',
          '',
        ]
      : []),
    '## Claim',
    '',
    e.claim,
    '',
    '## Setup',
    '',
    o.setup,
    '',
    `Run: \`convlab experiment ${e.name} --data ${meta.source} --budget ${meta.budget} --seed ${meta.seed}\`, ` +
      `${formatSeconds(meta.seconds)} on ${meta.machine}, ${meta.date}. Every run is seeded: the same command repeats these numbers.`,
    '',
    '## Results',
    '',
    o.results,
    '',
    ...o.figures.flatMap((f) => [`![${f.caption}](${f.name}.svg)`, '', `*${f.caption}*`, '']),
    'Raw numbers: [results.json](results.json).',
    '',
  ].join('\n');
  write('report.md', md);
  write(
    'results.json',
    `${JSON.stringify({ experiment: e.name, verdict: o.verdict, finding: o.finding, ...meta, results: o.raw }, null, 1)}\n`,
  );
  return files;
}

export function formatSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s - 60 * m)} s` : `${s.toFixed(1)} s`;
}

/** "the claim held on this data.", "the claim did not hold ...", "inconclusive on this data." */
export const verdictSentence = (v: Verdict): string =>
  v === 'inconclusive' ? 'inconclusive on this data.' : `the claim ${v} on this data.`;
