import { ConvlabError } from '../ir/errors.js';
import { binding, bindingBuilt } from '../native/binding.js';
import { NativeDeclined } from '../native/executor.js';
import { BACKENDS, type BackendName, type TrainingBackend } from './backend.js';
import { onednnBackend } from './native.js';
import { onnxruntimeBackend } from './step.js';

/**
 * The training backends by name, as `--backend` chooses them. With no name: the native oneDNN
 * backend where its binding is built, falling back to onnxruntime (with one line saying why) for
 * a model it cannot run; else onnxruntime.
 */

export const DEFAULT_BACKEND: BackendName = bindingBuilt() ? 'onednn' : 'onnxruntime';

/** Each backend's loader: the native one loads its addon only when asked for. */
const LOADERS: Readonly<Record<BackendName, () => Promise<TrainingBackend>>> = {
  onnxruntime: async () => onnxruntimeBackend,
  onednn: async () => {
    binding();
    return onednnBackend;
  },
};

/** Where a line about falling back goes (the CLI's stderr); tests replace it. */
export const notices = { write: (line: string): void => void process.stderr.write(`${line}\n`) };

/**
 * `native`, except that a model it declines (an op it lacks) trains on `fallback`, with one line
 * naming what it lacks.
 */
export const withFallback = (native: TrainingBackend, fallback: TrainingBackend): TrainingBackend => ({
  name: native.name,
  async create(model, options, init, runtime) {
    try {
      return await native.create(model, options, init, runtime);
    } catch (e) {
      if (!(e instanceof NativeDeclined)) throw e;
      notices.write(`convlab: training on ${fallback.name}: the native oneDNN backend lacks ${e.what}`);
      return fallback.create(model, options, init, runtime);
    }
  },
});

const isBackend = (name: string): name is BackendName => (BACKENDS as readonly string[]).includes(name);

/**
 * The backend `name` names (a ConvlabError, exit 2, for an unknown or unavailable one); with no
 * name, the default, which falls back from native to onnxruntime where the model needs it.
 */
export async function trainingBackend(name?: string): Promise<TrainingBackend> {
  if (name === undefined) {
    if (DEFAULT_BACKEND === 'onnxruntime') return onnxruntimeBackend;
    try {
      return withFallback(await LOADERS.onednn(), onnxruntimeBackend);
    } catch (e) {
      if (!(e instanceof ConvlabError)) throw e;
      notices.write(`convlab: training on onnxruntime: ${e.message}`);
      return onnxruntimeBackend;
    }
  }
  if (!isBackend(name)) {
    throw new ConvlabError(`--backend must be one of ${BACKENDS.join(', ')}, got '${name}'`);
  }
  return LOADERS[name]();
}
