import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Values parsed by node:util parseArgs for a command's options. */
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CommandIO {
  /** Exactly one JSON document or a human table: the command's result. */
  readonly stdout: (text: string) => void;
  /** Progress and logs. */
  readonly stderr: (text: string) => void;
}

/** One CLI command, one file. main.ts lists them in a table; nothing switches on command names. */
export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options: OptionSpec;
  /** Positional arguments: [min, max]. */
  readonly positionals: readonly [number, number];
  run(positionals: readonly string[], values: Values, io: CommandIO): Promise<number> | number;
}
