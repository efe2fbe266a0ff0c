import type pg from 'pg';
import { type Env, extractSettings, type SourceName, sourceSettings } from '../config';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import { extractSource, type SourceReport } from './extract';

/**
 * One scheduled extraction of a source (functions/extractPipedrive.ts, functions/extractZendesk.ts):
 * every entity from its watermark. A source whose base URL is not set is off: logged, nothing
 * done. Each entity run writes a `medallion.extract` trace (status, failure_kind, records,
 * watermarks) that the extract alert rule reads (infra/app/monitoring.bicep). When an entity
 * failed, this throws one line naming them, so the invocation shows as failed as well.
 */
export async function scheduledExtract(source: SourceName, platform: { lake: Lake; pool: pg.Pool; log: Logger; workRoot: string }, env: Env = process.env): Promise<SourceReport | undefined> {
  const settings = sourceSettings(source, env);
  if (!settings) {
    platform.log.info(`${source} extraction is off (${source === 'pipedrive' ? 'PIPEDRIVE_BASE_URL' : 'ZENDESK_BASE_URL'} is empty)`);
    return undefined;
  }
  const report = await extractSource(platform, settings, extractSettings(env));
  const failed = report.entities.filter((e) => e.status === 'failed');
  if (report.stopped) throw new Error(`${source} extraction stopped (${report.stopped.kind}): ${report.stopped.message}`);
  if (failed.length) throw new Error(`${source} extraction: ${failed.map((e) => `${e.entity} failed (${e.failureKind}): ${e.error}`).join('; ')}`);
  return report;
}
