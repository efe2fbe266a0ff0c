import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../shared/engine/transform';
import { rebuildGold } from '../shared/gold/refresh';
import { readSmall } from '../shared/lake/lake';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { writeCrmInteractions } from '../shared/samples/crmInteractions';
import { rng } from '../shared/samples/ecommerceSample';
import { CRM_ORDER, type CrmFile, type CrmGold, crmGold, crmSilver, type Row } from './support/crmReference';
import { DATASETS, freshPlatform } from './support/platform';

/**
 * Seed 000's CRM gold (shared/datasets/crm_deals/gold/*.sql) on the real Maven CRM files plus the
 * generated interactions, through the real pipeline: after EVERY file of a random split and arrival
 * order, the four gold tables equal an independent computation from the raw files that have arrived
 * (tests/support/crmReference.ts); at the end a full rebuild gives the same rows, and the Parquet
 * exports are in the lake.
 */

const CRM_DIR = path.join(DATASETS, 'crm');
const HAVE_CRM = existsSync(path.join(CRM_DIR, 'sales_pipeline.csv'));
const TABLES = Object.keys(CRM_ORDER) as (keyof CrmGold)[];
/** Written by the lead-scoring step, not by the models' SELECT: not part of the comparison. */
const NOT_COMPARED = new Set(['probability_to_convert']);

const PREFIX: Record<CrmFile['dataset'], string> = {
  crm_accounts: 'crm/accounts',
  crm_deals: 'crm/sales_pipeline',
  crm_interactions: 'crm/interactions',
  crm_products: 'crm/products',
  crm_sales_teams: 'crm/sales_teams',
};

interface Arrival extends CrmFile {
  name: string;
}

/** Header + data lines of a CRLF or LF file. */
function lines(text: string): { header: string; data: string[] } {
  const all = text.split(/\r\n|\n/);
  return { header: all[0]!, data: all.slice(1).filter((l) => l.trim() !== '') };
}

const join = (header: string, data: string[]) => `${header}\r\n${data.map((l) => `${l}\r\n`).join('')}`;

/** The data lines dealt at random into `parts` files (each keeps the header). */
function split(text: string, parts: number, r: () => number): string[] {
  const { header, data } = lines(text);
  const buckets: string[][] = Array.from({ length: parts }, () => []);
  for (const l of data) buckets[Math.floor(r() * parts)]!.push(l);
  return buckets.map((b) => join(header, b));
}

/** An older pipeline export of some closed deals: they were still Engaging (no close date or value). */
function staleSnapshot(pipeline: string, share: number, r: () => number): string {
  const { header, data } = lines(pipeline);
  const older = data
    .filter((l) => /,(Won|Lost),/.test(l) && r() < share)
    .map((l) => {
      const f = l.split(',');
      f[4] = 'Engaging';
      f[6] = '';
      f[7] = '';
      return f.join(',');
    });
  return join(header, older);
}

function shuffle<T>(items: T[], r: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Every gold table as the reference returns it: same order, same text forms. A table that does not
 * exist yet (no file of a dataset it reads has landed: the framework builds a model with its first
 * input) reads as empty.
 */
async function readCrmGold(db: pg.Pool): Promise<CrmGold> {
  const out = {} as CrmGold;
  for (const t of TABLES) {
    const exists = await db.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`gold.${t}`]);
    if (!exists.rows[0]!.ok) {
      out[t] = [];
      continue;
    }
    const res = await db.query<Row>(`SELECT * FROM gold.${t} ORDER BY ${CRM_ORDER[t]}`);
    out[t] = res.rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !NOT_COMPARED.has(k))));
  }
  return out;
}

/** Cell-by-cell differences (first few), so a failure says which row and column. */
function mismatches(actual: CrmGold, expected: CrmGold): string[] {
  const out: string[] = [];
  for (const t of TABLES) {
    const a = actual[t];
    const e = expected[t];
    if (a.length !== e.length) out.push(`${t}: ${a.length} rows, expected ${e.length}`);
    for (let i = 0; i < Math.min(a.length, e.length) && out.length < 30; i++) {
      for (const k of new Set([...Object.keys(a[i]!), ...Object.keys(e[i]!)])) {
        if (!Object.is(a[i]![k], e[i]![k])) out.push(`${t} row ${i} (${JSON.stringify(Object.values(e[i]!)[0])}) ${k}: ${JSON.stringify(a[i]![k])} != expected ${JSON.stringify(e[i]![k])}`);
      }
    }
  }
  return out;
}

