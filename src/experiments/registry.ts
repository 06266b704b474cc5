import { ConvlabError } from '../ir/errors.js';
import type { Experiment } from './experiment.js';

/** An experiment whose measurement type is its own business (the registry uses each one whole). */
export type AnyExperiment = Experiment<unknown>;

const experiments = new Map<string, AnyExperiment>();

/** Each experiment file registers itself; index.ts imports them all. */
export function registerExperiment<M>(e: Experiment<M>): Experiment<M> {
  if (experiments.has(e.name)) throw new Error(`experiment '${e.name}' is registered twice`);
  experiments.set(e.name, e);
  return e;
}

export const listExperiments = (): readonly AnyExperiment[] => [...experiments.values()];

export function getExperiment(name: string): AnyExperiment {
  const e = experiments.get(name);
  if (!e) {
    throw new ConvlabError(
      `unknown experiment '${name}'; the experiments are: ${[...experiments.keys()].join(', ')}`,
    );
  }
  return e;
}
