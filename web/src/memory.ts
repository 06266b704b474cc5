/** The memory pass (src/analysis/memory.ts) for catalogue models, cached per batch and options. */
import {
  analyseMemory,
  type MemoryOptions,
  type MemoryReport,
  MODES,
  type Mode,
  OPTIMIZERS,
  type Optimizer,
  STRATEGIES,
  type Strategy,
} from '../../src/analysis/memory.js';
import { type ResolvedGraph, resolveGraph } from '../../src/ir/resolve.js';
import { analyse } from './lab.js';

export type { MemoryReport, Mode, Optimizer, Strategy };
export { MODES, OPTIMIZERS, STRATEGIES };

const resolved = new Map<string, ResolvedGraph>();
const reports = new Map<string, MemoryReport>();

/** A catalogue model resolved at `batch` (batch 1 is the analysis's own). */
function resolvedAt(name: string, batch: number): ResolvedGraph {
  if (batch === 1) return analyse(name).resolved;
  const key = `${name}@${batch}`;
  let r = resolved.get(key);
  if (!r) {
    // Keep a handful: a batch change re-resolves the zoo once, older batches are dropped.
    if (resolved.size > 120) resolved.clear();
    r = resolveGraph(analyse(name).graph, { batch });
    resolved.set(key, r);
  }
  return r;
}

export interface MemoryQuery {
  readonly batch: number;
  readonly mode: Mode;
  readonly strategy: Strategy;
  readonly optimizer?: Optimizer;
}

/** `convlab memory NAME --batch B --mode M --strategy S --optimizer O`, in the browser. */
export function memoryOf(name: string, q: MemoryQuery): MemoryReport {
  const optimizer = q.optimizer ?? 'sgd';
  const key = `${name}|${q.batch}|${q.mode}|${q.strategy}|${optimizer}`;
  let report = reports.get(key);
  if (!report) {
    if (reports.size > 600) reports.clear();
    const options: MemoryOptions = { mode: q.mode, strategy: q.strategy, optimizer };
    report = analyseMemory(resolvedAt(name, q.batch), options);
    reports.set(key, report);
  }
  return report;
}
