import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../shared/engine/transform';
import { readSmall } from '../shared/lake/lake';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { freshPlatform, HAVE_DATASETS, SAMPLE_EVENTS } from './support/platform';
import { referenceFromFile, type ReferenceResult, sum } from './support/reference';

const BRONZE = 'ecommerce_events/2019/10/2019-Oct_first17k.csv';

/** Reads a Parquet file from the lake with DuckDB (the way a lake reader would). */
async function readLakeParquet(p: Platform, zone: 'silver' | 'quarantine', file: string, sql: string): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pq-'));
  try {
    const local = path.join(dir, 'f.parquet');
    await writeFile(local, await readSmall(await p.lake.read(zone, file), 512 * 1024 * 1024));
    const { con, close } = await openEngine({ memoryLimit: '256MB', spillDir: dir });
    try {
      return (await con.runAndReadAll(sql.replace('$FILE', `'${local}'`))).getRowObjects() as Record<string, unknown>[];
    } finally {
      close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.runIf(HAVE_DATASETS)('the real REES46 sample (2019-Oct_first17k.csv) through bronze → silver', () => {
  let platform: Platform;
  let expected: ReferenceResult;

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    expected = referenceFromFile(SAMPLE_EVENTS);
    await platform.lake.write('bronze', BRONZE, createReadStream(SAMPLE_EVENTS));
  });
  afterAll(async () => platform?.close());

  it('the independent reading of the file finds the documented quirks', () => {
    // 17,434 whole rows + the cut-off last line; 5 exact duplicates; nothing else wrong.
    expect(expected.rowsRead).toBe(17_435);
    expect(expected.malformed).toBe(1);
    expect(sum(expected.dropped)).toBe(0);
    expect(expected.duplicates).toBe(5);
    expect(expected.kept).toHaveLength(17_429);
    // Counted on the 17,429 rows that land in silver (one of the 5 in-file duplicates has no brand).
    expect(expected.unknownBrand).toBe(2_476);
    expect(expected.zeroPrice).toBe(19);
  });

  it('records exact accounting in the ledger: read = silver + quarantined + duplicates', async () => {
    const report = await ingestBronzeFile(platform, BRONZE);
    expect(report.outcome).toBe('succeeded');
    const l = report.ledger!;
    expect(l.rows_read).toBe(expected.rowsRead);
    expect(l.rows_silver).toBe(expected.kept.length);
    expect(l.rows_quarantined).toBe(expected.malformed);
    expect(l.quarantine_reasons).toEqual({ malformed_row: 1 });
    expect(l.duplicates_in_file).toBe(expected.duplicates);
    expect(l.duplicates_cross_file).toBe(0);
    expect(l.warnings).toEqual({ known_brand: expected.unknownBrand, nonzero_price: expected.zeroPrice });
    expect(l.rows_read).toBe(l.rows_silver! + l.rows_quarantined! + l.duplicates_in_file! + l.duplicates_cross_file!);
    expect(l.size_bytes).toBe(2_344_707);
    // The run's duration covers every stage, the after-commit gold export included (it once
    // stopped at the start of the load transaction).
    const t = l.timings_ms;
    expect(t.after_commit).toBeGreaterThan(0);
    expect(l.duration_ms).toBeGreaterThanOrEqual(t.download! + t.load_copy! + t.gold! + t.after_commit!);
    expect(new Date(l.finished_at!).getTime() - new Date(l.started_at).getTime()).toBeGreaterThanOrEqual(l.duration_ms! - 1);
  });

  it('stores the same rows in PostgreSQL silver, 19-digit ids exact, standardised and derived as specified', async () => {
    const t = 'silver.ecommerce_events';
    const { rows: [agg] } = await platform.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids, sum(price)::numeric(14,2)::text AS revenue,
              count(*) FILTER (WHERE brand = 'unknown')::int AS unknown_brand,
              count(*) FILTER (WHERE category_code = 'unknown')::int AS unknown_category,
              min(source_line)::int AS first_line, max(source_line)::int AS last_line
       FROM ${t}`,
    );
    const revenue = expected.kept.reduce((a, e) => a + Math.round(e.price * 100), 0) / 100;
    expect(agg.n).toBe(17_429);
    expect(agg.ids).toBe(17_429);
    expect(agg.revenue).toBe(revenue.toFixed(2));
    expect(agg.unknown_brand).toBe(expected.kept.filter((e) => e.brand === 'unknown').length);
    expect(agg.unknown_category).toBe(expected.kept.filter((e) => e.categoryCode === 'unknown').length);
    expect(agg.first_line).toBe(2);
    expect(agg.last_line).toBe(17_435);

    // Every category id survives exactly (they are beyond 2^53).
    const { rows } = await platform.pool.query(`SELECT DISTINCT category_id::text AS c FROM ${t}`);
    expect(new Set(rows.map((r) => r.c))).toEqual(new Set(expected.kept.map((e) => e.categoryId)));

    // One row in full: line 3 of the file.
    const { rows: [r] } = await platform.pool.query(
      `SELECT event_id, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS t, event_type, product_id::text AS product_id,
              category_id::text AS category_id, category_code, brand, price, user_id::text AS user_id, user_session,
              event_date::text AS d, event_hour, event_day_of_week, category_l1, category_l2, category_l3, source_file, source_line
       FROM ${t} WHERE source_line = 3`,
    );
    expect(r).toMatchObject({
      t: '2019-10-01T00:00:00',
      event_type: 'view',
      product_id: '3900821',
      category_id: '2053013552326770905',
      category_code: 'appliances.environment.water_heater',
      brand: 'aqua',
      price: 33.2,
      user_id: '554748717',
      user_session: '9333dfbd-b87a-4708-9857-6336556b0fcc',
      d: '2019-10-01',
      event_hour: 0,
      event_day_of_week: 3, // 2019-10-01 was a Tuesday: Spark dayofweek, 1 = Sunday
      category_l1: 'appliances',
      category_l2: 'environment',
      category_l3: 'water_heater',
      source_file: BRONZE,
    });
    const { createHash } = await import('node:crypto');
    const key = '2019-10-01T00:00:00.000000Z|554748717|3900821|9333dfbd-b87a-4708-9857-6336556b0fcc|view';
    expect(r.event_id).toBe(createHash('sha256').update(key).digest('hex'));
  });

  it('quarantines the cut-off last line with its raw text, line number and reason, in the lake and in PostgreSQL', async () => {
    const { rows } = await platform.pool.query(`SELECT quarantine_reason, quarantine_detail, raw_line, source_line::int AS line FROM silver.ecommerce_events_quarantine`);
    expect(rows).toHaveLength(1);
    expect(rows[0].quarantine_reason).toBe('malformed_row');
    expect(rows[0].line).toBe(17_436);
    expect(rows[0].raw_line).toBe('2019-10-01 02:50:00 UTC,view,10900305,2053013555069845885,appliances.kitchen.mixer,elenberg,25.71,52040330');
    expect(rows[0].quarantine_detail).toBe("expected 9 fields (the header's), found 8");

    const files: string[] = [];
    for await (const f of platform.lake.list('quarantine', 'ecommerce_events/rows/')) files.push(f.path);
    expect(files).toHaveLength(1);
    const lake = await readLakeParquet(platform, 'quarantine', files[0]!, 'SELECT quarantine_reason, source_line FROM read_parquet($FILE)');
    expect(lake).toEqual([{ quarantine_reason: 'malformed_row', source_line: 17_436n }]);
  });

  it('writes silver Parquet partitioned by event_date with the same rows and exact int64 ids', async () => {
    const files: string[] = [];
    for await (const f of platform.lake.list('silver', 'ecommerce_events/')) files.push(f.path);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^ecommerce_events\/event_date=2019-10-01\/part-[0-9a-f]{16}-0\.parquet$/);
    const [stats] = await readLakeParquet(
      platform,
      'silver',
      files[0]!,
      `SELECT count(*) AS n, count(DISTINCT category_id) AS cats, max(category_id) AS max_cat, typeof(max(category_id)) AS cat_type,
              count(DISTINCT event_id) AS ids, min(event_date)::VARCHAR AS d FROM read_parquet($FILE)`,
    );
    const maxCat = expected.kept.map((e) => BigInt(e.categoryId)).reduce((a, b) => (b > a ? b : a));
    expect(stats).toEqual({ n: 17_429n, cats: BigInt(new Set(expected.kept.map((e) => e.categoryId)).size), max_cat: maxCat, cat_type: 'BIGINT', ids: 17_429n, d: '2019-10-01' });
  });

  it('is idempotent: the same file version delivered again changes nothing', async () => {
    const before = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events');
    const again = await ingestBronzeFile(platform, BRONZE);
    expect(again.outcome).toBe('skipped');
    const after = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    const runs = await platform.pool.query('SELECT count(*)::int AS n, max(attempts)::int AS attempts FROM ops.file_runs');
    expect(runs.rows[0]).toEqual({ n: 1, attempts: 1 });
  });

  it('the same content under another name is a re-delivery: every row a duplicate, nothing added to silver, quarantine or the lake', async () => {
    const first = await platform.pool.query(`SELECT run_id FROM ops.file_runs WHERE status = 'succeeded' AND redelivery_of IS NULL`);
    const quarantineFiles = async () => {
      const out: string[] = [];
      for await (const f of platform.lake.list('quarantine', 'ecommerce_events/')) out.push(f.path);
      return out;
    };
    const quarantinedBefore = await quarantineFiles();
    await platform.lake.write('bronze', 'ecommerce_events/copy-of-sample.csv', createReadStream(SAMPLE_EVENTS));
    const report = await ingestBronzeFile(platform, 'ecommerce_events/copy-of-sample.csv');
    expect(report.outcome).toBe('succeeded');
    expect(first.rows).toHaveLength(1);
    expect(report.ledger).toMatchObject({
      rows_read: 17_435,
      rows_silver: 0,
      rows_quarantined: 0,
      duplicates_in_file: 0,
      duplicates_cross_file: 17_435,
      redelivery_of: first.rows[0].run_id,
    });
    const { rows } = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events');
    expect(rows[0].n).toBe(17_429);
    const q = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events_quarantine');
    expect(q.rows[0].n).toBe(1);
    expect(await quarantineFiles()).toEqual(quarantinedBefore);
    const silverFiles: string[] = [];
    for await (const f of platform.lake.list('silver', 'ecommerce_events/')) silverFiles.push(f.path);
    expect(silverFiles).toHaveLength(1);
  });
});
