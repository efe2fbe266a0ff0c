import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openEngine } from '../shared/engine/transform';
import { readSmall } from '../shared/lake/lake';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { checkFile, rebuildDataset } from '../shared/pipeline/datasetOps';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { resolveFromRoot } from '../shared/projectRoot';
import { testEnv, wipeLake } from './support/platform';

/**
 * A user onboards a new CSV dataset (UCI Online Retail layout: guests have no CustomerID, which is
 * part of the dedup key; money is decimal), ingests, adds a column, ingests again, makes a
 * breaking change, checks a file against it, and rebuilds: nothing is deleted by hand at any step.
 */
function retailContract(opts: { country?: boolean; quantityType?: string; key?: string[] } = {}): string {
  return `import type { Contract } from '../../contracts/contract';

const retail: Contract = {
  name: 'retail',
  description: 'Online retail invoice lines (UCI Online Retail layout).',
  bronzePrefix: 'retail/',
  format: { type: 'csv' },
  source: [
    { name: 'invoice_no', aliases: ['InvoiceNo'] },
    { name: 'stock_code', aliases: ['StockCode'] },
    { name: 'quantity', aliases: ['Quantity'] },
    { name: 'invoice_date', aliases: ['InvoiceDate'] },
    { name: 'unit_price', aliases: ['UnitPrice'] },
    { name: 'customer_id', aliases: ['CustomerID'], required: false },
    ${opts.country ? "{ name: 'country', aliases: ['Country'], required: false }," : ''}
  ],
  typed: [
    { name: 'invoice_no', type: 'string', sql: "nullif(trim(invoice_no), '')", description: 'Invoice number.' },
    { name: 'stock_code', type: 'string', sql: "nullif(trim(stock_code), '')", description: 'Product code.' },
    { name: 'quantity', type: '${opts.quantityType ?? 'int'}', sql: 'try_cast(trim(quantity) AS ${opts.quantityType === 'bigint' ? 'BIGINT' : 'INTEGER'})', description: 'Units.' },
    { name: 'invoice_date', type: 'timestamp', sql: "try_strptime(trim(invoice_date), '%m/%d/%Y %H:%M')", description: 'Invoice time.' },
    { name: 'unit_price', type: 'decimal(10,2)', sql: 'try_cast(trim(unit_price) AS DECIMAL(10,2))', description: 'Unit price.' },
    { name: 'customer_id', type: 'string', sql: "nullif(trim(customer_id), '')", description: 'Customer (NULL for guests).' },
    ${opts.country ? `{ name: 'country', type: 'string', sql: "nullif(trim(country), '')", description: 'Country.' },` : ''}
  ],
  expectations: [{ name: 'valid_quantity', check: 'quantity IS NOT NULL', action: 'drop', description: 'Quantity is present.' }],
  dedup: { mode: 'first', key: ${JSON.stringify(opts.key ?? ['invoice_no', 'stock_code', 'customer_id'])}, idColumn: 'line_id' },
  derived: [
    { name: 'line_total', type: 'decimal(12,2)', sql: 'quantity * unit_price', description: 'quantity × unit_price, exact.' },
    { name: 'invoice_day', type: 'date', sql: 'CAST(invoice_date AS DATE)', description: 'Invoice date.' },
  ],
  partitionBy: ['invoice_day'],
  rangeColumn: 'invoice_date',
};

export default retail;
`;
}

const HEADER = 'InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID';
const FILE1 = [
  HEADER,
  '536365,85123A,6,12/1/2010 8:26,1.85,17850', // 6 × 1.85 = 11.10 exactly
  '536366,22633,6,12/1/2010 8:28,1.85,', // a guest: no CustomerID (part of the key)
  '536366,22633,6,12/1/2010 8:28,1.85,', // the same guest line again: an in-file duplicate
  '536367,84879,1.5,12/1/2010 8:34,1.69,13047', // not an integer: invalid_quantity, never rounded
  '536368,22960,3,12/1/2010 8:34,4.255,13047', // three decimals for decimal(10,2): invalid_unit_price
  '536369,21756,2,12/1/2010 8:35,5.95,13047',
].join('\r\n');

