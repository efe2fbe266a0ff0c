import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadContracts } from '../shared/contracts/registry';
import { datasetFolder, loadContractFile } from '../shared/contracts/load';
import { contractFingerprint, describeSchemaState, isWidening, resetDatasetTables } from '../shared/db/migrate';
import { goldModelsDir } from '../shared/gold/models';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { resolveFromRoot } from '../shared/projectRoot';
import { createPlatform, type Platform } from '../shared/platform';
import { testEnv } from './support/platform';

const REPO_DATASETS = resolveFromRoot('shared', 'datasets');

/** A small UCI-Online-Retail-like contract; `edit` changes the parts a test varies. */
function retailContract(edit: { extraTyped?: string; quantityType?: string; key?: string[]; invoiceSql?: string; priceSql?: string } = {}): string {
  const key = edit.key ?? ['invoice_no', 'stock_code', 'customer_id'];
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
    { name: 'country', aliases: ['Country'], required: false },
  ],
  typed: [
    { name: 'invoice_no', type: 'string', sql: ${JSON.stringify(edit.invoiceSql ?? "nullif(trim(invoice_no), '')")}, description: 'Invoice number.' },
    { name: 'stock_code', type: 'string', sql: "nullif(trim(stock_code), '')", description: 'Product code.' },
    { name: 'quantity', type: '${edit.quantityType ?? 'int'}', sql: 'try_cast(trim(quantity) AS BIGINT)', description: 'Units.' },
    { name: 'invoice_date', type: 'timestamp', sql: "try_strptime(trim(invoice_date), '%m/%d/%Y %H:%M')", description: 'Invoice time.' },
    { name: 'unit_price', type: 'decimal(10,2)', sql: ${JSON.stringify(edit.priceSql ?? 'try_cast(trim(unit_price) AS DECIMAL(10,2))')}, description: 'Unit price.' },
    { name: 'customer_id', type: 'string', sql: "nullif(trim(customer_id), '')", description: 'Customer (NULL for guests).' },
    ${edit.extraTyped ?? ''}
  ],
  expectations: [{ name: 'valid_quantity', check: 'quantity IS NOT NULL', action: 'drop', description: 'Quantity parses.' }],
  dedup: { mode: 'first', key: ${JSON.stringify(key)}, idColumn: 'line_id' },
  derived: [{ name: 'invoice_day', type: 'date', sql: 'CAST(invoice_date AS DATE)', description: 'Invoice date.' }],
  partitionBy: ['invoice_day'],
  rangeColumn: 'invoice_date',
};

