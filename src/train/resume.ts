import { stateSlots } from '../autodiff/optimizer.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { tensorSpecs } from '../ir/init.js';
import { resolveGraph } from '../ir/resolve.js';
import { formatShape } from '../ir/shape.js';
import type { Checkpoint, CheckpointState } from './checkpoint.js';
import type { TrainConfig, TrainOverrides } from './config.js';

/**
 * What a resumed run may change, and whether a checkpoint fits the model it is to continue. A
 * resumed run keeps the checkpoint's configuration: options given again must agree with it, and
 * only --epochs may change (to train longer; the schedule then spans the new length).
 */

/** Each option a resumed run may not change, with its value in a checkpoint's configuration. */
function conflicts(g: TrainOverrides, saved: TrainConfig, model: string, source: string): string[] {
  const found: string[] = [];
  const check = (option: string, given: unknown, was: unknown) => {
    if (given !== undefined && JSON.stringify(given) !== JSON.stringify(was)) {
      found.push(`${option} ${String(given)} (the checkpoint has ${JSON.stringify(was) ?? 'none'})`);
    }
  };
  const o = saved.optimizer;
  check('MODEL', model, saved.model);
  check('--data', source, saved.data);
  check('--limit', g.limit, saved.limit ?? undefined);
  check('--batch', g.batch, saved.batch);
  check('--lr', g.lr, saved.lr);
  check('--optimizer', g.optimizer, o.kind);
  check('--momentum', g.momentum, o.kind === 'sgd' ? o.momentum : undefined);
  check('--nesterov', g.nesterov, o.kind === 'sgd' ? o.nesterov : undefined);
  check('--weight-decay', g.weightDecay, o.weightDecay);
  check('--schedule', g.schedule, saved.schedule);
  check('--warmup', g.warmup, saved.warmup);
  check('--label-smoothing', g.labelSmoothing, saved.labelSmoothing);
  check('--aux-weight', g.auxWeight, saved.auxWeight);
  check('--no-aux', g.aux === false ? true : undefined, !saved.aux);
  check('--seed', g.seed, saved.seed);
  check('--pad', g.pad, saved.augment.pad);
  check('--flip', g.flip, saved.augment.flip);
  return found;
}

/** The configuration a resumed run takes: the checkpoint's, with --epochs if given. */
export function resumedConfig(
  g: TrainOverrides,
  checkpoint: CheckpointState,
  model: string,
  source: string,
): TrainConfig {
  const saved = checkpoint.config;
  const found = conflicts(g, saved, model, source);
  if (found.length) {
    throw new ConvlabError(
      `--resume continues a run with its own configuration, and ${found.join(', ')}: ` +
        'drop those options (only --epochs may change), or start a new run in another --out',
    );
  }
  const epochs = g.epochs ?? saved.epochs;
  const done = checkpoint.epoch + (checkpoint.partial.steps > 0 ? 1 : 0);
  if (epochs < done) {
    throw new ConvlabError(`--epochs ${epochs} is fewer than the ${done} epochs the checkpoint has reached`);
  }
  if (saved.warmup >= epochs) {
    throw new ConvlabError(
      `--epochs ${epochs} must be longer than the run's warm-up (${saved.warmup} epochs)`,
    );
  }
  return { ...saved, epochs };
}

/** The checkpoint must hold every parameter with its optimiser slots, and nothing foreign. */
export function checkCheckpoint(
  checkpoint: Checkpoint,
  graph: Graph,
  config: TrainConfig,
  path: string,
): void {
  const expected = new Map<string, { shape: readonly number[]; dtype: string; required: boolean }>();
  for (const [name, { spec }] of tensorSpecs(resolveGraph(graph))) {
    expected.set(name, { shape: spec.shape, dtype: spec.dtype, required: spec.role === 'param' });
    if (spec.role !== 'param') continue;
    for (const slot of stateSlots(config.optimizer)) {
      expected.set(`${name}.${slot}`, { shape: spec.shape, dtype: 'float32', required: true });
    }
  }
  const problems: string[] = [];
  for (const [name, e] of expected) {
    const t = checkpoint.tensors.get(name);
    if (!t) {
      if (e.required) problems.push(`missing ${name}`);
    } else if (t.dtype !== e.dtype || t.shape.join(',') !== e.shape.join(',')) {
      problems.push(
        `${name} is ${t.dtype} ${formatShape(t.shape)}, the model needs ${e.dtype} ${formatShape(e.shape)}`,
      );
    }
  }
  for (const name of checkpoint.tensors.keys()) if (!expected.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    const more = problems.length > 4 ? `; and ${problems.length - 4} more` : '';
    throw new ConvlabError(
      `checkpoint '${path}' does not fit ${graph.name} trained with ${config.optimizer.kind}: ${problems.slice(0, 4).join('; ')}${more}`,
    );
  }
}
