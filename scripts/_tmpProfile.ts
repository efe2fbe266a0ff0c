import { createReadStream } from 'node:fs';
import pg from 'pg';
import { startLocalStack } from '../shared/local/stack';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform } from '../shared/platform';
import { goldModels } from '../shared/gold/models';
import { rebuildGold } from '../shared/gold/refresh';

(async () => {
  const stack = await startLocalStack({ home: '/tmp/gb/stack', blobPort: 0, postgresPort: 0 });
  const admin = new pg.Client({ connectionString: stack.databaseUrl }); await admin.connect();
  const db = 'prof_' + Date.now(); await admin.query(`CREATE DATABASE ${db}`); await admin.end();
  const url = new URL(stack.databaseUrl); url.pathname = '/' + db;
  const env = { ...process.env, LakeStorage: stack.lakeConnectionString, DATABASE_URL: url.toString() };
  const p = await createPlatform(env, { log: silentLogger, workRoot: '/tmp/gb/work' });
  const contract = p.contracts.get('ecommerce_events')!;
  const n = Number(process.argv[2] ?? 3);
  try {
    await rebuildGold(p.pool, contract);
    for (let i = 1; i <= n; i++) {
      await p.lake.write('bronze', `ecommerce_events/w${i}.csv`, createReadStream(`/tmp/gb/gold-bench-100000-${i}.csv`));
      const r = await ingestBronzeFile(i < n ? p : { ...p, hooks: {} }, `ecommerce_events/w${i}.csv`);
      console.log(i, r.outcome, JSON.stringify(r.ledger?.timings_ms));
    }
    const run = (await p.pool.query(`SELECT run_id FROM ops.file_runs WHERE path = $1`, [`ecommerce_events/w${n}.csv`])).rows[0].run_id;
    const c = await p.pool.connect();
    await c.query('BEGIN'); await c.query("SET LOCAL TIME ZONE 'UTC'");
    const time = async (label: string, sql: string, params?: unknown[]) => { const t = Date.now(); await c.query(sql, params); console.log(String(Date.now() - t).padStart(6), label); };
    await time('clock', `CREATE TEMP TABLE gold_clock AS SELECT max(event_time) now_ts, (max(event_time) AT TIME ZONE 'UTC')::date now_date FROM silver.ecommerce_events`);
    await time('run_rows create', `CREATE TEMP TABLE run_rows (LIKE silver.ecommerce_events)`);
    await c.query(`SET LOCAL enable_seqscan = off`);
    const ex = await c.query(`EXPLAIN ANALYZE INSERT INTO run_rows SELECT * FROM silver.ecommerce_events WHERE ingestion_run_id = ANY($1::uuid[])`, [[run]]);
    console.log(ex.rows.map((r: any) => r['QUERY PLAN']).join('\n'));
    await c.query(`SET LOCAL enable_seqscan = on`);
    await time('analyze', 'ANALYZE run_rows');
    const models = goldModels('ecommerce_events');
    for (const m of models) {
      for (const sec of ['incremental', 'finalize'] as const) {
        const sql = m[sec]; if (!sql) continue;
        const stmts = sql.split(/;\s*\n/).map((s) => s.trim()).filter((s) => s && !/^(--[^\n]*\n?)*$/.test(s));
        for (const s of stmts) {
          const label = `${m.table}.${sec}: ${s.replace(/--[^\n]*\n/g, '').replace(/\s+/g, ' ').slice(0, 90)}`;
          if (/^(INSERT|UPDATE|WITH|CREATE TEMP TABLE \w+ AS)/i.test(s.replace(/--[^\n]*\n/g, '').trim()) && process.argv[3] === 'explain') {
            const e = await c.query('EXPLAIN (ANALYZE, BUFFERS) ' + s);
            console.log('---', label); console.log(e.rows.map((r: any) => r['QUERY PLAN']).join('\n'));
          } else await time(label, s);
        }
      }
    }
    await c.query('ROLLBACK'); c.release();
  } finally { await p.close(); await stack.stop(); }
})().catch((e) => { console.error(e); process.exit(1); });
