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
 * every configured source, each finished run (succeeded, failed or abandoned) that wrote records
 * (ops.extract_runs.records, the lines of its bronze files, listed in `parts`) is judged:
 *
 *   landed   = rows of stg_<source>.<entity>_raw from those files (by scope and blob_path)
 *              + their lines in its quarantine table (landed, but rejected: still accounted for)
 *   variance = |records − landed| / records, in percent
 *
 * A run is judged until everything it wrote has landed (then ops.extract_runs.landed_at is set and
 * it is left alone, except the entity's latest run, which is judged every time), so a file lost
 * from an older run keeps failing the entity until it is replayed. A file the ledger
 * (ops.file_runs) calls a re-delivery (an unchanged snapshot: the same bytes as a file of the
 * account that already landed, every line a duplicate) landed as that earlier file: its rows are
 * counted there. The entity fails when a run is above EXTRACT_COUNT_VARIANCE_PERCENT (default 10);
 * the result names the worst run. A run some of whose files have no succeeded ledger run yet is
 * pending (not judged) for EXTRACT_COUNT_GRACE_MINUTES after it finished while one of them has no
 * ledger run or a running one (the bronze trigger may still be on its way; a failed file is not
 * pending); after that those files count as landed with nothing. An entity with no
 * such run yet passes (nothing to compare). Dataset = the source, target = scope/entity, as
 * extract_freshness.
 */
export const EXTRACT_COUNT_VARIANCE_DEFAULT_PERCENT = 10;
export const EXTRACT_COUNT_GRACE_MINUTES = 30;
/** At most this many runs not known to have landed are judged per entity (the newest). */
const EXTRACT_COUNT_MAX_RUNS = 500;

/** EXTRACT_COUNT_VARIANCE_PERCENT: a percentage between 0 and 100 (default 10). */
export function extractCountVariancePercent(env: Env = process.env): number {
  const raw = env[SETTINGS.extractCountVariancePercent]?.trim();
  if (!raw) return EXTRACT_COUNT_VARIANCE_DEFAULT_PERCENT;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new ConfigError(`${SETTINGS.extractCountVariancePercent} must be a percentage between 0 and 100 (e.g. 10), got '${raw}'`);
  return n;
}

interface RunRow {
  entity: string;
  run_id: string;
  status: string;
  records: string;
  parts: string[];
  finished_at: Date;
  latest: boolean;
}

interface LedgerState {
  path: string;
  status: string;
  run_id: string;
  dataset: string | null;
  content_hash: string | null;
  redelivery_of: string | null;
}

/** One run as the check sees it. */
interface RunVerdict {
  run: RunRow;
  extracted: number;
  notIngested: string[];
  pending: boolean;
  staged: number;
  rejected: number;
  /** Percent, two decimals; undefined while pending. */
  value?: number;
  text: string;
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
    const runs = await pool.query<RunRow>(
      `SELECT entity, run_id, status, records::text AS records, parts, finished_at, rn = 1 AS latest FROM (
         SELECT r.*, row_number() OVER (PARTITION BY entity ORDER BY started_at DESC) AS rn,
                row_number() OVER (PARTITION BY entity, landed_at IS NULL ORDER BY started_at DESC) AS rn_open
         FROM ops.extract_runs r
         WHERE source = $1 AND scope = $2 AND entity = ANY($3::text[]) AND status <> 'running' AND records > 0
       ) x
       WHERE rn = 1 OR (landed_at IS NULL AND rn_open <= $4)
       ORDER BY entity, started_at DESC`,
      [source, scope, names, EXTRACT_COUNT_MAX_RUNS],
    );
    const { byPath, originals } = await ledgerOf(pool, runs.rows.flatMap((r) => r.parts));
    const landedNow: RunRow[] = [];
    for (const entity of names) {
      const target = `${scope}/${entity}`;
      const table = `stg_${source}.${entity}_raw`;
      const entityRuns = runs.rows.filter((r) => r.entity === entity);
      if (!entityRuns.length) {
        results.push({ check: 'extract_count_variance', dataset: source, target, status: 'pass', value: null, threshold, message: 'no finished extraction run has written records yet: nothing to compare' });
        continue;
      }
      const verdicts = await judgeRuns(pool, { source, entity, scope, now }, entityRuns, byPath, originals);
      for (const v of verdicts) if (!v.pending && !v.notIngested.length && v.staged + v.rejected === v.extracted) landedNow.push(v.run);
      // Failing runs, worst first; without one, the latest run speaks for the entity.
      const failing = verdicts.filter((v) => v.value !== undefined && v.value > threshold).sort((a, b) => b.value! - a.value!);
      const worst = failing[0];
      const latest = verdicts[0]!;
      if (!worst && latest.pending) {
        results.push({
          check: 'extract_count_variance',
          dataset: source,
          target,
          status: 'pass',
          value: null,
          threshold,
          message: `pending: ${latest.notIngested.length} of ${latest.run.parts.length} file(s) of ${latest.text} not ingested yet; judged once they are, or ${EXTRACT_COUNT_GRACE_MINUTES} min after the run`,
        });
        continue;
      }
      const v = worst ?? latest;
      const fail = worst !== undefined;
      const missingFiles = v.notIngested.length
        ? `; ${v.notIngested.length} of its ${v.run.parts.length} file(s) never landed (e.g. bronze/${v.notIngested[0]}): look the path up in ops.file_runs (failed: medallion replay bronze/<path> after the fix; absent: the bronze trigger never ran it)`
        : '';
      const why = fail && !v.notIngested.length ? `: ${v.staged + v.rejected < v.extracted ? 'lines of its files are missing from' : 'more rows than records written are in'} ${table}; compare ops.extract_runs.parts of the run with ops.file_runs and the table` : '';
      const others = failing.length > 1 ? `; ${failing.length - 1} other run(s) of ${entity} are above the limit too` : '';
      const latestToo = fail && v !== latest ? `; the latest run ${latest.run.run_id}: ${latest.value === undefined ? 'pending' : `variance ${latest.value} %`}` : '';
      results.push({
        check: 'extract_count_variance',
        dataset: source,
        target,
        status: fail ? 'fail' : 'pass',
        value: v.value ?? null,
        threshold,
        message: `${v.text}: ${count(v.extracted)} records written to bronze in ${v.run.parts.length} file(s), ${count(v.staged)} staged in ${table} + ${count(v.rejected)} quarantined, variance ${v.value} %${fail ? `, more than the ${threshold} % allowed${why}` : ''}${missingFiles}${others}${latestToo}`,
      });
    }
    if (landedNow.length) {
      await pool.query(
        `UPDATE ops.extract_runs SET landed_at = to_timestamp($5::float8 / 1000)
         WHERE source = $1 AND scope = $2 AND (entity, run_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) AND landed_at IS NULL`,
        [source, scope, landedNow.map((r) => r.entity), landedNow.map((r) => r.run_id), now],
      );
    }
  }
  return results;
}

