import type pg from 'pg';
import type { Contract } from '../contracts/contract';
import { copyCsvInto } from './copy';
import { silverTable } from './schema';

export interface SilverLoadResult {
  /** Rows now in silver because of this file. */
  loaded: number;
  /** Rows not applied because silver already holds the same or a newer version (counted as duplicates). */
  superseded: number;
}

/**
 * Loads a file's silver rows (CSV, `columns` order) inside the caller's transaction.
 * 'first' datasets: the rows are new by construction (the transform removed ids silver already
 * holds, under the dataset lock), so a plain COPY is all it takes.
 */
export async function loadSilverRows(tx: pg.PoolClient, contract: Contract, csvPath: string, columns: string[], expected: number): Promise<SilverLoadResult> {
  if (contract.dedup.mode === 'first') {
    const loaded = expected > 0 ? await copyCsvInto(tx, silverTable(contract), columns, csvPath) : 0;
    if (loaded !== expected) throw new Error(`silver load copied ${loaded} rows, expected ${expected}`);
    return { loaded, superseded: 0 };
  }
  throw new Error(`dedup mode '${contract.dedup.mode}' has no silver loader yet`);
}
