import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.js';
import { ROOT } from './paths.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in process, capturing both streams. */
export async function cli(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += `${t}\n`), stderr: (t) => (stderr += `${t}\n`) });
  return { code, stdout, stderr };
}

/** Run the built binary as a user would (`npx convlab ...`). */
export async function spawnCli(...argv: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [join(ROOT, 'bin', 'convlab.js'), ...argv], {
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
