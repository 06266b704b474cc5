import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAIN_DEFAULTS } from '../../src/cli/export.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { pytorchFiles } from '../../src/pytorch/export.js';
import { buildModel, getModel } from '../../src/zoo/index.js';
import { ROOT } from '../support/paths.js';

/** docs/pytorch shows resnet50's and googlenet's model.py as the emitter writes them today. */
describe('docs/pytorch', () => {
  it.each(['resnet50', 'googlenet'])('%s/model.py is what the export writes', (name) => {
    const files = pytorchFiles(resolveGraph(buildModel(name)), {
      command: `convlab export ${name} --format pytorch -o ${name}`,
      description: getModel(name).description,
      weights: false,
      train: TRAIN_DEFAULTS,
    });
    const doc = readFileSync(join(ROOT, 'docs', 'pytorch', name, 'model.py'), 'utf8');
    expect(doc).toBe(files.get('model.py'));
  });
});
