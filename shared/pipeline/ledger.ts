import { hostname } from 'node:os';
import type pg from 'pg';
import { isRunning } from '../processes';
import type { FailureKind } from './failures';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

export interface LedgerRow {
  path: string;
  etag: string;
  run_id: string;
  dataset: string | null;
  size_bytes: number;
  status: RunStatus;
  attempts: number;
  rows_read: number | null;
  rows_silver: number | null;
  rows_quarantined: number | null;
  quarantine_reasons: Record<string, number>;
  duplicates_in_file: number | null;
  duplicates_cross_file: number | null;
  warnings: Record<string, number>;
  outputs: { zone: string; path: string }[];
  timings_ms: Record<string, number>;
  blob_last_modified: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  latency_ms: number | null;
  error: string | null;
  failure_kind: FailureKind | null;
  content_hash: string | null;
  redelivery_of: string | null;
  blank_lines: number | null;
  unknown_columns: string[];
  host: string | null;
  pid: number | null;
  heartbeat_at: string | null;
}

const NUMERIC = ['size_bytes', 'rows_read', 'rows_silver', 'rows_quarantined', 'duplicates_in_file', 'duplicates_cross_file', 'duration_ms', 'latency_ms', 'blank_lines'] as const;

/** Elapsed time of a run up to this moment (clock time, not the transaction's start). */
const ELAPSED = `duration_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint`;
const LATENCY = `latency_ms = (extract(epoch FROM clock_timestamp() - coalesce(blob_last_modified, started_at)) * 1000)::bigint`;

function toRow(r: Record<string, unknown>): LedgerRow {
  const out = { ...r } as Record<string, unknown>;
  for (const k of NUMERIC) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  for (const k of ['blob_last_modified', 'started_at', 'finished_at', 'heartbeat_at']) if (out[k] instanceof Date) out[k] = (out[k] as Date).toISOString();
  return out as unknown as LedgerRow;
}

type Queryable = pg.Pool | pg.PoolClient;

/** A running file run beats this often (ops.file_runs.heartbeat_at) while its process works on it. */
export const FILE_RUN_HEARTBEAT_MS = 15_000;
/** A running run silent this long is taken to be dead (its process killed, its host gone). */
export const FILE_RUN_SILENT_MS = 90_000;

export type Claim =
  | { kind: 'claimed'; row: LedgerRow }
  /** This exact version (path + ETag) already landed. */
  | { kind: 'landed'; row: LedgerRow }
  /** Another run of this version is alive: it beats, and its process exists as far as this host can tell. */
  | { kind: 'live'; row: LedgerRow };

/**
 * Claims a file version for processing. A run of the version left `running` by a process that
 * is gone (same host, pid dead) or silent for FILE_RUN_SILENT_MS is taken over (`attempts` + 1);
 * one that is alive is left alone (`live`), whichever process runs it. `takeOver` (a dataset
 * rebuild, which replays every file) takes any unfinished run over.
 */
export async function claimRun(
  db: Queryable,
  args: { path: string; etag: string; runId: string; dataset: string | null; size: number; lastModified: Date },
  options: { takeOver?: boolean } = {},
): Promise<Claim> {
  // The row as it is now, with how long its run has been silent (by the database's clock).
  const seen = await db.query(
    `SELECT *, (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::float8 AS silent_ms FROM ops.file_runs WHERE path = $1 AND etag = $2`,
    [args.path, args.etag],
  );
  const before = seen.rows[0] as (Record<string, unknown> & { run_id: string; status: string; host: string | null; pid: number | null; silent_ms: number | null }) | undefined;
  if (before?.status === 'running' && !options.takeOver && isAlive(before)) {
    const { silent_ms: _silent, ...row } = before;
    return { kind: 'live', row: toRow(row) };
  }
  // Takes the row over only as it was seen: a run claimed meanwhile is not taken from under its process.
  const res = await db.query(
    `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, blob_last_modified, started_at, host, pid, heartbeat_at)
     VALUES ($1, $2, $3, $4, $5, 'running', $6, clock_timestamp(), $8, $9, clock_timestamp())
     ON CONFLICT (path, etag) DO UPDATE
       SET run_id = EXCLUDED.run_id, status = 'running', attempts = ops.file_runs.attempts + 1,
           started_at = clock_timestamp(), finished_at = NULL, failure_kind = NULL, dataset = EXCLUDED.dataset,
           host = EXCLUDED.host, pid = EXCLUDED.pid, heartbeat_at = EXCLUDED.heartbeat_at
       WHERE ops.file_runs.status <> 'succeeded' AND ($10 OR ops.file_runs.run_id::text IS NOT DISTINCT FROM $7::text)
     RETURNING *`,
    [args.path, args.etag, args.runId, args.dataset, args.size, args.lastModified, before?.run_id ?? null, hostname(), process.pid, options.takeOver === true],
  );
  if (res.rows[0]) return { kind: 'claimed', row: toRow(res.rows[0]) };
  const existing = (await getRun(db, args.path, args.etag))!;
  return existing.status === 'succeeded' ? { kind: 'landed', row: existing } : { kind: 'live', row: existing };
}

