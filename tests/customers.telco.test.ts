import { createReadStream, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildGold } from '../shared/gold';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { GOLD_CUSTOMERS_SQL, GOLD_SUMMARY_SQL, goldChurnSummary, goldCustomers, telcoRows, typeRecord } from './support/customersReference';
import { freshPlatform, HAVE_DATASETS, TELCO } from './support/platform';

describe.runIf(HAVE_DATASETS)('the real Telco churn CSV dropped into bronze/customers/ → silver → gold', () => {
  let platform: Platform;
  const path = 'customers/exports/Telco-Customer-Churn.csv';
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  it('lands all 7,043 customers; the 11 blank TotalCharges (tenure 0) become monthly_charges × 0', async () => {
    await platform.lake.write('bronze', path, createReadStream(TELCO));
    const r = await ingestBronzeFile(platform, path);
    expect(r.outcome, r.message).toBe('succeeded');
    const l = r.ledger!;
    expect({ read: l.rows_read, silver: l.rows_silver, q: l.rows_quarantined, dup: l.duplicates_in_file! + l.duplicates_cross_file! }).toEqual({
      read: 7043,
      silver: 7043,
      q: 0,
      dup: 0,
    });
    // No e-mail in the export; every contract type is a known one.
    expect(l.warnings).toMatchObject({ valid_email: 0, known_contract: 0 });
    const { rows } = await platform.pool.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE total_charges_imputed)::int AS imputed,
              count(*) FILTER (WHERE total_charges_imputed AND tenure = 0 AND total_charges = 0)::int AS zero,
              count(*) FILTER (WHERE updated_at = ingested_at)::int AS as_of_load, count(DISTINCT source_line)::int AS lines
       FROM silver.customers`,
    );
    expect(rows[0]).toEqual({ n: 7043, imputed: 11, zero: 11, as_of_load: 7043, lines: 7043 });
  });

  it('gold.customers and gold.customer_churn_summary hold exactly what the CSV says (incremental, then full rebuild)', async () => {
    const ingestedAt = (await platform.pool.query(`SELECT DISTINCT ingested_at FROM silver.customers`)).rows.map((x) => (x.ingested_at as Date).getTime());
    expect(ingestedAt).toHaveLength(1);
    const current = telcoRows(readFileSync(TELCO, 'utf8')).map((row) => typeRecord(row, ingestedAt[0]!));
    expect(current).toHaveLength(7043);
    const expectedCustomers = goldCustomers(current);
    const expectedSummary = goldChurnSummary(current);
    // Spot checks of the independent reading against the raw file.
    expect(expectedCustomers.filter((c) => c.total_charges_imputed)).toHaveLength(11);
    expect(expectedSummary.reduce((s, g) => s + Number(g.customers), 0)).toBe(7043);
    expect(expectedSummary.reduce((s, g) => s + Number(g.churned), 0)).toBe(1869);

    // Incremental (the pipeline hook, inside the silver transaction).
    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(expectedCustomers);
    expect((await platform.pool.query(GOLD_SUMMARY_SQL)).rows).toEqual(expectedSummary);
    // Full rebuild: the same rows.
    await rebuildGold(platform.pool, platform.contracts, ['customers']);
    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(expectedCustomers);
    expect((await platform.pool.query(GOLD_SUMMARY_SQL)).rows).toEqual(expectedSummary);

    // Exported to the lake after the commit.
    const files: string[] = [];
    for await (const f of platform.lake.list('gold', 'customers/')) files.push(f.path);
    expect(files.sort()).toEqual(['customers/customer_churn_summary.parquet', 'customers/customers.parquet']);
  });
});