/** The ledger state of every file (a succeeded run of the path first), and the first path of each re-delivered content. */
async function ledgerOf(pool: pg.Pool, paths: string[]): Promise<{ byPath: Map<string, LedgerState>; originals: Map<string, string> }> {
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
  return { byPath, originals };
}

/** Each run's extracted and landed counts (runs newest first, as given). */
async function judgeRuns(
  pool: pg.Pool,
  at: { source: SourceName; entity: string; scope: string; now: number },
  runs: RunRow[],
  byPath: Map<string, LedgerState>,
  originals: Map<string, string>,
): Promise<RunVerdict[]> {
  const { source, entity, scope, now } = at;
  const landedAs = runs.map((run) => {
    const notIngested: string[] = [];
    const as = new Map<string, string>(); // part -> the path its lines are staged under
    for (const part of run.parts) {
      const l = byPath.get(part);
      if (!l || l.status !== 'succeeded') notIngested.push(part);
      else as.set(part, l.redelivery_of ? (originals.get(l.redelivery_of) ?? part) : part);
    }
    return { notIngested, as };
  });
  const paths = [...new Set(landedAs.flatMap((x) => [...x.as.values()]))];
  const staged = new Map<string, number>();
  const quarantined = new Map<string, number>();
  if (paths.length) {
    const t = await pool.query<{ t: string | null; q: string | null }>(`SELECT to_regclass($1) AS t, to_regclass($2) AS q`, [qi(`stg_${source}`) + '.' + qi(`${entity}_raw`), qi(`stg_${source}`) + '.' + qi(`${entity}_raw_quarantine`)]);
    if (t.rows[0]!.t) {
      const r = await pool.query<{ blob_path: string; n: string }>(
        `SELECT blob_path, count(*)::text AS n FROM ${t.rows[0]!.t} WHERE scope = $1 AND blob_path = ANY($2::text[]) GROUP BY blob_path`,
        [scope, paths],
      );
      for (const x of r.rows) staged.set(x.blob_path, Number(x.n));
    }
    if (t.rows[0]!.q) {
      const r = await pool.query<{ source_file: string; n: string }>(
        `SELECT source_file, count(DISTINCT source_line)::text AS n FROM ${t.rows[0]!.q} WHERE source_file = ANY($1::text[]) GROUP BY source_file`,
        [paths],
      );
      for (const x of r.rows) quarantined.set(x.source_file, Number(x.n));
    }
  }
  return runs.map((run, i) => {
    const { notIngested, as } = landedAs[i]!;
    const extracted = Number(run.records);
    const age = (now - run.finished_at.getTime()) / 60_000;
    const text = `run ${run.run_id} (${run.status}, finished ${minutesText(Math.max(0, age))} ago)`;
    let rows = 0;
    let rejected = 0;
    for (const p of as.values()) {
      rows += staged.get(p) ?? 0;
      rejected += quarantined.get(p) ?? 0;
    }
    // Files not seen yet or still running may be on their way; a failed one is not pending.
    const waiting = notIngested.filter((part) => !byPath.get(part) || byPath.get(part)!.status === 'running');
    const pending = waiting.length > 0 && age <= EXTRACT_COUNT_GRACE_MINUTES;
    const variance = (Math.abs(extracted - (rows + rejected)) / extracted) * 100;
    return { run, extracted, notIngested, pending, staged: rows, rejected, value: pending ? undefined : Math.round(variance * 100) / 100, text };
  });
}
