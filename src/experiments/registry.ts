import { ConvlabError } from '../ir/errors.js';
import type { Experiment } from './experiment.js';

const experiments = new Map<string, Experiment>();

/** Each experiment file registers itself; index.ts imports them all. */
export function registerExperiment(e: Experiment): void {
  if (experiments.has(e.name)) throw new Error(`experiment '${e.name}' is registered twice`);
  experiments.set(e.name, e);
}

export const listExperiments = (): readonly Experiment[] => [...experiments.values()];

export function getExperiment(name: string): Experiment {
  const e = experiments.get(name);
  if (!e) {
    throw new ConvlabError(
      `unknown experiment '${name}'; the experiments are: ${[...experiments.keys()].join(', ')}`,
    );
  }
  return e;
}
