import { app, type InvocationContext, type Timer } from '@azure/functions';
import { runHealthChecks } from '../shared/ops/health';
import { platformFor } from './support/platform';

/**
 * Health checks on a schedule (HEALTH_CHECK_SCHEDULE, NCRONTAB, UTC; hourly by default): the
 * checks of shared/ops/health.ts, stored in ops.health_checks and logged one `medallion.health`
 * trace per result (warning when it fails) — what the alert rule and the workbook read. A failing
 * check does not fail the function: the function fails only when the checks cannot run.
 */
export async function healthCheck(timer: Timer, context: InvocationContext): Promise<void> {
  const platform = await platformFor(context);
  if (timer.isPastDue) context.warn('healthCheck: this run is late (the host was down or busy at the scheduled time)');
  const run = await runHealthChecks(platform, { env: process.env });
  context.info(`medallion.health_run ${JSON.stringify({ run_id: run.runId, checked_at: run.checkedAt, checks: run.results.length, failed: run.failed })}`);
}

app.timer('healthCheck', {
  schedule: '%HEALTH_CHECK_SCHEDULE%',
  handler: healthCheck,
});
