import { app, type InvocationContext, type Timer } from '@azure/functions';
import { scheduledExtract } from '../shared/sources/scheduled';
import { platformFor } from './support/platform';

/**
 * Pipedrive → bronze on a schedule (PIPEDRIVE_EXTRACT_SCHEDULE, NCRONTAB, UTC; every 30 minutes by
 * default): every entity from its watermark, as `medallion extract pipedrive` does
 * (shared/sources/extract.ts). Off while PIPEDRIVE_BASE_URL is empty. A failed entity fails the
 * invocation (after its run is recorded in ops.extract_runs); the next schedule continues from
 * the watermark.
 */
export async function extractPipedrive(timer: Timer, context: InvocationContext): Promise<void> {
  const platform = await platformFor(context);
  if (timer.isPastDue) context.warn('extractPipedrive: this run is late (the host was down or busy at the scheduled time)');
  await scheduledExtract('pipedrive', platform, process.env);
}

app.timer('extractPipedrive', {
  schedule: '%PIPEDRIVE_EXTRACT_SCHEDULE%',
  handler: extractPipedrive,
});
