import { bytes, metric } from '../analysis/format.js';
import {
  analyseMemory,
  type MemoryReport,
  MODES,
  OPTIMIZERS,
  STRATEGIES,
  type TimelineEntry,
} from '../analysis/memory.js';
import { ConvlabError } from '../ir/errors.js';
import { resolveGraph } from '../ir/resolve.js';
import type { Command, Values } from './command.js';
import { json, table } from './format.js';
import { batchOf, loadModel, MODEL_OPTIONS, positiveInt } from './options.js';

function choice<T extends string>(values: Values, option: string, allowed: readonly T[], fallback: T): T {
  const value = values[option];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConvlabError(`--${option} must be one of ${allowed.join(', ')}; got '${String(value)}'`);
  }
  return value as T;
}

const BAR = 40;
const ROWS = 24;

/** At most `rows` entries, each the highest of its run of steps, so the peak is always shown. */
export function condense(timeline: readonly TimelineEntry[], rows = ROWS): TimelineEntry[] {
  const size = Math.max(1, Math.ceil(timeline.length / rows));
  const out: TimelineEntry[] = [];
  for (let i = 0; i < timeline.length; i += size) {
    out.push(timeline.slice(i, i + size).reduce((best, t) => (t.liveBytes > best.liveBytes ? t : best)));
  }
  return out;
}

function render(m: MemoryReport, all: boolean): string {
  const b = m.bytes;
  const train = m.mode === 'train';
  const rows: [string, string, string][] = [
    ['params', bytes(b.params), ''],
    ['buffers', bytes(b.buffers), 'BatchNorm running statistics'],
    ...(train
      ? ([
          ['grads', bytes(b.grads), ''],
          ['optimizer state', bytes(b.optimizer), m.optimizer],
          ['saved for backward', bytes(b.savedForBackward), 'kept from forward until backward reads it'],
        ] as [string, string, string][])
      : []),
    ['activations total', bytes(b.activationsTotal), 'every feature map of one forward pass'],
    ['peak', bytes(b.peak), `step ${m.peakAt.step}, ${m.peakAt.phase} of ${m.peakAt.node}`],
  ];
  const saved = Object.entries(m.savedByOp)
    .map(([op, n]) => `${op} ${bytes(n)}`)
    .join(', ');
  const remarks = [
    ...(train && saved ? [`saved for backward by op: ${saved}`] : []),
    ...(m.extraFlops ? [`recomputed in backward: ${metric(m.extraFlops)}FLOPs`] : []),
    ...m.notes,
  ];
  const shown = all ? m.timeline : condense(m.timeline);
  const top = shown.reduce((m, t) => Math.max(m, t.liveBytes), 1);
  return [
    `${m.model}  batch ${m.batch}  ${m.mode}  strategy ${m.strategy}${train ? `  optimizer ${m.optimizer}` : ''}`,
    '',
    table(['', 'bytes', ''], rows, ['left', 'right', 'left']),
    '',
    ...(remarks.length ? [...remarks, ''] : []),
    all
      ? 'timeline (live bytes after every step):'
      : `timeline (live bytes; each row the highest of its run of steps; --timeline for all ${m.timeline.length}):`,
    table(
      ['step', 'phase', 'node', 'live', ''],
      shown.map((t) => [
        String(t.step),
        t.phase,
        t.node,
        bytes(t.liveBytes),
        '#'.repeat(Math.max(1, Math.round((BAR * t.liveBytes) / top))),
      ]),
      ['right', 'left', 'left', 'right', 'left'],
    ),
  ].join('\n');
}

export const memory: Command = {
  name: 'memory',
  usage:
    'convlab memory MODEL --batch N [--mode infer|train] [--strategy naive|inplace|checkpoint|shared] ' +
    '[--optimizer sgd|momentum|adam] [--segments N] [--timeline] [--input CxHxW] [--classes K] [--no-aux] [--json]',
  summary: 'feature-map, saved-for-backward and peak memory of inference or a training step, by strategy',
  options: {
    ...MODEL_OPTIONS,
    mode: { type: 'string' },
    strategy: { type: 'string' },
    optimizer: { type: 'string' },
    segments: { type: 'string' },
    timeline: { type: 'boolean' },
  },
  positionals: [1, 1],
  run([model], values, io) {
    const mode = choice(values, 'mode', MODES, 'infer');
    const strategy = choice(values, 'strategy', STRATEGIES, 'naive');
    const optimizer = choice(values, 'optimizer', OPTIMIZERS, 'sgd');
    const segments =
      values['segments'] === undefined ? undefined : positiveInt(values['segments'] as string, 'segments', 1);
    if (segments !== undefined && strategy !== 'checkpoint') {
      throw new ConvlabError('--segments applies to --strategy checkpoint');
    }
    const graph = loadModel(model!, values);
    const report = analyseMemory(resolveGraph(graph, { batch: batchOf(values) }), {
      mode,
      strategy,
      optimizer,
      ...(segments ? { segments } : {}),
    });
    io.stdout(values['json'] ? json(report) : render(report, values['timeline'] === true));
    return 0;
  },
};
