import { useEffect, useState } from 'react';
import { type Analysis, analyse } from './lab.js';

const EMPTY: ReadonlyMap<string, unknown> = new Map<string, unknown>();

/**
 * Compute `work(key)` for many keys without freezing the page: a few per frame, so the first
 * paint is immediate and tables fill in as results arrive. `version` restarts the work (a new
 * batch size, say) while keeping the keys.
 */
export function useProgressive<T>(
  keys: readonly string[],
  work: (key: string) => T,
  version = '',
): ReadonlyMap<string, T> {
  const [done, setDone] = useState<{ tag: string; results: ReadonlyMap<string, T> }>(() => ({
    tag: '',
    results: new Map(),
  }));
  const tag = `${version}|${keys.join(',')}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: `tag` stands for keys and version; `work` is read fresh.
  useEffect(() => {
    let cancelled = false;
    const results = new Map<string, T>();
    const queue = [...keys];
    const step = () => {
      if (cancelled) return;
      const start = performance.now();
      while (queue.length && performance.now() - start < 24) {
        const key = queue.shift()!;
        results.set(key, work(key));
      }
      setDone({ tag, results: new Map(results) });
      if (queue.length) setTimeout(step, 0);
    };
    step();
    return () => {
      cancelled = true;
    };
  }, [tag]);
  return done.tag === tag ? done.results : (EMPTY as ReadonlyMap<string, T>);
}

/** Analyse catalogue models progressively (all ~44 zoo models take a few hundred ms). */
export const useAnalyses = (names: readonly string[]): ReadonlyMap<string, Analysis> =>
  useProgressive(names, analyse);