export default retail;
`;
}

const COUNTRY = `{ name: 'country', type: 'string', sql: "nullif(trim(country), '')", description: 'Country.' },`;

async function copyRepoDatasets(to: string): Promise<void> {
  // Contracts and gold SQL only (no sample data).
  await cp(REPO_DATASETS, to, { recursive: true, filter: (src) => !/\.(csv|gz|parquet)$/i.test(src) });
}

describe('contracts load from source, no build needed', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'contracts-src-'));
    await copyRepoDatasets(dir);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('sees an edited contract in a copied datasets folder, and reads gold SQL from the same folder', async () => {
    const file = path.join(dir, 'ecommerce_events', 'contract.ts');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace("description: 'Product views,", "description: 'EDITED Product views,"));
    const registry = await loadContracts(dir);
    expect(registry.get('ecommerce_events')!.description).toMatch(/^EDITED Product views/);
    // customers imports ../../config: resolved to the platform's own module from the copy
    expect(registry.get('customers')!.dedup.mode).toBe('latest');
    expect(datasetFolder('ecommerce_events')).toBe(path.join(dir, 'ecommerce_events'));
    expect(goldModelsDir('ecommerce_events')).toBe(path.join(dir, 'ecommerce_events', 'gold'));

    // Edit again in the same process: the next load sees it (nothing cached).
    await writeFile(file, text.replace("description: 'Product views,", "description: 'AGAIN Product views,"));
    expect((await loadContracts(dir)).get('ecommerce_events')!.description).toMatch(/^AGAIN/);
    await loadContracts(REPO_DATASETS);
  });

  it('reports a SQL typo at load time with the column name', async () => {
    const bad = path.join(dir, 'ecommerce_events', 'contract.ts');
    const text = await readFile(path.join(REPO_DATASETS, 'ecommerce_events', 'contract.ts'), 'utf8');
    await writeFile(bad, text.replace("sql: `lower(${trimmed('event_type')})`", "sql: `lower(${trimmed('event_typ')})`"));
    // The broken dataset is left out with the reason; the others load (status, sql keep working).
    const registry = await loadContracts(dir);
    expect(registry.get('ecommerce_events')).toBeUndefined();
    expect(registry.get('customers')).toBeDefined();
    expect(registry.broken.get('ecommerce_events')).toMatch(/typed column 'event_type'\.sql does not compile.*event_typ/);
    expect(registry.brokenFor('ecommerce_events/2019/a.csv')).toMatch(/fix shared\/datasets\/ecommerce_events\/contract\.ts/);
    // A TypeScript syntax error (a missing comma) is reported with its place, not loaded anyway.
    await writeFile(bad, text.replace("partitionBy: ['event_date'],", "partitionBy: ['event_date']"));
    const syntax = await loadContracts(dir);
    expect(syntax.get('ecommerce_events')).toBeUndefined();
    expect(syntax.broken.get('ecommerce_events')).toMatch(/contract\.ts:\d+:\d+: ',' expected/);
    await writeFile(bad, text);
  });

  it('falls back to a compiled contract.js only where no source exists', async () => {
    const only = await mkdtemp(path.join(os.tmpdir(), 'contracts-js-'));
    try {
      await mkdir(path.join(only, 'shop'));
      const contract = { ...(await loadContracts(REPO_DATASETS)).get('ecommerce_events')!, name: 'shop', bronzePrefix: 'shop/' };
      await writeFile(path.join(only, 'shop', 'contract.js'), `exports.default = ${JSON.stringify(contract)};`);
      const loaded = loadContractFile(only, 'shop')!;
      expect(loaded).toMatchObject({ fromSource: false, file: path.join(only, 'shop', 'contract.js') });
      expect((await loadContracts(only)).get('shop')!.bronzePrefix).toBe('shop/');
      expect(loadContractFile(REPO_DATASETS, 'ecommerce_events')).toMatchObject({ fromSource: true });
      expect(loadContractFile(only, 'nothing')).toBeUndefined();
    } finally {
      await rm(only, { recursive: true, force: true });
      await loadContracts(REPO_DATASETS);
    }
  });

  it('the compiled CLI code (dist) loads contracts from source too', { skip: !existsSync(path.join(resolveFromRoot('dist'), 'shared', 'contracts', 'load.js')) }, async () => {
    const file = path.join(dir, 'ecommerce_events', 'contract.ts');
    const text = await readFile(path.join(REPO_DATASETS, 'ecommerce_events', 'contract.ts'), 'utf8');
    await writeFile(file, text.replace("description: 'Product views,", "description: 'FROM DIST Product views,"));
    const script = `require(${JSON.stringify(path.join(resolveFromRoot('dist'), 'shared', 'contracts', 'registry.js'))}).loadContracts(${JSON.stringify(dir)})
      .then((r) => { console.log(JSON.stringify(r.all().map((c) => [c.name, c.description.slice(0, 9)]))); }, (e) => { console.error(e); process.exit(1); });`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    const loaded = JSON.parse(out) as [string, string][];
    expect(loaded.map(([n]) => n).sort()).toEqual((await readdir(dir)).filter((d) => existsSync(path.join(dir, d, 'contract.ts'))).sort());
    expect(loaded.filter(([n]) => n === 'customers' || n === 'ecommerce_events')).toEqual([
      ['customers', 'Telco cus'],
      ['ecommerce_events', 'FROM DIST'],
    ]);
  });
});

describe('schema diff rules', () => {
  it('widenings: int → bigint/numeric, numeric precision up, real → double; nothing else', () => {
    expect(isWidening('integer', 'bigint')).toBe(true);
    expect(isWidening('integer', 'numeric(10,0)')).toBe(true);
    expect(isWidening('integer', 'numeric(11,2)')).toBe(false);
    expect(isWidening('bigint', 'numeric(21,2)')).toBe(true);
    expect(isWidening('numeric(10,2)', 'numeric(12,2)')).toBe(true);
    expect(isWidening('numeric(10,2)', 'numeric(8,2)')).toBe(false);
    expect(isWidening('numeric(10,2)', 'bigint')).toBe(false);
    expect(isWidening('bigint', 'integer')).toBe(false);
    expect(isWidening('real', 'double precision')).toBe(true);
    expect(isWidening('double precision', 'real')).toBe(false);
    expect(isWidening('integer', 'text')).toBe(false);
    expect(isWidening('date', 'timestamp with time zone')).toBe(false);
  });

  it('the fingerprint covers what determines stored data, not descriptions', async () => {
    const c = (await loadContracts(REPO_DATASETS)).get('ecommerce_events')!;
    expect(contractFingerprint({ ...c, description: 'other' })).toBe(contractFingerprint(c));
    expect(contractFingerprint({ ...c, dedup: { ...c.dedup, key: c.dedup.key.slice(1) } })).not.toBe(contractFingerprint(c));
    expect(contractFingerprint({ ...c, partitionBy: [] })).not.toBe(contractFingerprint(c));
  });
});

describe('silver follows the contract: additive changes applied, breaking ones block the dataset', () => {
  let dir: string;
  let env: Record<string, string>;
  let db: pg.Pool;
  const open: Platform[] = [];

  async function start(): Promise<Platform> {
    const p = await createPlatform(env, { log: silentLogger, datasetsDir: dir });
    open.push(p);
    return p;
  }
  async function writeRetail(edit: Parameters<typeof retailContract>[0] = {}) {
    await writeFile(path.join(dir, 'retail', 'contract.ts'), retailContract(edit));
  }
  const columns = async (table: string) =>
    (
      await db.query<{ name: string; type: string; not_null: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null FROM pg_attribute a
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [table],
      )
    ).rows;
  const changes = async () => (await db.query<{ table_name: string; change: string; ddl: string | null }>(`SELECT table_name, change, ddl FROM ops.schema_changes WHERE dataset = 'retail' ORDER BY id`)).rows;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'contracts-lifecycle-'));
    await copyRepoDatasets(dir);
    await mkdir(path.join(dir, 'retail'));
    await writeRetail();
    const { name } = await createScratchDatabase(inject('databaseUrl'), 'lc');
    env = testEnv(name);
    db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  });
  afterAll(async () => {
    for (const p of open) await p.close();
    await db?.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('onboards a new dataset: tables created from the contract, customer_id (a nullable dedup key) may be NULL', async () => {
    const p = await start();
    expect([...p.blockedDatasets]).toEqual([]);
    expect(p.contracts.get('retail')).toBeDefined();
    const cols = await columns('silver.retail');
    expect(cols.find((c) => c.name === 'unit_price')).toMatchObject({ type: 'numeric(10,2)' });
    expect(cols.find((c) => c.name === 'customer_id')).toMatchObject({ not_null: false });
    expect((await changes()).map((c) => c.change)).toEqual(['create']);
    await db.query(`INSERT INTO silver.retail (line_id, invoice_no, stock_code, quantity, invoice_date, unit_price, customer_id, invoice_day, source_file, source_line, ingestion_run_id, ingested_at)
      VALUES ('a', '536365', '85123A', 6, '2010-12-01 08:26:00Z', 2.55, '17850', '2010-12-01', 'retail/a.csv', 2, gen_random_uuid(), now()),
             ('b', '536366', '22633', 6, '2010-12-01 08:28:00Z', 1.85, NULL, '2010-12-01', 'retail/a.csv', 3, gen_random_uuid(), now())`);
  });

  it('a new column is added with ALTER TABLE on restart, recorded, old rows intact', async () => {
    await writeRetail({ extraTyped: COUNTRY });
    const p = await start();
    expect([...p.blockedDatasets]).toEqual([]);
    expect((await columns('silver.retail')).find((c) => c.name === 'country')).toMatchObject({ type: 'text', not_null: false });
    const last = (await changes()).at(-1)!;
    expect(last).toMatchObject({ table_name: '"silver"."retail"', change: "add column 'country' text" });
    expect(last.ddl).toMatch(/^ALTER TABLE "silver"."retail" ADD COLUMN "country" text$/);
    expect((await db.query(`SELECT line_id, customer_id, country, unit_price::text AS price FROM silver.retail ORDER BY line_id`)).rows).toEqual([
      { line_id: 'a', customer_id: '17850', country: null, price: '2.55' },
      { line_id: 'b', customer_id: null, country: null, price: '1.85' },
    ]);
    // the quarantine table gained nothing (source unchanged); a restart without changes changes nothing
    const n = (await changes()).length;
    await start();
    expect((await changes()).length).toBe(n);
  });

  it('a widened type (int → bigint) is applied', async () => {
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint' });
    const p = await start();
    expect([...p.blockedDatasets]).toEqual([]);
    expect((await columns('silver.retail')).find((c) => c.name === 'quantity')).toMatchObject({ type: 'bigint' });
    expect((await changes()).at(-1)).toMatchObject({ change: "widen column 'quantity' integer → bigint" });
    expect((await db.query('SELECT count(*)::int AS n FROM silver.retail')).rows[0].n).toBe(2);
  });

  it('a dropped column blocks the dataset (not applied); the platform and other datasets still work', async () => {
    await writeRetail({ quantityType: 'bigint' });
    const p = await start();
    const msg = p.blockedDatasets.get('retail');
    expect(msg).toMatch(/column 'country' was dropped from the contract/);
    expect(msg).toMatch(/medallion dataset rebuild retail/);
    expect(p.blockedDatasets.has('ecommerce_events')).toBe(false);
    expect(p.blockedDatasets.has('customers')).toBe(false);
    expect((await columns('silver.retail')).some((c) => c.name === 'country')).toBe(true);
    expect((await db.query('SELECT count(*)::int AS n FROM silver.retail')).rows[0].n).toBe(2);
    expect((await p.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events')).rows[0].n).toBe(0);
    const stored = (await db.query(`SELECT blocked FROM ops.dataset_contracts WHERE dataset = 'retail'`)).rows[0];
    expect(stored.blocked).toBe(msg);
    const state = await describeSchemaState(p.pool, p.contracts.all());
    expect(state.find((s) => s.dataset === 'retail')).toMatchObject({ status: 'blocked', message: msg });
    expect(state.find((s) => s.dataset === 'ecommerce_events')).toMatchObject({ status: 'up_to_date' });
  });

  it('a changed dedup key blocks the dataset even though the columns match', async () => {
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint', key: ['invoice_no', 'stock_code'] });
    const p = await start();
    expect(p.blockedDatasets.get('retail')).toMatch(/dedup key \(invoice_no, stock_code, customer_id\) → \(invoice_no, stock_code\)/);
    // reverting the contract unblocks it
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint' });
    const q = await start();
    expect([...q.blockedDatasets]).toEqual([]);
    expect((await db.query(`SELECT blocked FROM ops.dataset_contracts WHERE dataset = 'retail'`)).rows[0].blocked).toBeNull();
  });

  it("a dedup key column's SQL changed blocks the dataset (ids of rows in silver would not match); another column's SQL applies to new files", async () => {
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint', priceSql: 'round(try_cast(trim(unit_price) AS DECIMAL(10,2)), 2)' });
    const p = await start();
    expect([...p.blockedDatasets]).toEqual([]);
    expect((await changes()).at(-1)).toMatchObject({ change: "typed column 'unit_price' sql changed (new files only; existing rows keep their values until a rebuild)" });
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint', priceSql: 'round(try_cast(trim(unit_price) AS DECIMAL(10,2)), 2)', invoiceSql: "nullif(upper(trim(invoice_no)), '')" });
    const q = await start();
    expect(q.blockedDatasets.get('retail')).toMatch(/typed column 'invoice_no' sql changed, and it is part of the dedup key .*medallion dataset rebuild retail/);
    await writeRetail({ extraTyped: COUNTRY, quantityType: 'bigint', priceSql: 'round(try_cast(trim(unit_price) AS DECIMAL(10,2)), 2)' });
    expect([...(await start()).blockedDatasets]).toEqual([]);
  });

  it('resetDatasetTables (the rebuild command) recreates the tables with the current contract and unblocks', async () => {
    await writeRetail({ quantityType: 'bigint', key: ['invoice_no', 'stock_code'] });
    const p = await start();
    expect(p.blockedDatasets.has('retail')).toBe(true);
    const client = await p.pool.connect();
    try {
      await client.query('BEGIN');
      await resetDatasetTables(client, p.contracts.get('retail')!);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect((await columns('silver.retail')).some((c) => c.name === 'country')).toBe(false);
    expect((await db.query('SELECT count(*)::int AS n FROM silver.retail')).rows[0].n).toBe(0);
    expect((await changes()).at(-1)).toMatchObject({ change: 'rebuild' });
    expect([...(await start()).blockedDatasets]).toEqual([]);
  });

  it('two platforms starting at once on a new database are safe', async () => {
    const { name } = await createScratchDatabase(inject('databaseUrl'), 'lc');
    const env2 = testEnv(name);
    const [a, b] = await Promise.all([0, 1].map(() => createPlatform(env2, { log: silentLogger, datasetsDir: dir })));
    open.push(a!, b!);
    expect([...a!.blockedDatasets, ...b!.blockedDatasets]).toEqual([]);
    const rows = (await a!.pool.query<{ dataset: string; n: number }>(`SELECT dataset, count(*)::int AS n FROM ops.schema_changes GROUP BY dataset ORDER BY dataset`)).rows;
    // Exactly one schema change (the creation) per dataset of the folder, although two platforms raced.
    expect(rows).toEqual(a!.contracts.all().map((c) => ({ dataset: c.name, n: 1 })).sort((x, y) => x.dataset.localeCompare(y.dataset)));
    expect(rows.map((r) => r.dataset)).toEqual(expect.arrayContaining(['customers', 'ecommerce_events', 'retail']));
  });
});
