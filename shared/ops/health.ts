import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { type Env, healthQuarantineRate, maxFileAttempts, SOURCE_NAMES } from '../config';
import { type Contract, tableOf } from '../contracts/contract';
import { qi, silverTable } from '../db/schema';
import type { Platform } from '../platform';
import { checkExtractCountVariance, checkExtractFreshness } from '../sources/health';
import { ensureOpsSchema } from './schema';

/**
 * Health checks of the platform (the monitoring table of the design: freshness, record-count
 * variance, duplicates, plus stuck runs, quarantine rate and failed files). Each check yields one
 * result per dataset (or per table); every result is stored in ops.health_checks and logged as a
 * `medallion.health` record (warn when it fails), which the alert rule and the workbook read.
 *
 * Definitions (thresholds per dataset in ops.dataset_expectations, see shared/ops/schema.ts):
 * - freshness: minutes since the newest succeeded file of the dataset finished (ledger
 *   finished_at); fail when above max_age_minutes (default 26 h), or when files of the dataset
 *   ran but none ever succeeded. A dataset with no run in the ledger at all (no file of it ever
 *   arrived) is not in use: a pass marked notInUse (`skip` in `medallion health`, logged as
 *   information, so no alert), judged from its first file on.
 * - row_count_variance: daily rows read (succeeded runs, re-deliveries excluded, by UTC day of
 *   finished_at) of the latest COMPLETE day with data (today is still filling up, so it is not
 *   compared) against the median of the days with data among the 7 days before it; fail when
 *   |latest - median| / median > max_count_variance (default 0.10). Pass (skipped) with fewer
 *   than 3 such days.
 * - duplicate_keys: silver: 'first' datasets, ids (dedup idColumn) on more than one row;
 *   'latest' datasets, dedup key values on more than one row. Gold: for every table in schema
 *   gold, values of its primary key on more than one row (the key read from pg_index, remembered
 *   in ops.health_gold_keys so a table whose key was dropped is still checked). Must be 0.
 * - stuck_runs: ledger runs of the dataset 'running' for longer than stuck_after_minutes
 *   (default 60). Must be 0.
 * - quarantine_rate: rows quarantined / rows read of the dataset's succeeded runs (re-deliveries
 *   excluded) that finished in the last 24 h; fail above max_quarantine_rate (default the
 *   HEALTH_QUARANTINE_RATE setting, 0.05). Pass with no rows.
 * - failed_files: file versions of the dataset whose run failed (status failed) in the last 24 h
 *   and whose path has not succeeded since — bad_file, bad_contract, or transient once the
 *   pipeline gave up (attempts >= MAX_FILE_ATTEMPTS; a transient failure still being retried is
 *   not counted). Must be 0 (fix, then `medallion replay --failed`).
 * - extract_freshness: the API sources (shared/sources/health.ts): for every entity of every
 *   configured source, minutes since a run last read it to its end; dataset = the source, target
 *   = scope/entity. The staging datasets of those sources (`<source>_<entity>`) are not judged by
 *   `freshness`: their bronze files come when an extraction runs, so their freshness is the
 *   extraction's.
 * - extract_count_variance: the API sources (shared/sources/health.ts): for every entity of every
 *   configured source, the records each finished run wrote to bronze against the rows staged
 *   (+ quarantined) from those files, every run until all it wrote has landed; fail above
 *   EXTRACT_COUNT_VARIANCE_PERCENT (default 10 %), pending (a pass) while the files may still be
 *   on their way.
 */
export type HealthCheckName = 'freshness' | 'row_count_variance' | 'duplicate_keys' | 'stuck_runs' | 'quarantine_rate' | 'failed_files' | 'extract_freshness' | 'extract_count_variance';

export const HEALTH_CHECKS: HealthCheckName[] = ['freshness', 'row_count_variance', 'duplicate_keys', 'stuck_runs', 'quarantine_rate', 'failed_files', 'extract_freshness', 'extract_count_variance'];

