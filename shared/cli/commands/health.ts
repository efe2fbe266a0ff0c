import { HEALTH_CHECKS, type HealthCheckName, runHealthChecks } from '../../ops/health';
import { noPositionals, parseArgs } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { table } from '../format';

/** One short line per check (shared/ops/health.ts has the definitions; docs/operations.md and docs/sources.md the details). */
export const HEALTH_CHECK_LINES: Record<HealthCheckName, string> = {
  freshness: 'minutes since a file of the dataset last landed (skip: none ever arrived; API staging: see extract_freshness)',
  row_count_variance: 'rows of the latest complete day against the median of the 7 days before',
  duplicate_keys: 'silver ids / dedup keys and gold and core primary keys on more than one row',
  stuck_runs: "ledger runs 'running' for longer than stuck_after_minutes",
  quarantine_rate: 'rows quarantined / rows read in the last 24 h',
  failed_files: 'files that failed in the last 24 h and have not succeeded since',
  extract_freshness: 'per API source entity (Pipedrive, Zendesk): minutes since a run last read it to its end',
  extract_count_variance: 'per API source entity: records each run wrote to bronze against the rows staged from its files',
};

export const healthCommand: CliCommand = {
  name: 'health',
  usage: 'medallion health [--json]',
  summary: `run the health checks, store them in ops.health_checks and print them; exit 1 if any fails (skip: a dataset with no file yet). Checks:${HEALTH_CHECKS.map((c) => `\n        ${c}: ${HEALTH_CHECK_LINES[c]}`).join('')}`,
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion health', flags: { json: 'boolean' } });
    noPositionals(args, 'medallion health');
    return withPlatform(ctx, async (p, env) => {
      const run = await runHealthChecks(p, { env });
      if (args.flags.json) {
        ctx.out(JSON.stringify(run, null, 2));
      } else {
        ctx.out(
          table(
            run.results.map((r) => ({
              status: r.status === 'fail' ? 'FAIL' : r.notInUse ? 'skip' : 'pass',
              check: r.check,
              dataset: r.dataset ?? '',
              target: r.target ?? '',
              value: r.value,
              threshold: r.threshold,
              message: r.message,
            })),
          ),
        );
        const notInUse = run.results.filter((r) => r.notInUse).map((r) => r.dataset);
        const skipped = notInUse.length ? `; not in use (no file yet, skipped): ${notInUse.join(', ')}` : '';
        ctx.out(`${run.results.length - run.failed} of ${run.results.length} check(s) passed${run.failed ? `, ${run.failed} FAILED` : ''}${skipped} (run ${run.runId}, in ops.health_checks)`);
      }
      return run.failed > 0 ? 1 : 0;
    });
  },
};