describe('onboarding a dataset and evolving its contract, on real PostgreSQL and Azurite', () => {
  let dir: string;
  let env: Record<string, string>;
  let db: pg.Pool;
  const open: Platform[] = [];

  async function start(): Promise<Platform> {
    const p = await createPlatform(env, { log: silentLogger, datasetsDir: dir });
    open.push(p);
    return p;
  }
  const writeRetail = (opts: Parameters<typeof retailContract>[0] = {}) => writeFile(path.join(dir, 'retail', 'contract.ts'), retailContract(opts));
  const put = (p: Platform, name: string, text: string) => p.lake.write('bronze', `retail/${name}`, Readable.from([Buffer.from(text)]));
  const silver = async () =>
    (await db.query(`SELECT invoice_no, stock_code, customer_id, quantity, unit_price::text, line_total::text, source_file, source_line::int FROM silver.retail ORDER BY source_file, source_line`)).rows;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'retail-'));
    await cp(resolveFromRoot('shared', 'datasets'), dir, { recursive: true, filter: (src) => !/\.(csv|gz|parquet)$/i.test(src) });
    await mkdir(path.join(dir, 'retail'));
    await writeRetail();
    const { name } = await createScratchDatabase(inject('databaseUrl'), 'retail');
    await wipeLake();
    env = testEnv(name);
    db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  });
  afterAll(async () => {
    for (const p of open) await p.close();
    await db?.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('lands a file with a nullable key, exact decimals, and strict integers', async () => {
    const p = await start();
    await put(p, '2010-12-01.csv', FILE1);
    const r = await ingestBronzeFile(p, 'retail/2010-12-01.csv');
    expect(r.outcome, r.message).toBe('succeeded');
    expect(r.ledger).toMatchObject({ rows_read: 6, rows_silver: 3, rows_quarantined: 2, duplicates_in_file: 1, quarantine_reasons: { invalid_quantity: 1, invalid_unit_price: 1 } });
    expect(await silver()).toEqual([
      { invoice_no: '536365', stock_code: '85123A', customer_id: '17850', quantity: 6, unit_price: '1.85', line_total: '11.10', source_file: 'retail/2010-12-01.csv', source_line: 2 },
      { invoice_no: '536366', stock_code: '22633', customer_id: null, quantity: 6, unit_price: '1.85', line_total: '11.10', source_file: 'retail/2010-12-01.csv', source_line: 3 },
      { invoice_no: '536369', stock_code: '21756', customer_id: '13047', quantity: 2, unit_price: '5.95', line_total: '11.90', source_file: 'retail/2010-12-01.csv', source_line: 7 },
    ]);
    // The lake's Parquet carries the exact decimal type, not a double.
    const files: string[] = [];
    for await (const f of p.lake.list('silver', 'retail/')) files.push(f.path);
    const local = path.join(dir, 'retail.parquet');
    await writeFile(local, await readSmall(await p.lake.read('silver', files[0]!)));
    const { con, close } = await openEngine({ memoryLimit: '128MB', spillDir: path.join(dir, 'spill') });
    try {
      const types = (await con.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${local}'))`)).getRowObjects();
      expect(types.find((t) => t.column_name === 'line_total')?.column_type).toBe('DECIMAL(12,2)');
      const total = (await con.runAndReadAll(`SELECT CAST(sum(line_total) AS VARCHAR) AS s FROM read_parquet('${local}')`)).getRowObjects();
      expect(total[0]!.s).toBe('34.10');
    } finally {
      close();
    }
  });

  it('a rebuild with an unchanged contract replays to exactly the original silver', async () => {
    const p = await start();
    await put(p, '2010-12-02.csv', [HEADER, '536370,22728,24,12/2/2010 9:00,3.75,12583', '536371,22727,12,12/2/2010 9:01,3.75,'].join('\n'));
    expect((await ingestBronzeFile(p, 'retail/2010-12-02.csv')).outcome).toBe('succeeded');
    const before = await silver();
    const ids = async () => (await db.query(`SELECT line_id FROM silver.retail ORDER BY 1`)).rows;
    const idsBefore = await ids();
    const r = await rebuildDataset(p, p.contracts.get('retail')!);
    expect(r.files.map((f) => f.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(await silver()).toEqual(before);
    expect(await ids()).toEqual(idsBefore);
    const q = await db.query(`SELECT count(*)::int AS n FROM silver.retail_quarantine`);
    expect(q.rows[0].n).toBe(2);
  });

  it('adding a column is applied on the next start (ALTER, recorded); old rows stay; the new column fills from new files', async () => {
    await writeRetail({ country: true });
    const p = await start();
    expect([...p.blockedDatasets.keys()]).toEqual([]);
    const change = await db.query(`SELECT change FROM ops.schema_changes WHERE dataset = 'retail' AND table_name LIKE '%retail"' ORDER BY id`);
    expect(change.rows.map((c) => c.change).join(' | ')).toMatch(/country/);
    await put(p, '2010-12-03.csv', [`${HEADER},Country`, '536380,22086,4,12/3/2010 10:00,2.55,17850,United Kingdom'].join('\n'));
    const r = await ingestBronzeFile(p, 'retail/2010-12-03.csv');
    expect(r.outcome, r.message).toBe('succeeded');
    const rows = (await db.query(`SELECT invoice_no, country FROM silver.retail ORDER BY invoice_no`)).rows;
    expect(rows).toEqual([
      { invoice_no: '536365', country: null },
      { invoice_no: '536366', country: null },
      { invoice_no: '536369', country: null },
      { invoice_no: '536370', country: null },
      { invoice_no: '536371', country: null },
      { invoice_no: '536380', country: 'United Kingdom' },
    ]);
    // The same content again under another name: a re-delivery, nothing added anywhere.
    await put(p, 'copy-of-2010-12-01.csv', FILE1);
    const again = await ingestBronzeFile(p, 'retail/copy-of-2010-12-01.csv');
    expect(again.ledger).toMatchObject({ rows_silver: 0, rows_quarantined: 0, duplicates_cross_file: 6 });
    expect((await db.query(`SELECT count(*)::int AS n FROM silver.retail_quarantine`)).rows[0].n).toBe(2);
  });

  it('a breaking change blocks only that dataset; check shows what a file would do without touching anything; rebuild applies it', async () => {
    // A new dedup key changes every id: silver cannot be altered into it, only rebuilt.
    await writeRetail({ country: true, key: ['invoice_no', 'stock_code'] });
    const p = await start();
    expect(p.blockedDatasets.get('retail')).toMatch(/medallion dataset rebuild retail/);
    // Other datasets and read commands still work.
    expect((await db.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events`)).rows[0].n).toBe(0);
    await put(p, '2010-12-04.csv', [HEADER, '536390,22111,2,12/4/2010 11:00,4.25,14000'].join('\n'));
    const refused = await ingestBronzeFile(p, 'retail/2010-12-04.csv');
    expect(refused).toMatchObject({ outcome: 'failed', failureKind: 'bad_contract' });
    expect(await p.lake.stat('bronze', 'retail/2010-12-04.csv')).toBeDefined();

    const snapshot = async () => ({
      silver: (await db.query(`SELECT count(*)::int AS n FROM silver.retail`)).rows[0].n,
      ledger: (await db.query(`SELECT count(*)::int AS n, max(started_at)::text AS last FROM ops.file_runs`)).rows[0],
      quarantine: (await db.query(`SELECT count(*)::int AS n FROM silver.retail_quarantine`)).rows[0].n,
      ids: (await db.query(`SELECT md5(string_agg(line_id, ',' ORDER BY line_id)) AS h FROM silver.retail`)).rows[0].h,
    });
    const before = await snapshot();
    const local = path.join(dir, 'check.csv');
    await writeFile(local, [HEADER, '536391,22112,x7,12/4/2010 11:05,4.25,14000', '536392,22113,5,12/4/2010 11:06,1.00,14001'].join('\n'));
    const check = await checkFile(p, p.contracts.get('retail')!, local);
    expect(check.freshTables).toBe(true);
    expect(check.report.ledger).toMatchObject({ rows_read: 2, rows_silver: 1, rows_quarantined: 1, quarantine_reasons: { invalid_quantity: 1 } });
    expect(check.samples).toMatchObject([{ source_line: 2, quarantine_reason: 'invalid_quantity', raw_line: '536391,22112,x7,12/4/2010 11:05,4.25,14000' }]);
    expect(await snapshot()).toEqual(before);

    const rebuilt = await rebuildDataset(p, p.contracts.get('retail')!);
    expect(rebuilt.files.filter((f) => f.outcome === 'succeeded')).toHaveLength(5);
    expect(p.blockedDatasets.has('retail')).toBe(false);
    const after = await snapshot();
    expect(after.ids).not.toBe(before.ids);
    // 3 + 2 + 1 + 1 rows; the copy is a re-delivery again; the 2 bad lines are quarantined again.
    expect(after.silver).toBe(7);
    expect(after.quarantine).toBe(2);
    const runs = await db.query(`SELECT status, count(*)::int AS n FROM ops.file_runs WHERE dataset = 'retail' GROUP BY 1`);
    expect(runs.rows).toEqual([{ status: 'succeeded', n: 5 }]);
  });

  it('every connection runs in UTC: with the database in another time zone, overlapping re-deliveries still land', async () => {
    const dbName = new URL(env.DATABASE_URL!).pathname.slice(1);
    await db.query(`ALTER DATABASE "${dbName}" SET timezone TO 'America/New_York'`);
    const p = await start();
    const tz = await p.pool.query('SHOW TimeZone');
    expect(tz.rows[0].TimeZone).toBe('UTC');
    // Overlaps 2010-12-01 (different bytes, so not a re-delivery): the two shared lines are duplicates.
    await put(p, 'overlap.csv', [HEADER, '536365,85123A,6,12/1/2010 8:26,1.85,17850', '536369,21756,2,12/1/2010 8:35,5.95,13047', '536400,10002,1,12/1/2010 8:40,0.85,12000'].join('\n'));
    const r = await ingestBronzeFile(p, 'retail/overlap.csv');
    expect(r.outcome, r.message).toBe('succeeded');
    expect(r.ledger).toMatchObject({ rows_read: 3, rows_silver: 1, duplicates_cross_file: 2 });
  });
});
