import { hostname } from 'node:os';
import type pg from 'pg';
import type { SourceName } from '../config';
import { isRunning } from '../processes';
import type { FailureKind } from './errors';

/** Run records and watermarks (tables in shared/sources/schema.ts). */

export type RunMode = 'incremental' | 'full' | 'since' | 'snapshot';

export interface RunKey {
  source: SourceName;
  scope: string;
  entity: string;
  runId: string;
}

export interface Watermark {
  watermark?: number;
  lastSucceededAt?: number;
}

export interface RunCounters {
  records: number;
  bytes: number;
  pages: number;
  requests: number;
  retries: number;
  parts: string[];
}

const ms = (v: unknown): number | undefined => (v instanceof Date ? v.getTime() : v === null || v === undefined ? undefined : new Date(String(v)).getTime());
const ts = (v: number | undefined): Date | null => (v === undefined ? null : new Date(v));

export async function readWatermark(pool: pg.Pool, source: SourceName, scope: string, entity: string): Promise<Watermark> {
  const r = await pool.query(`SELECT watermark, last_succeeded_at FROM ops.extract_watermarks WHERE source = $1 AND scope = $2 AND entity = $3`, [source, scope, entity]);
  const row = r.rows[0];
  return { watermark: ms(row?.watermark), lastSucceededAt: ms(row?.last_succeeded_at) };
}

/**
 * Marks earlier runs of the entity that stopped without saying so as abandoned: their process on
 * this host is gone, or they have been silent for `staleAfterMs`. (A run that is still alive is
 * left alone: two runs of one entity at once are safe, see extract.ts, only wasteful.)
 */
export async function abandonDeadRuns(pool: pg.Pool, key: Omit<RunKey, 'runId'>, now: number, staleAfterMs: number): Promise<number> {
  const running = await pool.query<{ run_id: string; host: string | null; pid: number | null; heartbeat_at: Date }>(
    `SELECT run_id, host, pid, heartbeat_at FROM ops.extract_runs WHERE source = $1 AND scope = $2 AND entity = $3 AND status = 'running'`,
    [key.source, key.scope, key.entity],
  );
  const host = hostname();
  const dead = running.rows
    .filter((r) => (r.host === host && r.pid !== null && r.pid !== process.pid && !isRunning(r.pid)) || now - r.heartbeat_at.getTime() > staleAfterMs)
    .map((r) => r.run_id);
  if (!dead.length) return 0;
  await pool.query(
    `UPDATE ops.extract_runs SET status = 'abandoned', finished_at = $5, error = coalesce(error, 'stopped without finishing (process killed or host gone); its parts stay in bronze')
     WHERE source = $1 AND scope = $2 AND entity = $3 AND run_id = ANY($4) AND status = 'running'`,
    [key.source, key.scope, key.entity, dead, new Date(now)],
  );
  return dead.length;
}

/**
 * Records the start of a run. The run id is the start time; when another run of the same
 * entity already has it (the same millisecond), the next free millisecond is taken.
 */
export async function startRun(
  pool: pg.Pool,
  key: Omit<RunKey, 'runId'>,
  args: { runId: (ms: number) => string; startMs: number; mode: RunMode; windowStart?: number; watermarkBefore?: number },
): Promise<{ runId: string; startMs: number }> {
  for (let bump = 0; ; bump++) {
    const startMs = args.startMs + bump;
    const runId = args.runId(startMs);
    const r = await pool.query(
      `INSERT INTO ops.extract_runs (source, scope, entity, run_id, mode, status, window_start, watermark_before, watermark_after, started_at, heartbeat_at, host, pid)
       VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $7, $8, $8, $9, $10)
       ON CONFLICT DO NOTHING`,
      [key.source, key.scope, key.entity, runId, args.mode, ts(args.windowStart), ts(args.watermarkBefore), new Date(startMs), hostname(), process.pid],
    );
    if ((r.rowCount ?? 0) === 1) return { runId, startMs };
    if (bump > 1000) throw new Error(`no free run id after ${runId}`);
  }
}

