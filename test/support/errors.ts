import { expect } from 'vitest';
import { ConvlabError } from '../../src/ir/errors.js';

/** `f` throws a ConvlabError (exit code 2) whose message matches every pattern. */
export async function expectUserError(
  f: () => unknown,
  ...patterns: (string | RegExp)[]
): Promise<ConvlabError> {
  let caught: unknown;
  try {
    await f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ConvlabError').toBeInstanceOf(ConvlabError);
  const e = caught as ConvlabError;
  expect(e.exitCode).toBe(2);
  for (const p of patterns) expect(e.message).toMatch(p);
  expect(e.message).not.toContain('\n    at ');
  return e;
}
