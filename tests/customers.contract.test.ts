import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as silverLoad from '../shared/db/silverLoad';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { freshPlatform } from './support/platform';

// The loader's own counts (late_records), whatever the core does with them.
const loads: silverLoad.SilverLoadResult[] = [];
vi.mock('../shared/db/silverLoad', async (importOriginal) => {
  const mod = await importOriginal<typeof silverLoad>();
  return {
    ...mod,
    loadSilverRows: async (...args: Parameters<typeof mod.loadSilverRows>) => {
      const r = await mod.loadSilverRows(...args);
      if (args[1].name === 'customers') loads.push(r);
      return r;
    },
  };
});

function put(p: Platform, file: string, content: string | Buffer): Promise<unknown> {
  return p.lake.write('bronze', file, Readable.from([Buffer.isBuffer(content) ? content : Buffer.from(content)]));
}

const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

async function silverRow(p: Platform, id: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await p.pool.query(
    `SELECT customer_id, gender, senior_citizen, partner, dependents, tenure, phone_service, internet_service, contract,
            monthly_charges, total_charges, total_charges_imputed, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS updated_at,
            first_name, last_name, email, email_valid, churn, year, month, day, hour, source_file, source_line::int
     FROM silver.customers WHERE customer_id = $1`,
    [id],
  );
  return rows[0];
}

