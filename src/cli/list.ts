import { metric, thousands } from '../analysis/format.js';
import { summariseGraph } from '../analysis/summary.js';
import { buildModel, listModels } from '../zoo/index.js';
import type { Command } from './command.js';
import { json, table } from './format.js';

export interface ListRow {
  readonly name: string;
  readonly family: string;
  readonly input: readonly number[];
  readonly params: number;
  readonly macs: number;
}

export const listRows = (): ListRow[] =>
  listModels().map((m) => {
    const { totals } = summariseGraph(buildModel(m.name));
    return { name: m.name, family: m.family, input: [...m.input], params: totals.params, macs: totals.macs };
  });

export const list: Command = {
  name: 'list',
  usage: 'convlab list [--json]',
  summary: 'every zoo model with its input, parameters and MACs',
  options: { json: { type: 'boolean' } },
  positionals: [0, 0],
  run(_, values, io) {
    const rows = listRows();
    if (values['json']) {
      io.stdout(json(rows));
      return 0;
    }
    io.stdout(
      table(
        ['model', 'family', 'input', 'params', 'MACs'],
        rows.map((r) => [r.name, r.family, r.input.join('x'), thousands(r.params), metric(r.macs)]),
        ['left', 'left', 'left', 'right', 'right'],
      ),
    );
    return 0;
  },
};
