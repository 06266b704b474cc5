import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Budget, Experiment, ReportBody, ReportInput } from './experiment.js';
import {
  type EffectFormat,
  type Judgement,
  MACHINE_HOURS,
  type PartJudgement,
  type Rule,
  type Settled,
  type Verdict,
} from './judge.js';
import { LEVEL, POWER, summarise } from './stats.js';

/** A markdown table; numbers are written as given (format them first). */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const percent = (x: number, digits = 2) => `${(100 * x).toFixed(digits)}%`;

export function formatSeconds(s: number): string {
  const h = Math.floor(s / 3600);
  if (h) return `${h} h ${Math.round((s - 3600 * h) / 60)} min`;
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s - 60 * m)} s` : `${s.toFixed(1)} s`;
}

/** "the claim held on this data.", "the claim did not hold ...", "inconclusive on this data." */
export const verdictSentence = (v: Verdict): string =>
  v === 'inconclusive' ? 'inconclusive on this data.' : `the claim ${v} on this data.`;

/** A per-seed figure as mean ± sd [95% interval], each number written by `f`. */
export function spread(values: readonly number[], f: (x: number) => string): string {
  const s = summarise(values);
  if (s.n < 2) return s.n ? f(s.mean) : 'n/a';
  return `${f(s.mean)} ± ${f(s.sd)} [${f(s.lo)}, ${f(s.hi)}]`;
}

/**
 * A positive per-seed figure averaged as its logarithm: the geometric mean, its multiplicative
 * standard deviation (x/÷) and the 95% interval of the geometric mean, each number written by `f`.
 */
export function geometricSpread(values: readonly number[], f: (x: number) => string): string {
  const s = summarise(values.map(Math.log));
  if (s.n < 2) return s.n ? f(Math.exp(s.mean)) : 'n/a';
  return `${f(Math.exp(s.mean))} (x/÷ ${Math.exp(s.sd).toFixed(3)}) [${f(Math.exp(s.lo))}, ${f(Math.exp(s.hi))}]`;
}

/** A per-seed factor (a ratio), as `geometricSpread` writes it with an x. */
export const factorSpread = (factors: readonly number[], digits = 3): string =>
  geometricSpread(factors, (x) => `${x.toFixed(digits)}x`);

const signed = (text: string, x: number) => (x > 0 ? `+${text}` : text);

/** An effect (or a threshold) as its rule writes it. */
export function formatEffect(x: number, format: EffectFormat): string {
  if (Number.isNaN(x)) return 'n/a';
  if (format === 'ratio') return Number.isFinite(Math.exp(x)) ? `${Math.exp(x).toFixed(3)}x` : '∞x';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  switch (format) {
    case 'points':
      return signed(`${(100 * x).toFixed(2)} points`, x);
    case 'decades':
      return `${x.toFixed(1)} decades`;
    case 'number':
      return signed(x.toPrecision(3), x);
  }
}

function effectCell(p: PartJudgement): string {
  const s = p.summary;
  const f = (x: number) => formatEffect(x, p.rule.format);
  if (p.rule.test.kind === 'always')
    return `${p.values.filter((v) => v === 1).length} of ${p.values.length} seeds`;
  const left = s.left ? ` (${s.left} seed${s.left === 1 ? '' : 's'} left out: not finite)` : '';
  if (s.n < 2) return `${s.n ? f(s.mean) : 'n/a'}${left}`;
  const sd =
    p.rule.format === 'ratio' ? `x/÷ ${Math.exp(s.sd).toFixed(3)}` : `± ${f(s.sd).replace(/^\+/, '')}`;
  return `${f(s.mean)} ${sd} [${f(s.lo)}, ${f(s.hi)}]${left}`;
}

/** When a part holds and when it does not, in words (the thresholds in the part's own format). */
export function ruleConditions(rule: Rule): { held: string; failed: string } {
  const t = rule.test;
  const f = (x: number) => formatEffect(x, rule.format);
  switch (t.kind) {
    case 'always':
      return { held: 'true on every seed', failed: 'false on any seed' };
    case 'within':
      return {
        held: `the interval lies inside ${f(-t.threshold)} to ${f(t.threshold)}`,
        failed: `the interval lies wholly outside ${f(-t.threshold)} to ${f(t.threshold)}`,
      };
    case 'greater':
      return {
        held: `the interval lies above ${f(t.baseline ?? 0)} and the mean is at least ${f(t.threshold)}`,
        failed: `the interval lies below ${f(t.threshold)}`,
      };
    case 'smaller':
      return {
        held: `the interval lies below ${f(t.baseline ?? 0)} and the mean is at most ${f(t.threshold)}`,
        failed: `the interval lies above ${f(t.threshold)}`,
      };
    case 'not-greater':
      return {
        held: `the interval lies below ${f(t.threshold)}`,
        failed: `the interval lies above ${f(t.baseline ?? 0)} and the mean is at least ${f(t.threshold)}`,
      };
  }
}

/** The decision rule section: written from the rules alone, before any number. */
function decisionRule(e: Experiment<unknown>): string {
  return [
    '## Decision rule',
    '',
    `Declared in the experiment's code before it measures anything. Every seed measures every arm: the same seed initialises the arms' shared parameters and orders their batches, so each part's effect is a paired, per-seed number. Over the seeds each is summarised as mean ± standard deviation and a two-sided ${percent(LEVEL, 0)} Student-t interval of the mean.`,
    '',
    markdownTable(
      ['part', 'per-seed effect', 'held when', 'did not hold when', 'decides the claim'],
      e.rules.map((r) => {
        const c = ruleConditions(r);
        return [r.claim, r.effect, c.held, c.failed, r.secondary ? 'no (secondary)' : 'yes'];
      }),
    ),
    '',
    'Otherwise a part is undecided. The claim held when every deciding part held, did not hold when any of them did not hold, and is inconclusive otherwise. ' +
      `The same rule is applied at half the budget (${e.half.describe}); the verdict stated is the full budget's when the half budget gives the same, and inconclusive when it does not. ` +
      `An undecided part comes with a power calculation: the seeds at which, were the true effect the measured mean and the seeds as spread as measured, the interval would fall on one side of the nearest boundary with probability ${POWER}. ` +
      `A budget of more than ${MACHINE_HOURS} hours of this machine is beyond it.`,
  ].join('\n');
}

