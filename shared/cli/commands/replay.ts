import { printablePath } from '../../lake/paths';
import { type ReplayResult, replayFailed, replayFile } from '../../ops/replay';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport } from '../format';
import { loadedDataset } from './datasetName';

function print(out: (l: string) => void, r: ReplayResult): void {
  if (r.status !== 'replayed' || !r.report) {
    out(`• ${printablePath(r.message)}`);
    return;
  }
  out(`↻ ${printablePath(r.message)}`);
  out(describeReport(r.report));
}

export const replayCommand: CliCommand = {
  name: 'replay',
  usage: 'medallion replay <bronze path>... | --failed [--dataset <name>]',
  summary: 'run failed bronze file versions again after a fix (attempts start again from 1); exit 1 if any fails again (or a named path is not in bronze)',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion replay', flags: { failed: 'boolean', dataset: 'value' } });
    const all = args.flags.failed === true;
    const dataset = stringFlag(args, 'dataset');
    if (all && args.positional.length) throw new UsageError('name bronze paths or pass --failed, not both');
    if (!all && args.positional.length === 0) throw new UsageError('name a bronze path (e.g. ecommerce_events/2019-10.csv) or pass --failed');
    if (dataset && !all) throw new UsageError('--dataset goes with --failed');
    return withPlatform(ctx, async (p) => {
      if (dataset) loadedDataset(dataset, p.contracts);
      const results: ReplayResult[] = [];
      if (all) {
        await replayFailed(p, { dataset, onResult: (r) => (results.push(r), print(ctx.out, r)) });
        if (results.length === 0) ctx.out(`no failed file${dataset ? ` of dataset '${dataset}'` : ''}: nothing to replay`);
      } else {
        for (const raw of args.positional) {
          // Accept the path as `medallion status` prints it, with or without the zone.
          const r = await replayFile(p, raw.replace(/^bronze\//, ''));
          results.push(r);
          print(ctx.out, r);
        }
      }
      const replayed = results.filter((r) => r.status === 'replayed');
      const failed = replayed.filter((r) => r.report?.outcome === 'failed').length;
      if (results.length > 1) {
        ctx.out(`${replayed.length} file(s) replayed: ${replayed.length - failed} landed${failed ? `, ${failed} failed again` : ''}; ${results.length - replayed.length} not replayed`);
      }
      // A path named on the command line that is not in bronze is a mistake; --failed just skips those.
      const missing = all ? 0 : results.filter((r) => r.status === 'missing').length;
      return failed > 0 || missing > 0 ? 1 : 0;
    });
  },
};
