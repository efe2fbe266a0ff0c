import type pg from 'pg';
import { qi } from '../db/schema';

/**
 * Runs `fn` with transaction-local settings, restored afterwards (the caller's transaction goes on).
 */
export async function withSettings<T>(db: pg.PoolClient, settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const names = Object.keys(settings);
  const prev = await db.query<Record<string, string | null>>(`SELECT ${names.map((n, i) => `current_setting($${i + 1}, true) AS ${qi(n)}`).join(', ')}`, names);
  for (const n of names) await db.query(`SELECT set_config($1, $2, true)`, [n, settings[n]]);
  // Restored only on success: after an error the transaction is aborted and rolls them back anyway.
  const out = await fn();
  for (const n of names) await db.query(`SELECT set_config($1, $2, true)`, [n, prev.rows[0]![n] ?? '']);
  return out;
}

/**
 * Look-ups of one file's keys in state and gold tables that grow with history: a nested loop over
 * the keys through the primary key, never a hash or merge join over the whole table (the planner's
 * estimate for a fresh temp table of keys can make it choose one). No memoize node either: every
 * key is looked up once, so its cache only costs (measured: 149k look-ups 1.10 s with it, 0.92 s
 * without; in key order 0.66 s, which is why a file's aggregated keys are written sorted).
 */
export const KEY_LOOKUP = { enable_hashjoin: 'off', enable_mergejoin: 'off', enable_memoize: 'off' };
