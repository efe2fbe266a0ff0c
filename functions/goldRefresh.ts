import { app, type InvocationContext, type Timer } from '@azure/functions';
import { refreshGold } from '../shared/gold/service';
import { platformFor } from './support/platform';

/**
 * Full rebuild of every dataset's gold tables from silver, then the Parquet export to the `gold`
 * container. Nightly by default (GOLD_REFRESH_SCHEDULE, NCRONTAB, UTC). Each rebuild runs in one
 * transaction holding the dataset's advisory lock, so it never interleaves with a file load; a
 * failure throws (the run shows as failed and the next schedule retries; gold stays as it was).
 */
export async function goldRefresh(timer: Timer, context: InvocationContext): Promise<void> {
  const platform = await platformFor(context);
  if (timer.isPastDue) context.warn('goldRefresh: this run is late (the host was down or busy at the scheduled time)');
  const reports = await refreshGold({ ...platform, env: process.env }, { full: true });
  for (const r of reports) {
    context.info(
      `medallion.gold_refresh ${JSON.stringify({
        dataset: r.dataset,
        mode: r.refresh?.mode ?? 'none',
        rows_in: r.refresh?.rowsIn ?? 0,
        refresh_ms: r.refresh?.ms ?? 0,
        export_ms: r.export?.ms ?? 0,
        files: r.export?.files.map((f) => `gold/${f.path}`) ?? [],
      })}`,
    );
  }
}

app.timer('goldRefresh', {
  schedule: '%GOLD_REFRESH_SCHEDULE%',
  handler: goldRefresh,
});
