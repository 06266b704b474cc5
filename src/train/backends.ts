import { ConvlabError } from '../ir/errors.js';
import { BACKENDS, type BackendName, type TrainingBackend } from './backend.js';
import { onnxruntimeBackend } from './step.js';

/** The training backends by name, as `--backend` chooses them; `onnxruntime` when none is named. */

export const DEFAULT_BACKEND: BackendName = 'onnxruntime';

/** Each backend's loader: a native one loads its addon only when asked for. */
const LOADERS: Readonly<Record<BackendName, () => Promise<TrainingBackend>>> = {
  onnxruntime: async () => onnxruntimeBackend,
  onednn: async () => {
    throw new ConvlabError(
      'the native oneDNN training backend is not built into this convlab; use --backend onnxruntime',
    );
  },
};

const isBackend = (name: string): name is BackendName => (BACKENDS as readonly string[]).includes(name);

/** The backend `name` names; a ConvlabError (exit 2) for an unknown or unavailable one. */
export async function trainingBackend(name: string = DEFAULT_BACKEND): Promise<TrainingBackend> {
  if (!isBackend(name)) {
    throw new ConvlabError(`--backend must be one of ${BACKENDS.join(', ')}, got '${name}'`);
  }
  return LOADERS[name]();
}