describe('customers contract: JSON lines and CSV through bronze → silver', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  it('normalises a gzip JSON-lines batch: booleans, defaults, computed total, e-mail check, malformed lines quarantined with their text', async () => {
    const lines = [
      { customer_id: ' C-1 ', gender: 'f', senior_citizen: 1, partner: 'Yes', dependents: false, tenure: 3, phone_service: 'true', internet_service: 'fiber optic', contract: 'one year', monthly_charges: 29.85, total_charges: null, updated_at: '2024-05-03T07:12:45.123Z', first_name: 'Ana', last_name: 'Silva', email: ' Ana.Silva@Example.COM ' },
      { customer_id: 'C-2', tenure: '4', monthly_charges: '50.5', updated_at: '2024-05-03T09:00:00+02:00', email: 'not-an-email' },
      'this line is not JSON',
      '',
      { customer_id: 'C-3', senior_citizen: 'maybe', monthly_charges: 10, updated_at: '2024-05-03T07:00:00Z' },
      { customer_id: 'C-4', tenure: 4.5, monthly_charges: 10, updated_at: '2024-05-03T07:00:00Z' },
      '"a JSON string, not an object"',
      { customer_id: 'C-5', monthly_charges: 20, tenure: 2, total_charges: ' ', updated_at: 1714720365123, partner: 'N', dependents: 'Y', gender: 'MALE', contract: 'Two year', Churn: 'Yes' },
      { customer_id: 'C-6', monthly_charges: 20, tenure: 2, total_charges: 'abc', updated_at: '2024-05-03T07:00:00Z' },
    ];
    const text = jsonl(lines).replace(/\n/g, '\r\n');
    await put(platform, 'customers/ingest_date=2024-05-03/hour=07/p0-00000000000000000000-00000000000000000008.jsonl.gz', gzipSync(text));
    const r = await ingestBronzeFile(platform, 'customers/ingest_date=2024-05-03/hour=07/p0-00000000000000000000-00000000000000000008.jsonl.gz');
    expect(r.outcome, r.message).toBe('succeeded');
    const l = r.ledger!;
    // 9 lines, 1 blank (not a record): 8 read = 3 silver + 5 quarantined.
    expect({ read: l.rows_read, silver: l.rows_silver, q: l.rows_quarantined, dup: l.duplicates_in_file! + l.duplicates_cross_file! }).toEqual({ read: 8, silver: 3, q: 5, dup: 0 });
    // Strict typing: a non-blank value that does not parse is invalid_<column>; JSON that is not an object is malformed.
    expect(l.quarantine_reasons).toEqual({ malformed_row: 2, invalid_senior_citizen: 1, invalid_tenure: 1, invalid_total_charges: 1 });
    expect(l.warnings).toMatchObject({ valid_email: 1, known_contract: 1 });

    expect(await silverRow(platform, 'C-1')).toMatchObject({
      gender: 'Female', senior_citizen: true, partner: true, dependents: false, tenure: 3, phone_service: true,
      internet_service: 'Fiber optic', contract: 'One year', monthly_charges: 29.85, total_charges: 89.55, total_charges_imputed: true,
      updated_at: '2024-05-03T07:12:45.123', email: 'ana.silva@example.com', email_valid: true, churn: null,
      year: 2024, month: 5, day: 3, hour: 7, source_line: 1,
    });
    // Defaults: gender/internet/contract Unknown, booleans false; offset converted to UTC.
    expect(await silverRow(platform, 'C-2')).toMatchObject({
      gender: 'Unknown', senior_citizen: false, partner: false, internet_service: 'Unknown', contract: 'Unknown', tenure: 4,
      monthly_charges: 50.5, total_charges: 202, updated_at: '2024-05-03T07:00:00.000', email: 'not-an-email', email_valid: false, source_line: 2,
    });
    // Epoch milliseconds, Y/N, aliases (Churn), blank total computed; line numbers count the blank and bad lines.
    expect(await silverRow(platform, 'C-5')).toMatchObject({
      gender: 'Male', partner: false, dependents: true, contract: 'Two year', total_charges: 40, total_charges_imputed: true,
      updated_at: '2024-05-03T07:12:45.123', churn: true, source_line: 8,
    });

    const q = await platform.pool.query(
      `SELECT quarantine_reason, source_line::int, raw_line, customer_id FROM silver.customers_quarantine ORDER BY source_line`,
    );
    expect(q.rows).toEqual([
      { quarantine_reason: 'malformed_row', source_line: 3, raw_line: 'this line is not JSON', customer_id: null },
      // the raw text of every quarantined line is kept: the line exactly as it was in the file
      { quarantine_reason: 'invalid_senior_citizen', source_line: 5, raw_line: JSON.stringify(lines[4]), customer_id: 'C-3' },
      { quarantine_reason: 'invalid_tenure', source_line: 6, raw_line: JSON.stringify(lines[5]), customer_id: 'C-4' },
      { quarantine_reason: 'malformed_row', source_line: 7, raw_line: lines[6], customer_id: null },
      { quarantine_reason: 'invalid_total_charges', source_line: 9, raw_line: JSON.stringify(lines[8]), customer_id: 'C-6' },
    ]);
    // Silver in the lake: partitioned by year/month/day/hour of updated_at.
    const files: string[] = [];
    for await (const f of platform.lake.list('silver', 'customers/')) files.push(f.path);
    expect(files.every((f) => /^customers\/year=2024\/month=5\/day=3\/hour=7\/part-[0-9a-f]{16}-\d+\.parquet$/.test(f))).toBe(true);
  });

  it('reads a CSV (Telco layout, header names mapped) under the same JSON-lines contract; a CSV without a required column is rejected whole', async () => {
    const csv =
      'customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,Contract,MonthlyCharges,TotalCharges,Churn\n' +
      'T-1,Female,0,Yes,No,0,No,No phone service,DSL,Two year,52.55, ,No\n' +
      'T-2,Male,1,No,No,34,Yes,No,Fiber optic,Month-to-month,99.65,3311.6,Yes\n';
    await put(platform, 'customers/telco/extract.csv', csv);
    const r = await ingestBronzeFile(platform, 'customers/telco/extract.csv');
    expect(r.outcome, r.message).toBe('succeeded');
    expect({ read: r.ledger!.rows_read, silver: r.ledger!.rows_silver }).toEqual({ read: 2, silver: 2 });
    expect(await silverRow(platform, 'T-1')).toMatchObject({ senior_citizen: false, partner: true, tenure: 0, phone_service: false, total_charges: 0, total_charges_imputed: true, churn: false, source_line: 2 });
    expect(await silverRow(platform, 'T-2')).toMatchObject({ senior_citizen: true, internet_service: 'Fiber optic', total_charges: 3311.6, total_charges_imputed: false, churn: true, source_line: 3 });
    // No updated_at column: the file's ingestion time.
    const { rows } = await platform.pool.query(`SELECT (updated_at = ingested_at) AS same FROM silver.customers WHERE customer_id = 'T-1'`);
    expect(rows[0].same).toBe(true);

    await put(platform, 'customers/telco/broken.csv', 'customerID,gender,tenure\nX,Male,1\n');
    const bad = await ingestBronzeFile(platform, 'customers/telco/broken.csv');
    expect(bad.outcome).toBe('failed');
    expect(bad.message).toMatch(/missing required column\(s\): senior_citizen, partner, dependents, phone_service, internet_service, contract, monthly_charges, total_charges/);
  });

  it('latest wins by updated_at: an older version arriving later is superseded, a redelivered file changes nothing, an equal time with new content wins', async () => {
    const v = (tenure: number, at: string, monthly = 10) => ({ customer_id: 'L-1', tenure, monthly_charges: monthly, updated_at: at });
    await put(platform, 'customers/x/a.jsonl', jsonl([v(5, '2024-06-01T10:00:00Z'), v(6, '2024-06-01T10:05:00Z')]));
    const a = await ingestBronzeFile(platform, 'customers/x/a.jsonl');
    expect({ silver: a.ledger!.rows_silver, inFile: a.ledger!.duplicates_in_file, cross: a.ledger!.duplicates_cross_file }).toEqual({ silver: 1, inFile: 1, cross: 0 });
    expect((await silverRow(platform, 'L-1'))!.tenure).toBe(6);

    // Older version, arrives later: not applied, counted as a duplicate.
    await put(platform, 'customers/x/b.jsonl', jsonl([v(4, '2024-06-01T09:00:00Z')]));
    const b = await ingestBronzeFile(platform, 'customers/x/b.jsonl');
    expect({ silver: b.ledger!.rows_silver, cross: b.ledger!.duplicates_cross_file }).toEqual({ silver: 0, cross: 1 });
    expect((await silverRow(platform, 'L-1'))!.tenure).toBe(6);

    // The same file again (new ETag: the ledger runs it): a re-delivery of landed content, every row a duplicate.
    await put(platform, 'customers/x/a.jsonl', jsonl([v(5, '2024-06-01T10:00:00Z'), v(6, '2024-06-01T10:05:00Z')]));
    const again = await ingestBronzeFile(platform, 'customers/x/a.jsonl');
    expect(again.outcome).toBe('succeeded');
    expect({ silver: again.ledger!.rows_silver, cross: again.ledger!.duplicates_cross_file, of: again.ledger!.redelivery_of }).toEqual({ silver: 0, cross: 2, of: a.ledger!.run_id });
    expect((await silverRow(platform, 'L-1'))!.source_file).toBe('customers/x/a.jsonl');

    // Same updated_at, different content: the later arrival wins (as within a file).
    await put(platform, 'customers/x/c.jsonl', jsonl([v(6, '2024-06-01T10:05:00Z', 11)]));
    const c = await ingestBronzeFile(platform, 'customers/x/c.jsonl');
    expect(c.ledger!.rows_silver).toBe(1);
    expect((await silverRow(platform, 'L-1'))!.monthly_charges).toBe(11);
    const { rows } = await platform.pool.query(`SELECT count(*)::int AS n FROM silver.customers WHERE customer_id = 'L-1'`);
    expect(rows[0].n).toBe(1);
  });

});

