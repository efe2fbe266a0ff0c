import { writeEcommerceSample } from '../../samples/ecommerceSample';
import { numberFlag, parseArgs, shown, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';

export const generateCommand: CliCommand = {
  name: 'generate',
  usage: 'medallion generate ecommerce --rows N --out <file.csv[.gz]> [--seed S] [--days D] [--truncate]',
  summary: 'write a realistic REES46-layout sample export (duplicates, bad rows, CRLF, blanks)',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion generate', flags: { rows: 'value', out: 'value', seed: 'value', days: 'value', truncate: 'boolean' } });
    if (args.positional[0] !== 'ecommerce') throw new UsageError(`usage: ${generateCommand.usage}`);
    if (args.positional.length > 1) throw new UsageError(`unexpected argument '${shown(args.positional[1]!)}' for medallion generate ecommerce`);
    const out = stringFlag(args, 'out');
    if (!out) throw new UsageError('--out <file> is required');
    const rows = numberFlag(args, 'rows', 100_000);
    const summary = await writeEcommerceSample(out, {
      rows,
      seed: numberFlag(args, 'seed', 46),
      days: numberFlag(args, 'days', 7),
      truncateLastLine: args.flags.truncate === true,
      gzip: out.endsWith('.gz'),
    });
    ctx.out(`${out}: ${summary.lines} data lines (${summary.duplicates} exact duplicates, bad rows ${JSON.stringify(summary.bad)}${summary.truncated ? ', last line cut off' : ''})`);
    return 0;
  },
};