describe.runIf(HAVE_CRM)('CRM gold (seed 000): incremental = full rebuild = independent reference, across datasets and arrival orders', () => {
  let dir: string;
  const raw = {} as Record<'accounts' | 'products' | 'sales_teams' | 'pipeline' | 'interactions', string>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gold-crm-'));
    raw.accounts = readFileSync(path.join(CRM_DIR, 'accounts.csv'), 'utf8');
    raw.products = readFileSync(path.join(CRM_DIR, 'products.csv'), 'utf8');
    raw.sales_teams = readFileSync(path.join(CRM_DIR, 'sales_teams.csv'), 'utf8');
    raw.pipeline = readFileSync(path.join(CRM_DIR, 'sales_pipeline.csv'), 'utf8');
    const file = path.join(dir, 'interactions.csv');
    const summary = await writeCrmInteractions(file, { crmDir: CRM_DIR });
    expect(summary.duplicates + summary.blankChannels + summary.unknownAccounts).toBeGreaterThan(0);
    raw.interactions = readFileSync(file, 'utf8');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('the reference reads the real files with the contracts\' rules (sanity of the oracle)', () => {
    const silver = crmSilver([
      { dataset: 'crm_accounts', text: raw.accounts },
      { dataset: 'crm_deals', text: raw.pipeline },
      { dataset: 'crm_interactions', text: raw.interactions },
    ]);
    expect(silver.accounts.size).toBe(85);
    expect(silver.deals.size).toBe(8800);
    expect([...silver.accounts.values()].filter((a) => a.sector === 'technology').length).toBe(12);
    expect([...silver.accounts.values()].some((a) => a.sector === 'technolgy')).toBe(false);
    expect([...silver.deals.values()].filter((d) => d.product === 'GTX Pro').length).toBe(1480);
    expect([...silver.deals.values()].filter((d) => d.account === null).length).toBe(1425);
    expect(silver.dropped.crm_interactions).toBeGreaterThan(0); // the blank channels
    const gold = crmGold(silver);
    // Every account of the master, plus the interaction-only names the generator made up.
    expect(gold.customer_features.filter((r) => r.in_account_master).length).toBe(85);
    expect(gold.customer_features.filter((r) => !r.in_account_master).every((r) => r.total_deals === '0' && Number(r.total_interactions) > 0)).toBe(true);
    // Money sums to the file's Won revenue; the scores stay in their ranges.
    const won = [...silver.deals.values()].filter((d) => d.stage === 'Won').reduce((s, d) => s + d.closeCents!, 0);
    expect(gold.customer_features.reduce((s, r) => s + Math.round(Number(r.total_revenue) * 100), 0)).toBe(won);
    expect(gold.sales_summary.reduce((s, r) => s + Math.round(Number(r.revenue) * 100), 0)).toBe(won);
    for (const r of gold.customer_features) {
      expect(r.lead_score).toBeGreaterThanOrEqual(0), expect(r.lead_score).toBeLessThanOrEqual(100);
      expect(r.engagement_score).toBeGreaterThanOrEqual(0), expect(r.engagement_score).toBeLessThanOrEqual(10);
    }
    expect(gold.top_customers.map((r) => r.revenue_rank)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(gold.channel_performance.map((r) => r.channel)).toEqual(['call', 'email', 'meeting', 'whatsapp']);
  });

  for (const [trial, seed, dealParts, interactionParts, stale] of [
    [1, 2024, 3, 2, false],
    [2, 77, 3, 3, true],
  ] as const) {
    it(`arrival order ${trial}: deals in ${dealParts} files${stale ? ' plus an older snapshot' : ''}, interactions in ${interactionParts}, accounts between them — gold after every file equals the reference of what arrived, then a full rebuild`, async () => {
      const r = rng(seed);
      const files: Arrival[] = [
        { name: 'accounts.csv', dataset: 'crm_accounts', text: raw.accounts },
        { name: 'products.csv', dataset: 'crm_products', text: raw.products },
        { name: 'sales_teams.csv', dataset: 'crm_sales_teams', text: raw.sales_teams },
        ...split(raw.pipeline, dealParts, r).map((text, i) => ({ name: `pipeline-${i + 1}.csv`, dataset: 'crm_deals' as const, text })),
        ...split(raw.interactions, interactionParts, r).map((text, i) => ({ name: `interactions-${i + 1}.csv`, dataset: 'crm_interactions' as const, text })),
        ...(stale ? [{ name: 'pipeline-older.csv', dataset: 'crm_deals' as const, text: staleSnapshot(raw.pipeline, 0.05, r) }] : []),
      ];
      // A random order in which some deals arrive before their accounts and some after.
      let order = shuffle(files, r);
      const accountsAt = () => order.findIndex((f) => f.dataset === 'crm_accounts');
      const dealsAt = () => order.flatMap((f, i) => (f.dataset === 'crm_deals' ? [i] : []));
      while (!(dealsAt().some((i) => i < accountsAt()) && dealsAt().some((i) => i > accountsAt()))) order = shuffle(files, r);

      const { platform } = await freshPlatform();
      try {
        const arrived: Arrival[] = [];
        let beforeAccounts: CrmGold | undefined;
        for (const f of order) {
          const bronze = `${PREFIX[f.dataset]}/order-${trial}/${f.name}`;
          await platform.lake.write('bronze', bronze, Readable.from([Buffer.from(f.text)]));
          const report = await ingestBronzeFile(platform, bronze);
          expect(report.outcome, `${f.name}: ${report.message}`).toBe('succeeded');
          arrived.push(f);
          const expected = crmGold(crmSilver(arrived));
          const actual = await readCrmGold(platform.pool);
          expect(mismatches(actual, expected), `after ${arrived.map((a) => a.name).join(', ')}`).toEqual([]);
          expect(actual).toEqual(expected);
          if (f.dataset !== 'crm_accounts' && !arrived.some((a) => a.dataset === 'crm_accounts')) beforeAccounts = actual;
          if (f.dataset === 'crm_accounts' && beforeAccounts) {
            // The late-arriving dimension: accounts that only deals named so far are re-resolved now.
            const early = beforeAccounts.customer_features.filter((row) => row.total_deals !== '0');
            expect(early.length).toBeGreaterThan(0);
            expect(early.every((row) => row.in_account_master === false && row.sector === null)).toBe(true);
            for (const row of early) {
              const now = actual.customer_features.find((x) => x.account === row.account)!;
              expect(now).toMatchObject({ in_account_master: true, total_deals: row.total_deals, total_revenue: row.total_revenue });
              expect(now.sector).not.toBeNull();
            }
          }
        }
        expect(beforeAccounts).toBeDefined();

        const incremental = await readCrmGold(platform.pool);
        const everything = crmGold(crmSilver(order));
        expect(incremental.customer_features.length).toBeGreaterThanOrEqual(85);
        expect(incremental.top_customers).toHaveLength(50);
        const full = await rebuildGold(platform.pool, platform.contracts);
        expect(full?.mode).toBe('full');
        const rebuilt = await readCrmGold(platform.pool);
        expect(mismatches(rebuilt, everything)).toEqual([]);
        expect(rebuilt).toEqual(incremental);

        // The exports: one Parquet file per table in gold/crm_deals/, with every row.
        const listed: string[] = [];
        for await (const x of platform.lake.list('gold', 'crm_deals/')) listed.push(x.path);
        expect(listed.sort()).toEqual(expect.arrayContaining(TABLES.map((t) => `crm_deals/${t}.parquet`).sort()));
        const scratch = await mkdtemp(path.join(os.tmpdir(), 'gold-crm-parquet-'));
        const { con, close } = await openEngine({ memoryLimit: '256MB', threads: 1, spillDir: path.join(scratch, 'spill') });
        try {
          for (const t of TABLES) {
            const file = path.join(scratch, `${t}.parquet`);
            await writeFile(file, await readSmall(await platform.lake.read('gold', `crm_deals/${t}.parquet`)));
            const n = await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}')`);
            expect(n.getRowObjects()[0]!.n, t).toBe(everything[t].length);
          }
          const types = await con.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path.join(scratch, 'customer_features.parquet')}'))`);
          const typeOf = Object.fromEntries(types.getRowObjects().map((x) => [String(x.column_name), String(x.column_type)]));
          expect(typeOf).toMatchObject({ account: 'VARCHAR', total_revenue: 'DECIMAL(18,2)', win_rate: 'DOUBLE', lead_score: 'DOUBLE', num_closed_won: 'BIGINT', probability_to_convert: 'DOUBLE' });
        } finally {
          close();
          await rm(scratch, { recursive: true, force: true });
        }
      } finally {
        await platform.close();
      }
    });
  }
});
