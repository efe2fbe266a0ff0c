import type pg from 'pg';
import type { Contract } from '../contracts/contract';
import { copyCsvInto } from './copy';
import { qi, silverTable } from './schema';

export interface SilverLoadResult {
  /** Rows now in silver because of this file. */
  loaded: number;
  /** Rows not applied because silver already holds the same or a newer version (counted as duplicates). */
  superseded: number;
  /**
   * Counts the loader observed (same shape as the ledger's warnings): 'latest' datasets with a
   * lateness window report `late_records`. Meant to be merged into the run's ledger warnings.
   */
  warnings?: Record<string, number>;
}

/** Lateness window of a 'latest' dataset, when its contract declares one (see customers). */
function lateAfterMinutes(contract: Contract): number | undefined {
  if (contract.dedup.mode !== 'latest') return undefined;
  const setting = contract.dedup.lateAfterMinutes;
  const v = typeof setting === 'function' ? setting() : setting;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Silver columns whose values are the record's content (not its id or lineage). */
function contentColumns(contract: Contract): string[] {
  return [...contract.typed, ...contract.derived].map((c) => c.name);
}

/**
 * Loads a file's silver rows (CSV, `columns` order) inside the caller's transaction.
 * 'first' datasets: the rows are new by construction (the transform removed ids silver already
 * holds, under the dataset lock), so a plain COPY is all it takes.
 *
 * 'latest' datasets (one row per key in silver, the current version): the rows (already one per
 * key: the transform kept the latest of each key within the file) are copied to a staging table
 * and upserted. A row replaces silver's row for its key only when its `orderBy` value is newer,
 * or equal with different content (later ties win, as within a file). So an older version that
 * arrives after a newer one never overwrites it, and a redelivered file (same rows again) changes
 * nothing.
 *   loaded     = rows inserted (new key) or that replaced an older version: silver now holds them;
 *   superseded = the others: silver already held the same or a newer version (ledger duplicates).
 * Late rows: with a lateness window of W minutes, a row whose `orderBy` is more than W minutes
 * behind the newest `orderBy` silver held before this file is late (the watermark moves between
 * files, as in a Spark streaming watermark); late rows are applied like any other and counted in
 * `warnings.late_records`.
 */
export async function loadSilverRows(
  tx: pg.PoolClient,
  contract: Contract,
  csvPath: string,
  columns: string[],
  expected: number,
  file?: { path: string; scope?: string },
): Promise<SilverLoadResult> {
  if (contract.dedup.mode === 'line') {
    if (!file?.scope) throw new Error(`'${contract.name}' is a staging dataset: its load needs the file's path and scope`);
    return loadLineRows(tx, contract, csvPath, columns, expected, { path: file.path, scope: file.scope });
  }
  if (contract.dedup.mode === 'first') {
    const loaded = expected > 0 ? await copyCsvInto(tx, silverTable(contract), columns, csvPath) : 0;
    if (loaded !== expected) throw new Error(`silver load copied ${loaded} rows, expected ${expected}`);
    return { loaded, superseded: 0 };
  }
  const { orderBy, idColumn } = contract.dedup;
  const lateness = lateAfterMinutes(contract);
  const emptyWarnings = lateness === undefined ? undefined : { late_records: 0 };
  if (expected === 0) return { loaded: 0, superseded: 0, warnings: emptyWarnings };

  const table = silverTable(contract);
  const stage = qi(`${contract.name}__load`);
  await tx.query(`CREATE TEMP TABLE ${stage} (LIKE ${table} INCLUDING DEFAULTS) ON COMMIT DROP`);
  const copied = await copyCsvInto(tx, stage, columns, csvPath);
  if (copied !== expected) throw new Error(`silver load copied ${copied} rows, expected ${expected}`);

  let warnings: Record<string, number> | undefined;
  if (lateness !== undefined) {
    // The watermark: the newest version silver held before this file, minus the window.
    const late = await tx.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${stage} s, (SELECT max(${qi(orderBy)}) AS newest FROM ${table}) w
       WHERE s.${qi(orderBy)} < w.newest - make_interval(secs => $1::double precision)`,
      [lateness * 60],
    );
    warnings = { late_records: Number(late.rows[0]?.n ?? 0) };
  }

  const cols = columns.map(qi);
  const content = contentColumns(contract).map(qi);
  const updates = columns.filter((c) => c !== idColumn).map((c) => `${qi(c)} = EXCLUDED.${qi(c)}`);
  const ord = qi(orderBy);
  const res = await tx.query(
    `INSERT INTO ${table} AS t (${cols.join(', ')})
     SELECT ${cols.join(', ')} FROM ${stage}
     ON CONFLICT (${qi(idColumn)}) DO UPDATE SET ${updates.join(', ')}
     WHERE t.${ord} < EXCLUDED.${ord}
        OR (t.${ord} = EXCLUDED.${ord} AND (${content.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${content.map((c) => `EXCLUDED.${c}`).join(', ')}))`,
  );
  const loaded = res.rowCount ?? 0;
  await tx.query(`DROP TABLE ${stage}`);
  return { loaded, superseded: expected - loaded, warnings };
}

/**
 * Staging (`dedup.mode: 'line'`) datasets: the file's rows (one per kept line; CSV, `columns`
 * order) upserted by (scope, blob_path, line_no). A line already staged with the same content
 * (the record as JSONB, and the contract's columns) is left alone and counted as a duplicate, so
 * the same file delivered again changes nothing; a line whose content changed (a new version of
 * the file at the same path) replaces its row. Rows of this path whose line the new version no
 * longer stages (the file got shorter, or the line is now quarantined) are removed, so staging
 * holds each file as its current version has it; counted in `warnings.lines_removed` when any.
 * The keys of the rows this takes away from a record (a line removed, or now holding another
 * record) are left in `pg_temp.superseded__<dataset>` for the transaction, so the refresh that
 * follows recomputes those records too (shared/gold/refresh.ts).
 */
/** The temp table where a staging load leaves the keys of the records it superseded (see loadLineRows). */
export function supersededTable(dataset: string): string {
  return `superseded__${dataset}`;
}

async function loadLineRows(
  tx: pg.PoolClient,
  contract: Contract,
  csvPath: string,
  columns: string[],
  expected: number,
  file: { path: string; scope: string },
): Promise<SilverLoadResult> {
  const table = silverTable(contract);
  const stage = qi(`${contract.name}__load`);
  await tx.query(`CREATE TEMP TABLE ${stage} (LIKE ${table} INCLUDING DEFAULTS) ON COMMIT DROP`);
  const copied = expected > 0 ? await copyCsvInto(tx, stage, columns, csvPath) : 0;
  if (copied !== expected) throw new Error(`staging load copied ${copied} rows, expected ${expected}`);
  const sup = qi(supersededTable(contract.name));
  const keys = ['scope', ...contract.dedup.key].map(qi);
  await tx.query(`CREATE TEMP TABLE IF NOT EXISTS ${sup} ON COMMIT DROP AS SELECT ${keys.join(', ')} FROM ${table} WHERE false`);
  await tx.query(
    `INSERT INTO ${sup} SELECT ${keys.map((k) => `t.${k}`).join(', ')} FROM ${table} t WHERE t.scope = $1 AND t.blob_path = $2
     AND NOT EXISTS (SELECT 1 FROM ${stage} s WHERE s.line_no = t.line_no AND (${keys.map((k) => `s.${k}`).join(', ')}) IS NOT DISTINCT FROM (${keys.map((k) => `t.${k}`).join(', ')}))`,
    [file.scope, file.path],
  );
  const removed = await tx.query(
    `DELETE FROM ${table} t WHERE t.scope = $1 AND t.blob_path = $2 AND NOT EXISTS (SELECT 1 FROM ${stage} s WHERE s.line_no = t.line_no)`,
    [file.scope, file.path],
  );
  let loaded = 0;
  if (expected > 0) {
    const key = ['scope', 'blob_path', 'line_no'];
    const cols = columns.map(qi);
    const content = ['record', ...contentColumns(contract)].map(qi);
    const updates = columns.filter((c) => !key.includes(c)).map((c) => `${qi(c)} = EXCLUDED.${qi(c)}`);
    const res = await tx.query(
      `INSERT INTO ${table} AS t (${cols.join(', ')})
       SELECT ${cols.join(', ')} FROM ${stage}
       ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates.join(', ')}
       WHERE (${content.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${content.map((c) => `EXCLUDED.${c}`).join(', ')})`,
    );
    loaded = res.rowCount ?? 0;
  }
  await tx.query(`DROP TABLE ${stage}`);
  const gone = removed.rowCount ?? 0;
  return { loaded, superseded: expected - loaded, warnings: gone ? { lines_removed: gone } : undefined };
}
