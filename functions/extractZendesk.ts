import { app, type InvocationContext, type Timer } from '@azure/functions';
import { scheduledExtract } from '../shared/sources/scheduled';
import { platformFor } from './support/platform';

/**
 * Zendesk → bronze on a schedule (ZENDESK_EXTRACT_SCHEDULE, NCRONTAB, UTC; every 30 minutes at :15
 * and :45 by default): every entity from its watermark, as `medallion extract zendesk` does
 * (shared/sources/extract.ts). Off while ZENDESK_BASE_URL is empty. A failed entity fails the
 * invocation (after its run is recorded in ops.extract_runs); the next schedule continues from
 * the watermark.
 */
export async function extractZendesk(timer: Timer, context: InvocationContext): Promise<void> {
  const platform = await platformFor(context);
  if (timer.isPastDue) context.warn('extractZendesk: this run is late (the host was down or busy at the scheduled time)');
  await scheduledExtract('zendesk', platform, process.env);
}

app.timer('extractZendesk', {
  schedule: '%ZENDESK_EXTRACT_SCHEDULE%',
  handler: extractZendesk,
});
