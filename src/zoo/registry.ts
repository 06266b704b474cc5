import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';

export interface BuildOptions {
  /** Input [C, H, W]; each model has a standard one. */
  readonly input: readonly [number, number, number];
  readonly classes: number;
  /** Keep auxiliary heads (GoogLeNet, Inception v3); ignored by models without them. */
  readonly aux: boolean;
}

export interface ModelEntry {
  readonly name: string;
  readonly family: string;
  /** The paper, and how this build differs from it if it does. */
  readonly description: string;
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly build: (options: BuildOptions) => Graph;
}

/** Zoo families register their models here from their own config tables; nothing switches on names. */
const models = new Map<string, ModelEntry>();

export function registerModel(entry: ModelEntry): void {
  if (models.has(entry.name)) throw new Error(`model '${entry.name}' is registered twice`);
  models.set(entry.name, entry);
}

export const listModels = (): ModelEntry[] => [...models.values()];

/** Edit distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

export const nearest = (name: string, candidates: readonly string[], count = 3): string[] =>
  [...candidates].sort((x, y) => editDistance(name, x) - editDistance(name, y)).slice(0, count);

export function getModel(name: string): ModelEntry {
  const entry = models.get(name);
  if (!entry) {
    const near = nearest(name, [...models.keys()]);
    throw new ConvlabError(
      `unknown model '${name}'; did you mean ${near.join(', ')}? ('convlab list' shows all)`,
    );
  }
  return entry;
}

/** Build a zoo model with its defaults, overridden by `options`. */
export function buildModel(name: string, options: Partial<BuildOptions> = {}): Graph {
  const entry = getModel(name);
  return entry.build({
    input: options.input ?? entry.input,
    classes: options.classes ?? entry.classes,
    aux: options.aux ?? true,
  });
}