describe('customers: late records', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  it('counts records more than the lateness window behind the newest updated_at seen before the file as late, and applies them', async () => {
    loads.length = 0;
    const rec = (id: string, at: string) => ({ customer_id: id, tenure: 1, monthly_charges: 10, updated_at: at });
    // The first file sets the watermark: nothing is late in it (nothing was seen before).
    await put(platform, 'customers/late/0.jsonl', jsonl([rec('N-0', '2024-06-01T10:05:00Z'), rec('N-00', '2024-06-01T07:00:00Z')]));
    expect((await ingestBronzeFile(platform, 'customers/late/0.jsonl')).outcome).toBe('succeeded');
    // Newest so far: 10:05. Window 10 min → watermark 09:55.
    await put(platform, 'customers/late/1.jsonl', jsonl([rec('N-1', '2024-06-01T09:56:00Z'), rec('N-2', '2024-06-01T09:54:59Z'), rec('N-3', '2024-06-01T08:00:00Z'), rec('N-4', '2024-06-01T11:00:00Z')]));
    const r1 = await ingestBronzeFile(platform, 'customers/late/1.jsonl');
    expect(r1.ledger!.rows_silver).toBe(4);
    // The watermark moves between files: now 11:00 - 10 min = 10:50.
    await put(platform, 'customers/late/2.jsonl', jsonl([rec('N-5', '2024-06-01T10:49:00Z'), rec('N-4', '2024-06-01T10:00:00Z')]));
    const r2 = await ingestBronzeFile(platform, 'customers/late/2.jsonl');
    expect({ silver: r2.ledger!.rows_silver, cross: r2.ledger!.duplicates_cross_file }).toEqual({ silver: 1, cross: 1 });
    expect(loads.map((x) => x.warnings?.late_records)).toEqual([0, 2, 2]);
    // The ledger carries the same late counts next to the contract's warnings.
    expect([r1, r2].map((r) => r.ledger!.warnings.late_records)).toEqual([2, 2]);
    const { rows } = await platform.pool.query(`SELECT customer_id FROM silver.customers WHERE customer_id LIKE 'N-%' ORDER BY 1`);
    expect(rows.map((x) => x.customer_id)).toEqual(['N-0', 'N-00', 'N-1', 'N-2', 'N-3', 'N-4', 'N-5']);
  });
});
