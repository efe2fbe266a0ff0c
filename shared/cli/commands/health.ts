import { runHealthChecks } from '../../ops/health';
import { parseArgs } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';

export const healthCommand: CliCommand = {
  name: 'health',
  usage: 'medallion health [--json]',
  summary: 'health checks (freshness, row-count variance, duplicate keys, stuck runs, quarantine rate, failed files); stored in ops.health_checks; exit 1 if any fails',
  async run(argv, ctx) {
    const args = parseArgs(argv, ['json']);
    return withPlatform(ctx, async (p, env) => {
      const run = await runHealthChecks(p, { env });
      if (args.flags.json) {
        ctx.out(JSON.stringify(run, null, 2));
      } else {
        ctx.out(
          table(
            run.results.map((r) => ({
              status: r.status === 'fail' ? 'FAIL' : 'pass',
              check: r.check,
              dataset: r.dataset ?? '',
              target: r.target ?? '',
              value: r.value,
              threshold: r.threshold,
              message: r.message,
            })),
          ),
        );
        ctx.out(`${run.results.length - run.failed} of ${run.results.length} check(s) passed${run.failed ? `, ${run.failed} FAILED` : ''} (run ${run.runId}, in ops.health_checks)`);
      }
      return run.failed > 0 ? 1 : 0;
    });
  },
};