export async function heartbeat(pool: pg.Pool, key: RunKey, now: number, c: RunCounters): Promise<void> {
  await pool.query(
    `UPDATE ops.extract_runs SET heartbeat_at = $5, records = $6, bytes = $7, pages = $8, requests = $9, retries = $10
     WHERE source = $1 AND scope = $2 AND entity = $3 AND run_id = $4 AND status = 'running'`,
    [key.source, key.scope, key.entity, key.runId, new Date(now), c.records, c.bytes, c.pages, c.requests, c.retries],
  );
}

/**
 * After a bronze part is in the lake: adds it to the run's record and, when `advanceTo` is given,
 * moves the watermark forward to it — in one transaction, so the watermark never names data
 * whose files are not both written and recorded. `succeeded` ends the run the same way;
 * `fresh` (a run that read the entity to its end over the whole window) also sets
 * last_succeeded_at.
 */
export async function recordProgress(
  pool: pg.Pool,
  key: RunKey,
  now: number,
  c: RunCounters,
  args: { advanceTo?: number; succeeded?: boolean; fresh?: boolean },
): Promise<number | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    let after: number | undefined;
    if (args.advanceTo !== undefined || args.fresh) {
      const w = await client.query(
        `INSERT INTO ops.extract_watermarks AS w (source, scope, entity, watermark, run_id, updated_at, last_succeeded_at, last_succeeded_run_id)
         VALUES ($1, $2, $3, $4::timestamptz, CASE WHEN $4::timestamptz IS NOT NULL THEN $5::text END, $6::timestamptz,
                 CASE WHEN $7::boolean THEN $6::timestamptz END, CASE WHEN $7::boolean THEN $5::text END)
         ON CONFLICT (source, scope, entity) DO UPDATE SET
           watermark = GREATEST(w.watermark, EXCLUDED.watermark),
           run_id = CASE WHEN EXCLUDED.watermark > w.watermark OR w.watermark IS NULL THEN coalesce(EXCLUDED.run_id, w.run_id) ELSE w.run_id END,
           updated_at = EXCLUDED.updated_at,
           last_succeeded_at = coalesce(EXCLUDED.last_succeeded_at, w.last_succeeded_at),
           last_succeeded_run_id = coalesce(EXCLUDED.last_succeeded_run_id, w.last_succeeded_run_id)
         RETURNING watermark`,
        [key.source, key.scope, key.entity, ts(args.advanceTo), key.runId, new Date(now), args.fresh === true],
      );
      after = ms(w.rows[0]?.watermark);
    }
    await client.query(
      `UPDATE ops.extract_runs SET heartbeat_at = $5::timestamptz, records = $6, bytes = $7, pages = $8, requests = $9, retries = $10, parts = $11::jsonb,
         watermark_after = coalesce($12::timestamptz, watermark_after),
         status = CASE WHEN $13::boolean THEN 'succeeded' ELSE status END,
         finished_at = CASE WHEN $13::boolean THEN $5::timestamptz ELSE finished_at END
       WHERE source = $1 AND scope = $2 AND entity = $3 AND run_id = $4`,
      [key.source, key.scope, key.entity, key.runId, new Date(now), c.records, c.bytes, c.pages, c.requests, c.retries, JSON.stringify(c.parts), ts(after), args.succeeded === true],
    );
    await client.query('COMMIT');
    return after;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

export async function failRun(pool: pg.Pool, key: RunKey, now: number, c: RunCounters, kind: FailureKind, message: string): Promise<void> {
  await pool.query(
    `UPDATE ops.extract_runs SET status = 'failed', failure_kind = $5, error = $6, finished_at = $7, heartbeat_at = $7,
       records = $8, bytes = $9, pages = $10, requests = $11, retries = $12, parts = $13::jsonb
     WHERE source = $1 AND scope = $2 AND entity = $3 AND run_id = $4`,
    [key.source, key.scope, key.entity, key.runId, kind, message.slice(0, 2000), new Date(now), c.records, c.bytes, c.pages, c.requests, c.retries, JSON.stringify(c.parts)],
  );
}
