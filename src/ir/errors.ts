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

/**
 * The exit code of a failed file operation, by cause, the same in every command: 1 when the machine
 * failed while running (disk full, quota, I/O error, file too large for the filesystem), 2 when the
 * path given is wrong (missing, a folder, no permission, a read-only filesystem).
 */
export function fileFailureExitCode(e: unknown): 1 | 2 {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO' || code === 'EFBIG' ? 1 : 2;
}
