import type pg from 'pg';
import { type Env, SOURCE_NAMES, sourceSettings } from '../config';
import { ENTITIES } from './entities';
import { ensureExtractSchema } from './schema';

/**
 * The watermark part of the API sources' health checks (issue 11, point 5): for every entity of
 * every configured source, how long ago a run last read it to its end (ops.extract_watermarks
 * last_succeeded_at; the watermark itself only moves when records change, so a quiet entity would
 * look stale by it). Fails when that is longer than the entity's limit, or when a configured
 * entity was never extracted. Results have the shape of shared/ops/health.ts HealthResult, so
 * runHealthChecks can store and log them with the others:
 *
 *   await guarded('extract_freshness', () => checkExtractFreshness(p.pool, env));
 *
 * Limits: ops.dataset_expectations.max_age_minutes of the row named '<source>.<entity>'
 * (e.g. 'zendesk.tickets'), else EXTRACT_FRESHNESS_DEFAULT_MINUTES (120: four missed runs of the
 * default 30-minute schedules).
 */
export const EXTRACT_FRESHNESS_DEFAULT_MINUTES = 120;

export interface ExtractHealthResult {
  check: 'extract_freshness';
  /** The source (pipedrive, zendesk). */
  dataset: string;
  /** scope/entity, e.g. acme/deals. */
  target: string;
  status: 'pass' | 'fail';
  value: number | null;
  threshold: number | null;
  message: string;
}

function minutesText(m: number): string {
  return m < 120 ? `${Math.round(m)} min` : m < 2880 ? `${(m / 60).toFixed(1)} h` : `${(m / 1440).toFixed(1)} days`;
}

export async function checkExtractFreshness(pool: pg.Pool, env: Env = process.env, now: number = Date.now()): Promise<ExtractHealthResult[]> {
  const configured = SOURCE_NAMES.map((s) => ({ source: s, settings: sourceSettings(s, env) })).filter((x) => x.settings !== undefined);
  if (!configured.length) return [];
  await ensureExtractSchema(pool);
  const limits = new Map<string, number>();
  const exp = await pool.query<{ dataset: string; max_age_minutes: number | null }>(
    `SELECT dataset, max_age_minutes FROM ops.dataset_expectations WHERE dataset LIKE 'pipedrive.%' OR dataset LIKE 'zendesk.%'`,
  ).catch(() => ({ rows: [] as { dataset: string; max_age_minutes: number | null }[] })); // the table exists once the health checks ran
  for (const r of exp.rows) if (r.max_age_minutes !== null) limits.set(r.dataset, r.max_age_minutes);
  const marks = await pool.query<{ source: string; scope: string; entity: string; watermark: Date | null; last_succeeded_at: Date | null }>(
    `SELECT source, scope, entity, watermark, last_succeeded_at FROM ops.extract_watermarks`,
  );
  const byKey = new Map(marks.rows.map((r) => [`${r.source}/${r.scope}/${r.entity}`, r]));
  const results: ExtractHealthResult[] = [];
  for (const { source, settings } of configured) {
    for (const spec of ENTITIES[source]) {
      const limit = limits.get(`${source}.${spec.name}`) ?? EXTRACT_FRESHNESS_DEFAULT_MINUTES;
      const row = byKey.get(`${source}/${settings!.scope}/${spec.name}`);
      const target = `${settings!.scope}/${spec.name}`;
      if (!row?.last_succeeded_at) {
        results.push({ check: 'extract_freshness', dataset: source, target, status: 'fail', value: null, threshold: limit, message: `${source} ${spec.name} of ${settings!.scope} was never extracted completely: run medallion extract ${source} (or check the ${source === 'pipedrive' ? 'extractPipedrive' : 'extractZendesk'} timer)` });
        continue;
      }
      const age = (now - row.last_succeeded_at.getTime()) / 60_000;
      const fail = age > limit;
      const mark = row.watermark ? `, watermark ${row.watermark.toISOString()}` : '';
      results.push({
        check: 'extract_freshness',
        dataset: source,
        target,
        status: fail ? 'fail' : 'pass',
        value: Math.round(age * 10) / 10,
        threshold: limit,
        message: `last complete extraction ${minutesText(age)} ago${fail ? `, more than the ${minutesText(limit)} allowed (see ops.extract_runs for the failures)` : ''}${mark}`,
      });
    }
  }
  return results;
}
