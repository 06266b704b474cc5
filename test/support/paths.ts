import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder, whatever folder the test runs from. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
