/**
 * One benchmark case in its own process (so peak RSS is this case's alone): a generated REES46
 * file of N rows through bronze → silver on the local stack, next to DuckDB doing the same
 * validation / standardisation / dedup / Parquet + quarantine work on the same file, and the
 * PostgreSQL silver load next to a plain COPY of the same rows into an identical table.
 * Prints one JSON object on stdout.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { copyQueryToFile } from '../shared/db/copy';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { openEngine } from '../shared/engine/transform';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

/** The same rules as the ecommerce_events contract, written as one would by hand in DuckDB. */
function duckdbBaselineSql(file: string, out: string): string[] {
  const src = `SELECT ordinality AS rec, * FROM read_csv('${file}', header = true, all_varchar = true, delim = ',', quote = '"', escape = '"', ignore_errors = true) WITH ORDINALITY`;
  const typed = `SELECT rec, try_strptime(trim(event_time), '%Y-%m-%d %H:%M:%S UTC') AS t_time, lower(trim(event_type)) AS t_type,
      try_cast(trim(product_id) AS BIGINT) AS t_product, try_cast(trim(category_id) AS BIGINT) AS t_category,
      coalesce(nullif(trim(category_code), ''), 'unknown') AS t_code, coalesce(nullif(lower(trim(brand)), ''), 'unknown') AS t_brand,
      try_cast(trim(price) AS DOUBLE) AS t_price, try_cast(trim(user_id) AS BIGINT) AS t_user, nullif(trim(user_session), '') AS t_session, *
    FROM (${src})`;
  const valid = `t_time IS NOT NULL AND t_type IN ('view', 'cart', 'remove_from_cart', 'purchase') AND t_product > 0 AND t_user > 0 AND t_price BETWEEN 0 AND 100000 AND t_session IS NOT NULL`;
  return [
    `COPY (
      SELECT sha256(concat_ws('|', strftime(t_time, '%Y-%m-%dT%H:%M:%S.%fZ'), t_user, t_product, t_session, t_type)) AS event_id,
        t_time AS event_time, t_type AS event_type, t_product AS product_id, t_category AS category_id, t_code AS category_code, t_brand AS brand,
        t_price AS price, t_user AS user_id, t_session AS user_session, CAST(t_time AS DATE) AS event_date, hour(t_time) AS event_hour,
        dayofweek(t_time) + 1 AS event_day_of_week, split_part(t_code, '.', 1) AS category_l1, nullif(split_part(t_code, '.', 2), '') AS category_l2,
        nullif(split_part(t_code, '.', 3), '') AS category_l3, now() AS processed_timestamp, rec + 1 AS source_line
      FROM (${typed}) WHERE ${valid}
      QUALIFY min(rec) OVER (PARTITION BY t_time, t_user, t_product, t_session, t_type) = rec
    ) TO '${out}/silver' (FORMAT PARQUET, COMPRESSION ZSTD, PARTITION_BY (event_date), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true)`,
    `COPY (SELECT * EXCLUDE (t_time, t_type, t_product, t_category, t_code, t_brand, t_price, t_user, t_session) FROM (${typed}) WHERE NOT coalesce(${valid}, false))
      TO '${out}/quarantine.parquet' (FORMAT PARQUET, COMPRESSION ZSTD)`,
  ];
}

async function main(): Promise<void> {
  const rows = Number(arg('rows'));
  const workDir = path.resolve(arg('work', '.bench'));
  const adminUrl = arg('db');
  const lakeConn = arg('lake');
  await mkdir(workDir, { recursive: true });
  const file = path.join(workDir, `events-${rows}.csv`);
  if (!existsSync(file)) {
    await writeEcommerceSample(file, { rows, seed: 46, days: Math.max(1, Math.round(rows / 300_000)), truncateLastLine: true });
  }
  const bytes = statSync(file).size;

  // A fresh database for this case.
  const { url } = await createScratchDatabase(adminUrl, `bench_${rows}`);

  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 25);

  const platform = await createPlatform(
    { ...process.env, LakeStorage: lakeConn, DATABASE_URL: url },
    { log: silentLogger, workRoot: path.join(workDir, 'work'), hooks: {} },
  );
  const bronze = `ecommerce_events/bench/events-${rows}.csv`;
  await platform.lake.write('bronze', bronze, createReadStream(file));
  const t0 = Date.now();
  const report = await ingestBronzeFile(platform, bronze);
  const totalMs = Date.now() - t0;
  const pipelinePeakRss = peakRss;
  if (report.outcome !== 'succeeded') throw new Error(`bench ingest failed: ${report.message}`);
  const l = report.ledger!;
  const t = l.timings_ms;
  const lakeMs = (t.download ?? 0) + (t.stage ?? 0) + (t.profile ?? 0) + (t.dedup ?? 0) + (t.crossfile ?? 0) + (t.silver ?? 0) + (t.quarantine ?? 0) + (t.upload ?? 0);
  const pgMs = (t.existing ?? 0) + (t.load_export ?? 0) + (t.load_copy ?? 0);

  // DuckDB doing the same work on the same local file, same engine settings.
  const duckOut = path.join(workDir, 'duckdb-baseline');
  await rm(duckOut, { recursive: true, force: true });
  await mkdir(duckOut, { recursive: true });
  const { con, close } = await openEngine(platform.engine);
  const d0 = Date.now();
  for (const sql of duckdbBaselineSql(file, duckOut)) await con.run(sql);
  const duckMs = Date.now() - d0;
  close();

  // A plain COPY of the same silver rows into an identical table (same key and indexes).
  const client = await platform.pool.connect();
  const dump = path.join(workDir, 'silver-rows.txt');
  await copyQueryToFile(client, 'SELECT * FROM silver.ecommerce_events', dump);
  await client.query('CREATE TABLE silver.bench_plain (LIKE silver.ecommerce_events INCLUDING ALL)');
  const c0 = Date.now();
  await client.query('BEGIN');
  await pipeline(createReadStream(dump, { highWaterMark: 1024 * 1024 }), client.query(copyFrom('COPY silver.bench_plain FROM STDIN')));
  await client.query('COMMIT');
  const copyMs = Date.now() - c0;
  client.release();

  clearInterval(sampler);
  await platform.close();
  await rm(dump, { force: true });
  await rm(duckOut, { recursive: true, force: true });

  process.stdout.write(
    `${JSON.stringify({
      rows,
      bytes,
      rowsRead: l.rows_read,
      rowsSilver: l.rows_silver,
      quarantined: l.rows_quarantined,
      duplicates: (l.duplicates_in_file ?? 0) + (l.duplicates_cross_file ?? 0),
      totalMs,
      lakeMs,
      duckMs,
      pgMs,
      copyMs,
      timings: t,
      pipelinePeakRssMb: Math.round(pipelinePeakRss / 1024 / 1024),
      engineMemoryLimit: platform.engine.memoryLimit,
    })}\n`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
