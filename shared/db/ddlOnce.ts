import type pg from 'pg';

/**
 * A function that runs `ddl` once per pool (idempotent DDL: CREATE … IF NOT EXISTS), serialised
 * across processes by a transaction-scoped advisory lock on `lock`.
 */
export function ddlOnce(lock: number, ddl: string): (pool: pg.Pool) => Promise<void> {
  const ready = new WeakSet<pg.Pool>();
  return async (pool) => {
    if (ready.has(pool)) return;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
        await client.query(ddl);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    } finally {
      client.release();
    }
    ready.add(pool);
  };
}
