import type { TrainingGraphOptions } from '../autodiff/training_graph.js';

/** What a native step is planned for (training_graph.ts documents each field). */
export type StepOptions = Pick<
  TrainingGraphOptions,
  'batch' | 'optimizer' | 'labelSmoothing' | 'auxWeight' | 'probes' | 'seed'
>;
