import { app, type InvocationContext, type Timer } from '@azure/functions';
import { refreshGold } from '../shared/gold/service';
import { platformFor } from './support/platform';

/**
 * Full rebuild of every gold model from silver, then the Parquet export to the `gold` container.
 * Nightly by default (GOLD_REFRESH_SCHEDULE, NCRONTAB, UTC). The rebuild runs in one transaction
 * holding the advisory locks of every dataset the models read, so it never interleaves with a file load; a
 * failure throws (the run shows as failed and the next schedule retries; gold stays as it was).
 */
export async function goldRefresh(timer: Timer, context: InvocationContext): Promise<void> {
  const platform = await platformFor(context);
  if (timer.isPastDue) context.warn('goldRefresh: this run is late (the host was down or busy at the scheduled time)');
  const report = await refreshGold({ ...platform, env: process.env }, { full: true });
  for (const r of report.refreshes) {
    context.info(`medallion.gold_refresh ${JSON.stringify({ dataset: r.dataset, mode: r.mode, models: r.models, refresh_ms: r.ms })}`);
  }
  for (const e of report.exports) {
    context.info(`medallion.gold_export ${JSON.stringify({ dataset: e.dataset, export_ms: e.ms, files: e.files.map((f) => `gold/${f.path}`) })}`);
  }
}

app.timer('goldRefresh', {
  schedule: '%GOLD_REFRESH_SCHEDULE%',
  handler: goldRefresh,
});