export interface HealthResult {
  check: HealthCheckName;
  dataset: string | null;
  /** What was checked when a dataset has several (a table for duplicate_keys), else null. */
  target: string | null;
  status: 'pass' | 'fail';
  value: number | null;
  threshold: number | null;
  message: string;
  /**
   * Set (on its freshness result) for a dataset with no run in the ledger at all: nothing of it
   * ever arrived, so it is not judged (a pass; `medallion health` shows it as `skip`).
   */
  notInUse?: boolean;
}

export interface HealthRun {
  runId: string;
  checkedAt: string;
  results: HealthResult[];
  failed: number;
}

export const HEALTH_DEFAULTS = {
  maxAgeMinutes: 26 * 60,
  stuckAfterMinutes: 60,
  maxCountVariance: 0.1,
  /** Days with data needed before the variance check compares anything. */
  minHistoryDays: 3,
  historyDays: 7,
  /** ops.health_checks rows older than this are removed by each run. */
  keepDays: 90,
} as const;

interface Expectations {
  maxAgeMinutes: number;
  stuckAfterMinutes: number;
  maxQuarantineRate: number;
  maxCountVariance: number;
}

async function expectations(pool: pg.Pool, datasets: string[], env: Env): Promise<Map<string, Expectations>> {
  const rows = (await pool.query(`SELECT * FROM ops.dataset_expectations`)).rows as Record<string, number | null | string>[];
  const byName = new Map(rows.map((r) => [String(r.dataset), r]));
  const qRate = healthQuarantineRate(env);
  const out = new Map<string, Expectations>();
  for (const d of datasets) {
    const r = byName.get(d);
    const num = (v: unknown, fallback: number) => (v === null || v === undefined ? fallback : Number(v));
    out.set(d, {
      maxAgeMinutes: num(r?.max_age_minutes, HEALTH_DEFAULTS.maxAgeMinutes),
      stuckAfterMinutes: num(r?.stuck_after_minutes, HEALTH_DEFAULTS.stuckAfterMinutes),
      maxQuarantineRate: num(r?.max_quarantine_rate, qRate),
      maxCountVariance: num(r?.max_count_variance, HEALTH_DEFAULTS.maxCountVariance),
    });
  }
  return out;
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

function result(check: HealthCheckName, dataset: string | null, fail: boolean, value: number | null, threshold: number | null, message: string, target: string | null = null): HealthResult {
  return { check, dataset, target, status: fail ? 'fail' : 'pass', value, threshold, message };
}

function minutesText(m: number): string {
  if (m < 120) return `${Math.round(m)} min`;
  if (m < 48 * 60) return `${(m / 60).toFixed(1)} h`;
  return `${(m / 1440).toFixed(1)} days`;
}

/** The API source whose extractions feed a staging dataset (its files are under `<source>/`), if any. */
function apiSourceOf(c: Contract): string | undefined {
  return c.dedup.mode === 'line' ? SOURCE_NAMES.find((s) => c.bronzePrefix === `${s}/`) : undefined;
}

export async function checkFreshness(pool: pg.Pool, datasets: string[], exp: Map<string, Expectations>, contracts: Contract[] = []): Promise<HealthResult[]> {
  // Every run of the dataset, whatever its status: one that failed (or is still running) means
  // files do arrive, so a dataset without a succeeded one fails; only a dataset with no run at all
  // is not in use.
  const res = await pool.query<{ dataset: string; newest: Date | null; age: number | null; runs: number }>(
    `SELECT dataset, count(*)::int AS runs,
       max(finished_at) FILTER (WHERE status = 'succeeded') AS newest,
       extract(epoch FROM now() - max(finished_at) FILTER (WHERE status = 'succeeded')) / 60 AS age
     FROM ops.file_runs WHERE dataset = ANY($1::text[]) GROUP BY dataset`,
    [datasets],
  );
  const byName = new Map(res.rows.map((r) => [r.dataset, r]));
  return datasets.map((d) => {
    const limit = exp.get(d)!.maxAgeMinutes;
    const r = byName.get(d);
    const contract = contracts.find((c) => c.name === d);
    const source = contract ? apiSourceOf(contract) : undefined;
    if (source) return result('freshness', d, false, null, null, `not judged by files: ${source} files come when an extraction runs (see extract_freshness of ${source})`);
    if (!r) return { ...result('freshness', d, false, null, limit, 'not in use: no file of this dataset has arrived (no run in the ledger); judged from its first file on'), notInUse: true };
    if (r.newest === null || r.age === null) {
      return result('freshness', d, true, null, limit, `no file has landed: ${r.runs} run(s) in the ledger, none succeeded (see medallion status --dataset ${d})`);
    }
    const age = Math.max(0, Number(r.age));
    const stale = age > limit;
    return result(
      'freshness',
      d,
      stale,
      round(age, 1),
      limit,
      `newest file landed ${minutesText(age)} ago (${r.newest.toISOString()})${stale ? `, more than the ${minutesText(limit)} allowed` : ''}`,
    );
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function checkRowCountVariance(pool: pg.Pool, datasets: string[], exp: Map<string, Expectations>): Promise<HealthResult[]> {
  // Complete UTC days only (before today), a window wide enough for the latest day and its 7 before.
  const res = await pool.query<{ dataset: string; day: string; rows: number }>(
    `SELECT dataset, to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, sum(rows_read)::float8 AS rows
     FROM ops.file_runs
     WHERE status = 'succeeded' AND redelivery_of IS NULL AND dataset = ANY($1::text[])
       AND finished_at < (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
       AND finished_at >= now() - interval '45 days'
     GROUP BY 1, 2 ORDER BY 1, 2 DESC`,
    [datasets],
  );
  return datasets.map((d) => {
    const limit = exp.get(d)!.maxCountVariance;
    const days = res.rows.filter((r) => r.dataset === d).map((r) => ({ day: r.day, rows: Number(r.rows) }));
    const latest = days[0];
    if (!latest) return result('row_count_variance', d, false, null, limit, 'skipped: no complete day of data yet');
    const from = new Date(Date.parse(`${latest.day}T00:00:00Z`) - HEALTH_DEFAULTS.historyDays * 86_400_000).toISOString().slice(0, 10);
    const history = days.slice(1).filter((x) => x.day >= from);
    if (history.length < HEALTH_DEFAULTS.minHistoryDays) {
      return result('row_count_variance', d, false, null, limit, `skipped: ${history.length} day(s) of history before ${latest.day}, at least ${HEALTH_DEFAULTS.minHistoryDays} needed`);
    }
    const m = median(history.map((x) => x.rows));
    if (m === 0) {
      const fail = latest.rows > 0;
      return result('row_count_variance', d, fail, null, limit, `${latest.day}: ${latest.rows} rows read against a 7-day median of 0`);
    }
    const v = (latest.rows - m) / m;
    const fail = Math.abs(v) > limit;
    return result(
      'row_count_variance',
      d,
      fail,
      round(v),
      limit,
      `${latest.day}: ${latest.rows} rows read, ${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}% against the median ${m} of ${history.length} day(s) before${fail ? ` (more than ±${(limit * 100).toFixed(0)}%)` : ''}`,
    );
  });
}

async function tableExists(pool: pg.Pool, qualified: string): Promise<boolean> {
  return (await pool.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qualified])).rows[0].ok as boolean;
}

async function duplicateCount(pool: pg.Pool, table: string, columns: string[]): Promise<{ keys: number; rows: number }> {
  const cols = columns.map(qi).join(', ');
  const res = await pool.query(
    `SELECT count(*)::bigint AS keys, coalesce(sum(n), 0)::bigint AS rows FROM (SELECT count(*) AS n FROM ${table} GROUP BY ${cols} HAVING count(*) > 1) d`,
  );
  return { keys: Number(res.rows[0].keys), rows: Number(res.rows[0].rows) };
}

async function silverKeyColumns(pool: pg.Pool, contract: Contract): Promise<string[]> {
  if (contract.dedup.mode === 'first') return [contract.dedup.idColumn];
  // 'line' (staging): one row per line of each file; the same record in several files is expected.
  if (contract.dedup.mode === 'line') return ['scope', 'blob_path', 'line_no'];
  // 'latest': the business key columns, when silver has them all (else the id derived from them).
  const res = await pool.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [silverTable(contract)],
  );
  const have = new Set(res.rows.map((r) => r.attname));
  return contract.dedup.key.every((k) => have.has(k)) ? contract.dedup.key : [contract.dedup.idColumn];
}

export async function checkDuplicateKeys(pool: pg.Pool, contracts: Contract[]): Promise<HealthResult[]> {
  const out: HealthResult[] = [];
  for (const c of contracts) {
    const table = silverTable(c);
    const t = tableOf(c);
    const target = `${t.schema}.${t.name}`;
    if (!(await tableExists(pool, table))) {
      out.push(result('duplicate_keys', c.name, false, 0, 0, `${target} does not exist yet`, target));
      continue;
    }
    const cols = await silverKeyColumns(pool, c);
    const d = await duplicateCount(pool, table, cols);
    out.push(
      result('duplicate_keys', c.name, d.keys > 0, d.keys, 0, d.keys ? `${d.keys} value(s) of (${cols.join(', ')}) on more than one row (${d.rows} rows)` : `no duplicate (${cols.join(', ')})`, target),
    );
  }
  // Gold and core: every table of schemas gold and core, on its primary key (or the one it had when last seen).
  const models = (await tableExists(pool, 'ops.gold_models')) ? `(SELECT dataset FROM ops.gold_models m WHERE m.table_name = c.relname)` : 'NULL::text';
  const tables = await pool.query<{ schema: string; table_name: string; pk: string[] | null; remembered: string[] | null; dataset: string | null }>(
    `SELECT n.nspname AS schema, c.relname AS table_name,
       (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
       k.key_columns AS remembered,
       ${models} AS dataset
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN ops.health_gold_keys k ON k.table_name = c.relname
     WHERE n.nspname IN ('gold', 'core') AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  for (const t of tables.rows) {
    const target = `${t.schema}.${t.table_name}`;
    if (t.pk?.length) {
      await pool.query(
        `INSERT INTO ops.health_gold_keys (table_name, key_columns) VALUES ($1, $2)
         ON CONFLICT (table_name) DO UPDATE SET key_columns = EXCLUDED.key_columns, seen_at = now()`,
        [t.table_name, t.pk],
      );
    }
    const key = t.pk?.length ? t.pk : t.remembered;
    if (!key?.length) {
      out.push(result('duplicate_keys', t.dataset, false, null, 0, `${target} has no primary key: not checked`, target));
      continue;
    }
    const d = await duplicateCount(pool, `${qi(t.schema)}.${qi(t.table_name)}`, key);
    const lost = t.pk?.length ? '' : ` (its primary key (${key.join(', ')}) has been dropped)`;
    out.push(
      result(
        'duplicate_keys',
        t.dataset,
        d.keys > 0,
        d.keys,
        0,
        d.keys ? `${d.keys} value(s) of (${key.join(', ')}) on more than one row (${d.rows} rows)${lost}` : `no duplicate (${key.join(', ')})${lost}`,
        target,
      ),
    );
  }
  return out;
}

export async function checkStuckRuns(pool: pg.Pool, datasets: string[], exp: Map<string, Expectations>): Promise<HealthResult[]> {
  const res = await pool.query<{ dataset: string | null; path: string; minutes: number }>(
    `SELECT dataset, path, extract(epoch FROM now() - started_at) / 60 AS minutes FROM ops.file_runs WHERE status = 'running' ORDER BY started_at`,
  );
  const out: HealthResult[] = [];
  const names = [...datasets, ...new Set(res.rows.map((r) => r.dataset).filter((d) => d === null || !datasets.includes(d)))];
  for (const d of names) {
    const limit = (d !== null ? exp.get(d)?.stuckAfterMinutes : undefined) ?? HEALTH_DEFAULTS.stuckAfterMinutes;
    const stuck = res.rows.filter((r) => r.dataset === d && Number(r.minutes) > limit);
    if (d !== null && !datasets.includes(d) && stuck.length === 0) continue;
    if (d === null && stuck.length === 0) continue;
    const oldest = stuck[0];
    out.push(
      result(
        'stuck_runs',
        d,
        stuck.length > 0,
        stuck.length,
        0,
        oldest ? `${stuck.length} run(s) running for more than ${limit} min; oldest bronze/${oldest.path}, running for ${minutesText(Number(oldest.minutes))}` : `no run running for more than ${limit} min`,
      ),
    );
  }
  return out;
}

export async function checkQuarantineRate(pool: pg.Pool, datasets: string[], exp: Map<string, Expectations>): Promise<HealthResult[]> {
  const res = await pool.query<{ dataset: string; read: number; quarantined: number }>(
    `SELECT dataset, sum(rows_read)::float8 AS read, sum(rows_quarantined)::float8 AS quarantined
     FROM ops.file_runs WHERE status = 'succeeded' AND redelivery_of IS NULL AND dataset = ANY($1::text[]) AND finished_at >= now() - interval '24 hours'
     GROUP BY dataset`,
    [datasets],
  );
  const byName = new Map(res.rows.map((r) => [r.dataset, r]));
  return datasets.map((d) => {
    const limit = exp.get(d)!.maxQuarantineRate;
    const r = byName.get(d);
    const read = Number(r?.read ?? 0);
    if (!read) return result('quarantine_rate', d, false, null, limit, 'no rows read in the last 24 h');
    const q = Number(r!.quarantined);
    const rate = q / read;
    const fail = rate > limit;
    return result(
      'quarantine_rate',
      d,
      fail,
      round(rate),
      limit,
      `${q} of ${read} rows quarantined in the last 24 h (${(rate * 100).toFixed(2)}%${fail ? `, above ${(limit * 100).toFixed(2)}%` : ''})`,
    );
  });
}

export async function checkFailedFiles(pool: pg.Pool, datasets: string[], maxAttempts: number): Promise<HealthResult[]> {
  const res = await pool.query<{ dataset: string; n: number; example: string; kinds: string }>(
    `SELECT f.dataset, count(*)::int AS n, min(f.path) AS example, string_agg(DISTINCT coalesce(f.failure_kind, '?'), ', ') AS kinds
     FROM ops.file_runs f
     WHERE f.status = 'failed' AND f.dataset = ANY($1::text[]) AND f.finished_at >= now() - interval '24 hours'
       AND (f.failure_kind IS DISTINCT FROM 'transient' OR f.attempts >= $2)
       AND NOT EXISTS (SELECT 1 FROM ops.file_runs s WHERE s.path = f.path AND s.status = 'succeeded' AND s.finished_at > f.finished_at)
     GROUP BY f.dataset`,
    [datasets, maxAttempts],
  );
  const byName = new Map(res.rows.map((r) => [r.dataset, r]));
  return datasets.map((d) => {
    const r = byName.get(d);
    if (!r) return result('failed_files', d, false, 0, 0, 'no failed file in the last 24 h');
    return result('failed_files', d, true, r.n, 0, `${r.n} file(s) failed in the last 24 h (${r.kinds}), e.g. bronze/${r.example}: fix, then medallion replay --failed --dataset ${d}`);
  });
}

/**
 * Files of the last 24 h that no dataset owns (a path outside every dataset's folder, or a
 * staging path whose entity= or scope= folder is wrong): their records reach no table. A result
 * (dataset NULL, target 'bronze') only when there are some.
 */
export async function checkUnownedFiles(pool: pg.Pool): Promise<HealthResult[]> {
  const res = await pool.query<{ n: number; example: string; error: string | null }>(
    `SELECT count(*)::int AS n, min(f.path) AS example, (array_agg(f.error ORDER BY f.path))[1] AS error
     FROM ops.file_runs f
     WHERE f.status = 'failed' AND f.dataset IS NULL AND f.finished_at >= now() - interval '24 hours'
       AND NOT EXISTS (SELECT 1 FROM ops.file_runs s WHERE s.path = f.path AND s.status = 'succeeded' AND s.finished_at > f.finished_at)`,
  );
  const r = res.rows[0];
  if (!r || r.n === 0) return [];
  const why = r.error ? ` (${r.error.split('\n')[0]!.split(': put the file')[0]})` : '';
  return [result('failed_files', null, true, r.n, 0, `${r.n} file(s) in the last 24 h belong to no dataset, e.g. bronze/${r.example}${why}: move them under a dataset's folder, then medallion replay`, 'bronze')];
}

/** Runs every check, stores the results in ops.health_checks and logs each one as `medallion.health`. */
export async function runHealthChecks(p: Platform, options: { env?: Env; datasets?: string[] } = {}): Promise<HealthRun> {
  const env = options.env ?? process.env;
  await ensureOpsSchema(p.pool);
  const contracts = p.contracts.all().filter((c) => !options.datasets || options.datasets.includes(c.name));
  const datasets = contracts.map((c) => c.name);
  const exp = await expectations(p.pool, datasets, env);
  const runId = randomUUID();
  const checkedAt = new Date().toISOString();
  const results: HealthResult[] = [];
  const guarded = async (check: HealthCheckName, fn: () => Promise<HealthResult[]>) => {
    try {
      results.push(...(await fn()));
    } catch (e) {
      // One check that cannot run is a failed check, not a missing one.
      results.push(result(check, null, true, null, null, `the check could not run: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`));
    }
  };
  await guarded('freshness', () => checkFreshness(p.pool, datasets, exp, contracts));
  await guarded('row_count_variance', () => checkRowCountVariance(p.pool, datasets, exp));
  await guarded('duplicate_keys', () => checkDuplicateKeys(p.pool, contracts));
  await guarded('stuck_runs', () => checkStuckRuns(p.pool, datasets, exp));
  await guarded('quarantine_rate', () => checkQuarantineRate(p.pool, datasets, exp));
  await guarded('failed_files', () => checkFailedFiles(p.pool, datasets, maxFileAttempts(env)));
  if (!options.datasets) await guarded('failed_files', () => checkUnownedFiles(p.pool));
  if (!options.datasets) await guarded('extract_freshness', () => checkExtractFreshness(p.pool, env));
  if (!options.datasets) await guarded('extract_count_variance', () => checkExtractCountVariance(p.pool, env));

  await p.pool.query(
    `INSERT INTO ops.health_checks (run_id, checked_at, "check", dataset, target, status, value, threshold, message)
     SELECT $1::uuid, $2::timestamptz, r."check", r.dataset, r.target, r.status, r.value, r.threshold, r.message
     FROM jsonb_to_recordset($3::jsonb) AS r("check" text, dataset text, target text, status text, value double precision, threshold double precision, message text)`,
    [runId, checkedAt, JSON.stringify(results)],
  );
  await p.pool.query(`DELETE FROM ops.health_checks WHERE checked_at < now() - make_interval(days => $1)`, [HEALTH_DEFAULTS.keepDays]);
  for (const r of results) {
    const record = { run_id: runId, checked_at: checkedAt, check: r.check, dataset: r.dataset, target: r.target, status: r.status, value: r.value, threshold: r.threshold, message: r.message };
    if (r.status === 'fail') p.log.warn('medallion.health', record);
    else p.log.info('medallion.health', record);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  return { runId, checkedAt, results, failed };
}
