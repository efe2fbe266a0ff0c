import { listRuns } from '../../pipeline/ledger';
import { noPositionals, parseArgs, stringFlag } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';
import { knownDataset } from './datasetName';

export const statusCommand: CliCommand = {
  name: 'status',
  usage: 'medallion status [--json] [--dataset <name>]',
  summary: 'the run ledger: one entry per bronze file version with its accounting',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion status', flags: { json: 'boolean', dataset: 'value' } });
    noPositionals(args, 'medallion status');
    const dataset = stringFlag(args, 'dataset');
    return withPlatform(ctx, async (p) => {
      // A dataset whose contract does not load still has its ledger.
      if (dataset !== undefined) knownDataset(dataset, p.contracts);
      const runs = await listRuns(p.pool, { dataset });
      if (args.flags.json) {
        ctx.out(JSON.stringify(runs, null, 2));
        return 0;
      }
      ctx.out(
        table(
          runs.map((r) => ({
            status: r.status,
            dataset: r.dataset ?? '',
            path: r.path,
            read: r.rows_read,
            silver: r.rows_silver,
            quarantined: r.rows_quarantined,
            duplicates: r.duplicates_in_file === null ? null : (r.duplicates_in_file ?? 0) + (r.duplicates_cross_file ?? 0),
            ms: r.duration_ms,
            started: r.started_at,
            error: r.error ?? '',
          })),
        ),
      );
      return 0;
    });
  },
};