function isAlive(r: { host: string | null; pid: number | null; silent_ms: number | null }): boolean {
  if (r.silent_ms === null || r.silent_ms > FILE_RUN_SILENT_MS) return false;
  return !(r.host === hostname() && r.pid !== null && !isRunning(r.pid));
}

/** Keeps a running run's heartbeat_at fresh until the returned function is called. */
export function beatWhileRunning(db: Queryable, path: string, etag: string, runId: string): () => void {
  const timer = setInterval(() => {
    db.query(`UPDATE ops.file_runs SET heartbeat_at = clock_timestamp() WHERE path = $1 AND etag = $2 AND run_id = $3 AND status = 'running'`, [path, etag, runId]).catch(() => undefined);
  }, FILE_RUN_HEARTBEAT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export async function getRun(db: Queryable, path: string, etag: string): Promise<LedgerRow | undefined> {
  const res = await db.query('SELECT * FROM ops.file_runs WHERE path = $1 AND etag = $2', [path, etag]);
  return res.rows[0] ? toRow(res.rows[0]) : undefined;
}

/** Records outputs before they are written, so a crashed run's files can be cleaned up on retry. */
export async function recordOutputs(db: Queryable, path: string, etag: string, runId: string, outputs: { zone: string; path: string }[]): Promise<void> {
  await db.query(`UPDATE ops.file_runs SET outputs = outputs || $4::jsonb WHERE path = $1 AND etag = $2 AND run_id = $3`, [
    path,
    etag,
    runId,
    JSON.stringify(outputs),
  ]);
}

export async function clearOutputs(db: Queryable, path: string, etag: string): Promise<void> {
  await db.query(`UPDATE ops.file_runs SET outputs = '[]' WHERE path = $1 AND etag = $2`, [path, etag]);
}

export interface RunCounts {
  rowsRead: number;
  rowsSilver: number;
  rowsQuarantined: number;
  quarantineReasons: Record<string, number>;
  duplicatesInFile: number;
  duplicatesCrossFile: number;
  warnings: Record<string, number>;
  timingsMs: Record<string, number>;
  contentHash: string;
  blankLines: number;
  unknownColumns: string[];
}

/** Marks the run succeeded; the table's CHECK constraint refuses counts that do not add up. */
export async function completeRun(db: Queryable, path: string, etag: string, runId: string, c: RunCounts): Promise<LedgerRow> {
  const res = await db.query(
    `UPDATE ops.file_runs SET status = 'succeeded', rows_read = $4, rows_silver = $5, rows_quarantined = $6,
       quarantine_reasons = $7, duplicates_in_file = $8, duplicates_cross_file = $9, warnings = $10, timings_ms = $11,
       content_hash = $12, blank_lines = $13, unknown_columns = $14,
       finished_at = clock_timestamp(), ${ELAPSED}, ${LATENCY}, error = NULL, failure_kind = NULL
     WHERE path = $1 AND etag = $2 AND run_id = $3 AND status = 'running' RETURNING *`,
    [
      path,
      etag,
      runId,
      c.rowsRead,
      c.rowsSilver,
      c.rowsQuarantined,
      JSON.stringify(c.quarantineReasons),
      c.duplicatesInFile,
      c.duplicatesCrossFile,
      JSON.stringify(c.warnings),
      JSON.stringify(c.timingsMs),
      c.contentHash,
      c.blankLines,
      JSON.stringify(c.unknownColumns),
    ],
  );
  if (!res.rows[0]) throw new Error(`the ledger row for ${path} (${etag}) was claimed by another run; this run's results were not committed`);
  return toRow(res.rows[0]);
}

export async function failRun(db: Queryable, path: string, etag: string, runId: string, error: string, kind: FailureKind): Promise<LedgerRow | undefined> {
  const res = await db.query(
    `UPDATE ops.file_runs SET status = 'failed', error = $4, failure_kind = $5, finished_at = clock_timestamp(), ${ELAPSED}
     WHERE path = $1 AND etag = $2 AND run_id = $3 AND status = 'running' RETURNING *`,
    [path, etag, runId, error.slice(0, 4000), kind],
  );
  return res.rows[0] ? toRow(res.rows[0]) : undefined;
}

/**
 * Closes the other unfinished runs of the same path as abandoned and returns them, so the caller
 * removes their outputs: a run killed mid-way leaves nothing behind once the path runs again.
 * Runs of the file's CURRENT version (`currentEtag`, when the blob still exists) are left alone:
 * that version may be landing in another process right now, and it is the newer content. Runs of
 * a replaced version are closed, dead or alive (a replaced version is superseded by design: its
 * events are skipped too). Called under the dataset lock.
 */
export async function abandonUnfinished(db: Queryable, args: { path: string; keepRunId: string; currentEtag?: string }): Promise<LedgerRow[]> {
  const res = await db.query(
    `UPDATE ops.file_runs SET status = 'abandoned', finished_at = clock_timestamp(), ${ELAPSED},
       error = 'abandoned: run ' || $2::text || ' of the same path reconciled this unfinished run of a replaced version and removed its outputs'
     WHERE path = $1 AND status = 'running' AND run_id <> $2::uuid AND ($3::text IS NULL OR etag <> $3::text)
     RETURNING *`,
    [args.path, args.keepRunId, args.currentEtag ?? null],
  );
  return res.rows.map(toRow);
}

/** The succeeded run of a dataset that landed this content (not a re-delivery itself), if any. */
export async function findLanded(db: Queryable, dataset: string, contentHash: string, exceptRunId: string): Promise<LedgerRow | undefined> {
  const res = await db.query(
    `SELECT * FROM ops.file_runs WHERE dataset = $1 AND content_hash = $2 AND status = 'succeeded' AND redelivery_of IS NULL AND run_id <> $3::uuid
     ORDER BY finished_at LIMIT 1`,
    [dataset, contentHash, exceptRunId],
  );
  return res.rows[0] ? toRow(res.rows[0]) : undefined;
}

/** Completes a re-delivery of content that already landed: every row a duplicate, nothing written. */
export async function recordRedelivery(
  db: Queryable,
  path: string,
  etag: string,
  runId: string,
  r: { rowsRead: number; contentHash: string; of: LedgerRow; blankLines: number },
): Promise<LedgerRow> {
  const res = await db.query(
    `UPDATE ops.file_runs SET status = 'succeeded', rows_read = $4, rows_silver = 0, rows_quarantined = 0, quarantine_reasons = '{}',
       duplicates_in_file = 0, duplicates_cross_file = $4, warnings = '{}', content_hash = $5, redelivery_of = $6, blank_lines = $7,
       finished_at = clock_timestamp(), ${ELAPSED}, ${LATENCY}, error = NULL, failure_kind = NULL
     WHERE path = $1 AND etag = $2 AND run_id = $3 AND status = 'running' RETURNING *`,
    [path, etag, runId, r.rowsRead, r.contentHash, r.of.run_id, r.blankLines],
  );
  if (!res.rows[0]) throw new Error(`the ledger row for ${path} (${etag}) was claimed by another run; this run's results were not committed`);
  return toRow(res.rows[0]);
}

/** After the after-commit stage: the run's duration and timings cover the whole run. */
export async function finishTimings(db: Queryable, path: string, etag: string, runId: string, timings: Record<string, number>): Promise<LedgerRow | undefined> {
  const res = await db.query(
    `UPDATE ops.file_runs SET timings_ms = timings_ms || $4::jsonb, finished_at = clock_timestamp(), ${ELAPSED}
     WHERE path = $1 AND etag = $2 AND run_id = $3 AND status = 'succeeded' RETURNING *`,
    [path, etag, runId, JSON.stringify(timings)],
  );
  return res.rows[0] ? toRow(res.rows[0]) : undefined;
}

export async function listRuns(db: Queryable, options: { dataset?: string; limit?: number } = {}): Promise<LedgerRow[]> {
  const res = await db.query(
    `SELECT * FROM ops.file_runs WHERE ($1::text IS NULL OR dataset = $1) ORDER BY started_at DESC, path LIMIT $2`,
    [options.dataset ?? null, options.limit ?? 1000],
  );
  return res.rows.map(toRow);
}