function partsTable(full: Judgement, half: Judgement): string {
  return markdownTable(
    ['part', 'effect: mean ± sd [95% interval]', 'per seed', 'full budget', 'half budget'],
    full.parts.map((p, i) => {
      const h = half.parts[i]!;
      const f = (x: number) => formatEffect(x, p.rule.format);
      const perSeed =
        p.rule.test.kind === 'always'
          ? p.values.map((v) => (v === 1 ? 'yes' : 'no'))
          : p.values.map((v) => (Number.isFinite(v) ? f(v) : 'left out'));
      const halfCell = p.rule.test.kind === 'always' ? h.verdict : `${h.verdict}: ${effectCell(h)}`;
      return [
        `${p.rule.claim}${p.rule.secondary ? ' (secondary)' : ''}`,
        effectCell(p),
        perSeed.join(', '),
        `**${p.verdict}**${p.seedsNeeded ? ` (${p.seedsNeeded} seeds would decide)` : ''}`,
        halfCell,
      ];
    }),
  );
}

/** What would settle an inconclusive verdict, and why this machine does not run it. */
export function settleSentence(s: Settled, seeds: number, secondsPerSeed: number): string {
  if (s.verdict !== 'inconclusive' || !s.settle) {
    return `The half budget gives the same verdict (${s.half}): the verdict is stable.`;
  }
  const cost =
    s.settle.hours === undefined ? '' : ` (${formatSeconds(3600 * s.settle.hours)} of this machine)`;
  const beyond = s.settle.beyondMachine
    ? `, beyond the ${MACHINE_HOURS} hours one report may take here`
    : '; within reach, so a longer run should be made';
  if (s.reason === 'unstable') {
    return (
      `The half budget gives ${s.half} and the full budget ${s.full}: the verdict is not yet stable. ` +
      `A budget of twice the steps (whose half is this full budget), at the same ${seeds} seeds, would show whether it has settled${cost}${beyond}.`
    );
  }
  if (s.settle.seeds === undefined) {
    return 'No number of seeds would decide it: the measured effect sits on the rule’s boundary, or its spread is unknown.';
  }
  return (
    `With the spread measured here, ${s.settle.seeds} seeds at this budget would decide it with probability ${POWER}` +
    ` (${formatSeconds(secondsPerSeed)} a seed${cost}${beyond}).`
  );
}

