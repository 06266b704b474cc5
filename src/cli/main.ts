import { parseArgs } from 'node:util';
import { ConvlabError } from '../ir/errors.js';
import { bench } from './bench.js';
import type { Command, CommandIO, Values } from './command.js';
import { evaluateCommand } from './evaluate.js';
import { experimentCommand } from './experiment.js';
import { exportCommand } from './export.js';
import { lab } from './lab.js';
import { list } from './list.js';
import { memory } from './memory.js';
import { joinNegativeValues, MODEL_OPTIONS_HELP } from './options.js';
import { rf } from './rf.js';
import { run } from './run.js';
import { summary } from './summary.js';
import { trainCommand } from './train.js';

/** Every command, in the order `--help` lists them. A new command is one file and one entry here. */
export const COMMANDS: readonly Command[] = [
  list,
  summary,
  rf,
  memory,
  exportCommand,
  run,
  evaluateCommand,
  trainCommand,
  experimentCommand,
  bench,
  lab,
];

const HELP = [
  'convlab: a workbench for convolutional neural networks',
  '',
  'usage:',
  ...COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary}`),
  '',
  'MODEL is a zoo name (convlab list) or a JSON spec file (*.json). Common options:',
  MODEL_OPTIONS_HELP,
  '',
  'Errors exit with code 2 for bad usage or input, 1 for a failure while running.',
].join('\n');

const defaultIO: CommandIO = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
};

/** An error message on one line, whatever a library put in it (onnxruntime's span several). */
const oneLine = (message: string): string => message.trim().replace(/\s*\n\s*/g, '; ');

/** Run the CLI; returns the exit code. Never prints a stack trace for a user mistake. */
export async function main(argv: readonly string[], io: CommandIO = defaultIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.stdout('convlab 0.1.0');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(
      `convlab: unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')} (convlab --help)`,
    );
    return 2;
  }
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(`usage: ${command.usage}\n${command.summary}`);
      return 0;
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: joinNegativeValues(rest, command.options),
        options: command.options,
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new ConvlabError(`${(e as Error).message.split('\n')[0]}; usage: ${command.usage}`);
    }
    const [min, max] = command.positionals;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new ConvlabError(
        `expected ${min === max ? min : `${min} to ${max}`} argument(s); usage: ${command.usage}`,
      );
    }
    return await command.run(parsed.positionals, parsed.values as Values, io);
  } catch (e) {
    if (e instanceof ConvlabError) {
      io.stderr(`convlab ${name}: ${oneLine(e.message)}`);
      return e.exitCode;
    }
    io.stderr(
      `convlab ${name}: internal error: ${oneLine(String((e as Error)?.message ?? e))} (set CONVLAB_DEBUG=1 for the stack)`,
    );
    if (process.env['CONVLAB_DEBUG']) io.stderr(String((e as Error).stack));
    return 1;
  }
}
