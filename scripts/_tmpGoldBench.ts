import { startLocalStack } from '../shared/local/stack';
import { runBench } from './benchGold';
import pg from 'pg';
(async () => {
  const stack = await startLocalStack({ home: '/tmp/gb/stack', blobPort: 0, postgresPort: 0 });
  try {
    await runBench({ databaseUrl: stack.databaseUrl, lakeConnectionString: stack.lakeConnectionString, workDir: '/tmp/gb' });
    const admin = new pg.Client({ connectionString: stack.databaseUrl }); await admin.connect();
    const dbs = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'gold_bench_%' ORDER BY oid DESC LIMIT 1`);
    await admin.end();
    const url = new URL(stack.databaseUrl); url.pathname = '/' + dbs.rows[0].datname;
    const c = new pg.Client({ connectionString: url.toString() }); await c.connect();
    const r = await c.query(`SELECT id, mode, tx_ms, export_ms, sections_ms FROM ops.gold_refreshes ORDER BY id`);
    for (const x of r.rows) console.log(x.id, x.mode, x.tx_ms, x.export_ms, JSON.stringify(x.sections_ms));
    await c.end();
  } finally { await stack.stop(); }
})().catch((e) => { console.error(e); process.exit(1); });
