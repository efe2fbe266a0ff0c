import { safeLakePath } from '../lake/paths';
import { type FileReport, ingestBronzeFile } from '../pipeline/ingestFile';
import { getRun, type LedgerRow } from '../pipeline/ledger';
import type { Platform } from '../platform';
import { ensureOpsSchema } from './schema';

/**
 * Replay: runs a bronze file version again after a fix (a contract change, a rebuilt dataset, a
 * service back up). The version's failed (or abandoned) ledger row is removed — its content kept
 * in ops.replays — so the pipeline claims the version as new: attempts start again from 1 (a
 * version the pipeline gave up on after MAX_FILE_ATTEMPTS runs again), and the run is the
 * ordinary one (ingestBronzeFile), reading the file from bronze (a quarantine/_files copy of a
 * rejected file is left where it is). Only the version currently in bronze can be replayed.
 */
export type ReplayStatus = 'replayed' | 'nothing_to_replay' | 'missing';

export interface ReplayResult {
  path: string;
  status: ReplayStatus;
  /** Why nothing was done, or what was replayed. */
  message: string;
  /** The ledger row the replay removed (the failed run). */
  previous?: LedgerRow;
  /** The new run (status 'replayed'). */
  report?: FileReport;
}

function describePrevious(row: LedgerRow): string {
  const kind = row.failure_kind ? ` ${row.failure_kind}` : '';
  // Its first line, without the advice to replay (being done); a long one is cut at a word, marked with '…'.
  const first = row.error?.split('\n')[0]!.replace(/,? then run `medallion replay [^`]*`\.?$/, '');
  const error = first ? `: ${first.length > 300 ? `${first.slice(0, 300).replace(/\s+\S*$/, '')} …` : first}` : '';
  return `${row.status}${kind} after ${row.attempts} attempt(s)${error}`;
}

/** Replays the current version of one bronze file when its run failed or was abandoned; says why not otherwise. */
export async function replayFile(p: Platform, rawPath: string): Promise<ReplayResult> {
  await ensureOpsSchema(p.pool);
  const path = safeLakePath(rawPath);
  const file = await p.lake.stat('bronze', path);
  if (!file) return { path, status: 'missing', message: `bronze/${path} does not exist: nothing to replay (replay runs files from bronze)` };
  const row = await getRun(p.pool, path, file.etag);
  if (!row) return { path, status: 'nothing_to_replay', message: `bronze/${path} never failed: its current version has not run yet (medallion ingest or the blob trigger runs it)` };
  if (row.status === 'succeeded') return { path, status: 'nothing_to_replay', message: `bronze/${path} never failed: its current version already landed (run ${row.run_id})` };
  if (row.status === 'running') {
    // The pipeline's claim decides: a run whose process is alive is left alone; one whose process
    // is gone (same host, pid dead) or silent is taken over and runs again now.
    const report = await ingestBronzeFile(p, path, { etag: file.etag, waitForLiveMs: 0 });
    if (report.outcome === 'skipped') return { path, status: 'nothing_to_replay', message: `bronze/${path} is running now (run ${row.run_id}, started ${row.started_at}): nothing to replay` };
    return { path, status: 'replayed', message: `replayed bronze/${path} (its run ${row.run_id} had stopped without finishing: its process is gone)`, report };
  }

  // Remove the failed row (only if it is still failed/abandoned: a run may have claimed it since).
  const removed = await p.pool.query(
    `WITH gone AS (
       DELETE FROM ops.file_runs WHERE path = $1 AND etag = $2 AND status IN ('failed', 'abandoned') RETURNING *
     )
     INSERT INTO ops.replays (path, etag, dataset, previous_run_id, previous_status, previous_failure_kind, previous_attempts, previous_error, previous)
     SELECT path, etag, dataset, run_id, status, failure_kind, attempts, error, to_jsonb(gone.*) FROM gone
     RETURNING id, previous`,
    [path, file.etag],
  );
  if (!removed.rows[0]) return { path, status: 'nothing_to_replay', message: `bronze/${path}: another run took this version meanwhile; nothing to replay` };
  const replayId = removed.rows[0].id as string;
  const previousJson = removed.rows[0].previous as Record<string, unknown>;
  let report: FileReport | undefined;
  try {
    report = await ingestBronzeFile(p, path, { etag: file.etag });
    return { path, status: 'replayed', message: `replayed bronze/${path} (was ${describePrevious(row)})`, previous: row, report };
  } finally {
    // A run that ended before claiming the version (file replaced meanwhile, service down) must
    // not lose the failed row: put it back unless the new run wrote its own.
    await p.pool.query(
      `INSERT INTO ops.file_runs SELECT (jsonb_populate_record(NULL::ops.file_runs, $1::jsonb)).* ON CONFLICT (path, etag) DO NOTHING`,
      [JSON.stringify(previousJson)],
    );
    const after = await getRun(p.pool, path, file.etag);
    await p.pool.query(`UPDATE ops.replays SET outcome = $2, run_id = $3 WHERE id = $1`, [
      replayId,
      report?.outcome ?? 'error',
      after && after.run_id !== row.run_id ? after.run_id : null,
    ]);
  }
}

export interface FailedVersion {
  path: string;
  etag: string;
  dataset: string | null;
  failure_kind: string | null;
  status: string;
}

/** Failed file versions (optionally of one dataset), oldest file first. */
export async function failedVersions(p: Platform, options: { dataset?: string } = {}): Promise<FailedVersion[]> {
  const res = await p.pool.query<FailedVersion>(
    `SELECT path, etag, dataset, failure_kind, status FROM ops.file_runs
     WHERE status = 'failed' AND ($1::text IS NULL OR dataset = $1)
     ORDER BY coalesce(blob_last_modified, started_at), started_at, path`,
    [options.dataset ?? null],
  );
  return res.rows;
}

/**
 * Replays every failed file version (optionally of one dataset) that is still the current version
 * in bronze, oldest first; `onResult` sees each result as it comes. A transient failure of one
 * file (thrown by the pipeline) is reported for that file and the next one goes on.
 */
export async function replayFailed(
  p: Platform,
  options: { dataset?: string; onResult?: (r: ReplayResult) => void } = {},
): Promise<ReplayResult[]> {
  const out: ReplayResult[] = [];
  for (const v of await failedVersions(p, options)) {
    const current = await p.lake.stat('bronze', v.path);
    let r: ReplayResult;
    if (!current) r = { path: v.path, status: 'missing', message: `bronze/${v.path} no longer exists: not replayed` };
    else if (current.etag !== v.etag) r = { path: v.path, status: 'nothing_to_replay', message: `bronze/${v.path} was replaced by a newer version since it failed: not replayed (the new version runs on its own)` };
    else {
      try {
        r = await replayFile(p, v.path);
      } catch (e) {
        const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
        r = {
          path: v.path,
          status: 'replayed',
          message: `replayed bronze/${v.path}`,
          report: { path: v.path, outcome: 'failed', dataset: v.dataset, message, failureKind: 'transient' },
        };
      }
    }
    out.push(r);
    options.onResult?.(r);
  }
  return out;
}