export interface ReportMeta {
  readonly source: string;
  readonly budget: Budget;
  readonly seeds: readonly number[];
  readonly backend: string;
  /** Seconds over every seed (and every session of a resumed run). */
  readonly seconds: number;
  readonly load: number;
  readonly date: string;
  readonly machine: string;
}

function runLine(e: Experiment<unknown>, meta: ReportMeta): string {
  const seeds = meta.seeds.length;
  return (
    `Run: \`convlab experiment ${e.name} --data ${meta.source} --budget ${meta.budget} --seeds ${seeds} --seed ${meta.seeds[0]} --backend ${meta.backend}\` ` +
    `(seeds ${meta.seeds[0]} to ${meta.seeds.at(-1)}), ${formatSeconds(meta.seconds)} in all (${formatSeconds(meta.seconds / seeds)} a seed) ` +
    `on ${meta.machine}, load average ${meta.load.toFixed(1)}, ${meta.date}. Every run is seeded: the same command repeats these numbers.`
  );
}

const QUICK_NOTE = [
  '> Quick budget: a smoke test of a few steps that checks the experiment runs end to end. Its numbers',
  '> and its verdict say nothing about the claim; the full budget (`--budget full`) does.',
  '',
];

/** The report's markdown: verdict, claim, decision rule, setup, results by part, the experiment's own results. */
function reportMarkdown(
  e: Experiment<unknown>,
  input: ReportInput<unknown>,
  body: ReportBody,
  meta: ReportMeta,
): string {
  const { full, half, settled } = input.judgement;
  const settleText = settleSentence(settled, meta.seeds.length, meta.seconds / meta.seeds.length);
  return [
    `# ${e.title}`,
    '',
    `**Verdict: ${verdictSentence(settled.verdict)}** ${body.finding}${settled.verdict === 'inconclusive' ? ` ${settleText}` : ''}`,
    '',
    ...(meta.budget === 'quick' ? QUICK_NOTE : []),
    '## Claim',
    '',
    e.claim,
    '',
    decisionRule(e),
    '',
    '## Setup',
    '',
    body.setup,
    '',
    runLine(e, meta),
    '',
    '## Results',
    '',
    `Each part of the claim over ${meta.seeds.length} seeds, at the full budget and at half of it:`,
    '',
    partsTable(full, half),
    '',
    settleText,
    '',
    body.results,
    '',
    ...body.figures.flatMap((f) => [`![${f.caption}](${f.name}.svg)`, '', `*${f.caption}*`, '']),
    'Raw numbers: [results.json](results.json); each seed’s measurement: [seeds/](seeds/).',
    '',
  ].join('\n');
}

const partJson = (p: PartJudgement) => ({
  key: p.rule.key,
  claim: p.rule.claim,
  test: p.rule.test,
  secondary: p.rule.secondary ?? false,
  values: p.values,
  summary: p.summary,
  verdict: p.verdict,
  seedsNeeded: p.seedsNeeded ?? null,
});

/**
 * DIR/report.md, DIR/results.json (the verdicts, every part's per-seed effects and summaries, the
 * experiment's aggregated numbers, the run's metadata) and one SVG per figure; each seed's own
 * measurement is already in DIR/seeds/.
 */
export function writeReport(
  dir: string,
  e: Experiment<unknown>,
  input: ReportInput<unknown>,
  body: ReportBody,
  meta: ReportMeta,
): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  for (const f of body.figures) write(`${f.name}.svg`, f.svg);
  write('report.md', reportMarkdown(e, input, body, meta));
  const { full, half, settled } = input.judgement;
  const results = {
    experiment: e.name,
    verdict: settled.verdict,
    finding: body.finding,
    settled,
    parts: { full: full.parts.map(partJson), half: half.parts.map(partJson) },
    ...meta,
    results: body.raw,
  };
  write('results.json', `${JSON.stringify(results, null, 1)}\n`);
  return files;
}
