import type pg from 'pg';
import { ConfigError, type Env, SETTINGS, SOURCE_NAMES, type SourceName, type SourceSettings, sourceSettings } from '../config';
import { qi } from '../db/schema';
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
  check: 'extract_freshness' | 'extract_count_variance';
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

function configuredSources(env: Env): { source: SourceName; settings: SourceSettings }[] {
  return SOURCE_NAMES.map((s) => ({ source: s, settings: sourceSettings(s, env) })).filter((x): x is { source: SourceName; settings: SourceSettings } => x.settings !== undefined);
}

export async function checkExtractFreshness(pool: pg.Pool, env: Env = process.env, now: number = Date.now()): Promise<ExtractHealthResult[]> {
  const configured = configuredSources(env);
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
      const row = byKey.get(`${source}/${settings.scope}/${spec.name}`);
      const target = `${settings.scope}/${spec.name}`;
      if (!row?.last_succeeded_at) {
        results.push({ check: 'extract_freshness', dataset: source, target, status: 'fail', value: null, threshold: limit, message: `${source} ${spec.name} of ${settings.scope} was never extracted completely: run medallion extract ${source} (or check the ${source === 'pipedrive' ? 'extractPipedrive' : 'extractZendesk'} timer)` });
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

/**
 * The count part of the API sources' health checks (issue 11 point 5, seed 004 "record counts >
 * 10% variance"): does what an extraction wrote to bronze arrive in staging? For every entity of
 * every configured source, the latest finished run (succeeded, failed or abandoned) that wrote
 * records (ops.extract_runs.records, the lines of its bronze files, listed in `parts`):
 *
 *   landed   = rows of stg_<source>.<entity>_raw from those files (by scope and blob_path)
 *              + their lines in its quarantine table (landed, but rejected: still accounted for)
 *   variance = |records − landed| / records, in percent
 *
 * A file the ledger (ops.file_runs) calls a re-delivery (an unchanged snapshot: the same bytes as a
 * file that already landed, every line a duplicate) landed as that earlier file: its rows are
 * counted there. Fails above EXTRACT_COUNT_VARIANCE_PERCENT (default 10). A run some of whose files
 * have no succeeded ledger run yet is pending (a pass, value NULL) for EXTRACT_COUNT_GRACE_MINUTES
 * after it finished (the bronze trigger may still be on its way); after that those files count as
 * landed with nothing. An entity with no such run yet passes (nothing to compare). Dataset = the
 * source, target = scope/entity, as extract_freshness.
 */
export const EXTRACT_COUNT_VARIANCE_DEFAULT_PERCENT = 10;
export const EXTRACT_COUNT_GRACE_MINUTES = 30;

/** EXTRACT_COUNT_VARIANCE_PERCENT: a percentage between 0 and 100 (default 10). */
export function extractCountVariancePercent(env: Env = process.env): number {
  const raw = env[SETTINGS.extractCountVariancePercent]?.trim();
  if (!raw) return EXTRACT_COUNT_VARIANCE_DEFAULT_PERCENT;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new ConfigError(`${SETTINGS.extractCountVariancePercent} must be a percentage between 0 and 100 (e.g. 10), got '${raw}'`);
  return n;
}

interface LatestRun {
  entity: string;
  run_id: string;
  status: string;
  records: string;
  parts: string[];
  finished_at: Date;
}

interface LedgerState {
  path: string;
  status: string;
  run_id: string;
  dataset: string | null;
  content_hash: string | null;
  redelivery_of: string | null;
}

const count = (n: number) => n.toLocaleString('en');

export async function checkExtractCountVariance(pool: pg.Pool, env: Env = process.env, now: number = Date.now()): Promise<ExtractHealthResult[]> {
  const configured = configuredSources(env);
  if (!configured.length) return [];
  const threshold = extractCountVariancePercent(env);
  await ensureExtractSchema(pool);
  const results: ExtractHealthResult[] = [];
  for (const { source, settings } of configured) {
    const scope = settings.scope;
    const names = ENTITIES[source].map((e) => e.name);
    const latest = await pool.query<LatestRun>(
      `SELECT k.entity, r.run_id, r.status, r.records::text AS records, r.parts, r.finished_at
       FROM unnest($3::text[]) AS k(entity)
       CROSS JOIN LATERAL (
         SELECT run_id, status, records, parts, finished_at FROM ops.extract_runs
         WHERE source = $1 AND scope = $2 AND entity = k.entity AND status <> 'running' AND records > 0
         ORDER BY started_at DESC LIMIT 1
       ) r`,
      [source, scope, names],
    );
    const runs = new Map(latest.rows.map((r) => [r.entity, r]));
    // The ledger state of every file of those runs (a succeeded run of the path first).
    const paths = latest.rows.flatMap((r) => r.parts);
    const ledger = await pool.query<LedgerState>(
      `SELECT DISTINCT ON (path) path, status, run_id::text AS run_id, dataset, content_hash, redelivery_of::text AS redelivery_of
       FROM ops.file_runs WHERE path = ANY($1::text[])
       ORDER BY path, (status = 'succeeded') DESC, started_at DESC`,
      [paths],
    );
    const byPath = new Map(ledger.rows.map((r) => [r.path, r]));
    // Re-deliveries landed as the file that first brought their bytes (found as findLanded does).
    const redelivered = ledger.rows.filter((r) => r.status === 'succeeded' && r.redelivery_of);
    const originals = new Map<string, string>();
    if (redelivered.length) {
      const o = await pool.query<{ run_id: string; path: string }>(
        `SELECT f.run_id::text AS run_id, f.path
         FROM unnest($1::text[], $2::text[], $3::uuid[]) AS k(dataset, content_hash, run_id)
         JOIN ops.file_runs f ON f.dataset = k.dataset AND f.content_hash = k.content_hash AND f.run_id = k.run_id AND f.status = 'succeeded'`,
        [redelivered.map((r) => r.dataset), redelivered.map((r) => r.content_hash), redelivered.map((r) => r.redelivery_of)],
      );
      for (const r of o.rows) originals.set(r.run_id, r.path);
    }

    for (const entity of names) {
      const target = `${scope}/${entity}`;
      const table = `stg_${source}.${entity}_raw`;
      const run = runs.get(entity);
      if (!run) {
        results.push({ check: 'extract_count_variance', dataset: source, target, status: 'pass', value: null, threshold, message: 'no finished extraction run has written records yet: nothing to compare' });
        continue;
      }
      const extracted = Number(run.records);
      const notIngested: string[] = [];
      const landedAs = new Map<string, string>(); // part -> the path its lines are staged under
      for (const part of run.parts) {
        const l = byPath.get(part);
        if (!l || l.status !== 'succeeded') notIngested.push(part);
        else landedAs.set(part, l.redelivery_of ? (originals.get(l.redelivery_of) ?? part) : part);
      }
      const age = (now - run.finished_at.getTime()) / 60_000;
      const runText = `run ${run.run_id} (${run.status}, finished ${minutesText(Math.max(0, age))} ago)`;
      if (notIngested.length && age <= EXTRACT_COUNT_GRACE_MINUTES) {
        results.push({
          check: 'extract_count_variance',
          dataset: source,
          target,
          status: 'pass',
          value: null,
          threshold,
          message: `pending: ${notIngested.length} of ${run.parts.length} file(s) of ${runText} not ingested yet; judged once they are, or ${EXTRACT_COUNT_GRACE_MINUTES} min after the run`,
        });
        continue;
      }
      const landedPaths = [...new Set(landedAs.values())];
      const staged = new Map<string, number>();
      const quarantined = new Map<string, number>();
      if (landedPaths.length) {
        const t = await pool.query<{ t: string | null; q: string | null }>(`SELECT to_regclass($1) AS t, to_regclass($2) AS q`, [qi(`stg_${source}`) + '.' + qi(`${entity}_raw`), qi(`stg_${source}`) + '.' + qi(`${entity}_raw_quarantine`)]);
        if (t.rows[0]!.t) {
          const r = await pool.query<{ blob_path: string; n: string }>(
            `SELECT blob_path, count(*)::text AS n FROM ${t.rows[0]!.t}
             WHERE (scope, blob_path) IN (SELECT * FROM unnest($1::text[], $2::text[])) GROUP BY blob_path`,
            // A re-delivery's first file may be of another scope (the same bytes from another account).
            [landedPaths.map((p) => /(?:^|\/)scope=([^/]+)\//.exec(p)?.[1] ?? scope), landedPaths],
          );
          for (const x of r.rows) staged.set(x.blob_path, Number(x.n));
        }
        if (t.rows[0]!.q) {
          const r = await pool.query<{ source_file: string; n: string }>(
            `SELECT source_file, count(DISTINCT source_line)::text AS n FROM ${t.rows[0]!.q} WHERE source_file = ANY($1::text[]) GROUP BY source_file`,
            [landedPaths],
          );
          for (const x of r.rows) quarantined.set(x.source_file, Number(x.n));
        }
      }
      let rows = 0;
      let rejected = 0;
      for (const p of landedAs.values()) {
        rows += staged.get(p) ?? 0;
        rejected += quarantined.get(p) ?? 0;
      }
      const variance = (Math.abs(extracted - (rows + rejected)) / extracted) * 100;
      const value = Math.round(variance * 100) / 100;
      const fail = variance > threshold;
      const missingFiles = notIngested.length
        ? `; ${notIngested.length} of its ${run.parts.length} file(s) never landed (e.g. bronze/${notIngested[0]}): look the path up in ops.file_runs (failed: medallion replay bronze/<path> after the fix; absent: the bronze trigger never ran it)`
        : '';
      const why = fail && !notIngested.length ? `: ${rows + rejected < extracted ? 'lines of its files are missing from' : 'more rows than records written are in'} ${table}; compare ops.extract_runs.parts of the run with ops.file_runs and the table` : '';
      results.push({
        check: 'extract_count_variance',
        dataset: source,
        target,
        status: fail ? 'fail' : 'pass',
        value,
        threshold,
        message: `${runText}: ${count(extracted)} records written to bronze in ${run.parts.length} file(s), ${count(rows)} staged in ${table} + ${count(rejected)} quarantined, variance ${value} %${fail ? `, more than the ${threshold} % allowed${why}` : ''}${missingFiles}`,
      });
    }
  }
  return results;
}
