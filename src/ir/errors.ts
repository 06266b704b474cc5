/**
 * Errors a user can act on. `exitCode` follows the CLI contract: 2 for bad usage or bad input,
 * 1 for a failure while running. The CLI prints `message` on one line and never a stack trace.
 */
export class ConvlabError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
    this.name = 'ConvlabError';
  }
}

/** A rule an op enforces on its inputs or attributes, thrown by an op's facets without node context. */
export class RuleError extends Error {
  constructor(readonly rule: string) {
    super(rule);
    this.name = 'RuleError';
  }
}

/** A broken rule located at a node of a graph: names the node, its op, its input shapes and the rule. */
export class GraphError extends ConvlabError {
  constructor(
    readonly node: string,
    readonly op: string,
    readonly inputShapes: readonly (readonly number[])[],
    readonly rule: string,
  ) {
    const shapes = inputShapes.length
      ? ` with inputs ${inputShapes.map((s) => `[${s.join(',')}]`).join(', ')}`
      : '';
    super(`node '${node}' (${op})${shapes}: ${rule}`, 2);
    this.name = 'GraphError';
  }
}
