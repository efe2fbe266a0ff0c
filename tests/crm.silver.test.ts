import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Contract } from '../shared/contracts/contract';
import { contractProblems, referenceProblems } from '../shared/contracts/validate';
import crmDeals from '../shared/datasets/crm_deals/contract';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { type FileReport, ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { resolveFromRoot } from '../shared/projectRoot';
import { writeCrmInteractions } from '../shared/samples/crmInteractions';
import { DATASETS, freshPlatform, testEnv } from './support/platform';

/**
 * The CRM silver layer of seed 000 on the REAL Maven CRM export (read in place from
 * ../shared/datasets/crm) plus generated interactions. Every expected number comes from an
 * independent reading of the raw files here (csv-parse + the contracts' rules in plain JS), not
 * from the pipeline.
 */

const CRM = path.join(DATASETS, 'crm');
const HAVE_CRM = existsSync(path.join(CRM, 'sales_pipeline.csv'));

type Raw = Record<string, string>;

/** A CSV file as records (header → text), strictly parsed. */
function readCsv(text: string): Raw[] {
  return parse(text, { columns: true, bom: true, skip_empty_lines: true }) as Raw[];
}

const t = (v: string | undefined): string | null => (v ?? '').trim() || null;
const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`));

/** What the contract does to a record: the reason it is quarantined, or its typed values. */
type Verdict<T> = { reason: string } | { row: T };

/** crm_deals, independently. */
interface Deal {
  opportunity_id: string;
  sales_agent: string;
  product: string;
  account: string | null;
  deal_stage: string;
  engage_date: string | null;
  close_date: string | null;
  close_value: string | null;
}
function typeDeal(r: Raw): Verdict<Deal> {
  for (const c of ['engage_date', 'close_date'] as const) if (t(r[c]) && !isDate(t(r[c])!)) return { reason: `invalid_${c}` };
  if (t(r.close_value) && !/^[+-]?\d+(\.\d{0,2}0*)?$/.test(t(r.close_value)!)) return { reason: 'invalid_close_value' };
  const stageText = t(r.deal_stage);
  const stage = ({ prospecting: 'Prospecting', engaging: 'Engaging', won: 'Won', lost: 'Lost' } as Record<string, string>)[stageText?.toLowerCase() ?? ''] ?? stageText;
  const product = t(r.product) === 'GTXPro' ? 'GTX Pro' : t(r.product);
  const d = {
    opportunity_id: t(r.opportunity_id),
    sales_agent: t(r.sales_agent),
    product,
    account: t(r.account),
    deal_stage: stage,
    engage_date: t(r.engage_date),
    close_date: t(r.close_date),
    close_value: t(r.close_value) === null ? null : Number(t(r.close_value)).toFixed(2),
  };
  const closed = stage === 'Won' || stage === 'Lost';
  if (!d.opportunity_id) return { reason: 'valid_opportunity_id' };
  if (!closed && stage !== 'Prospecting' && stage !== 'Engaging') return { reason: 'valid_deal_stage' };
  if (!d.sales_agent) return { reason: 'valid_sales_agent' };
  if (!d.product) return { reason: 'valid_product' };
  if (!d.account && closed) return { reason: 'account_when_closed' };
  if (!d.engage_date && stage !== 'Prospecting') return { reason: 'engage_date_when_engaged' };
  if (closed && (!d.close_date || d.close_value === null)) return { reason: 'close_when_closed' };
  if (!closed && (d.close_date || d.close_value !== null)) return { reason: 'open_not_closed' };
  if (d.close_value !== null && Number(d.close_value) < 0) return { reason: 'non_negative_close_value' };
  return { row: d as Deal };
}

/** crm_interactions, independently. */
interface Interaction {
  interaction_id: string;
  account: string;
  sales_agent: string;
  channel: string;
  outcome: string;
}
function typeInteraction(r: Raw): Verdict<Interaction> {
  const time = t(r.interaction_time);
  if (time && !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(time)) return { reason: 'invalid_interaction_time' };
  if (t(r.duration_minutes) && !/^[+-]?\d+$/.test(t(r.duration_minutes)!)) return { reason: 'invalid_duration_minutes' };
  if (t(r.response_time_hours) && !/^[+-]?\d+(\.\d{0,2}0*)?$/.test(t(r.response_time_hours)!)) return { reason: 'invalid_response_time_hours' };
  const channel = t(r.channel)?.toLowerCase() ?? null;
  const outcome = t(r.outcome)?.toLowerCase() ?? null;
  const duration = t(r.duration_minutes) === null ? null : Number(t(r.duration_minutes));
  if (!t(r.interaction_id)) return { reason: 'valid_interaction_id' };
  if (!time) return { reason: 'valid_interaction_time' };
  if (!t(r.account)) return { reason: 'valid_account' };
  if (!t(r.sales_agent)) return { reason: 'valid_sales_agent' };
  if (!['call', 'email', 'whatsapp', 'meeting'].includes(channel ?? '')) return { reason: 'valid_channel' };
  if (!['positive', 'neutral', 'negative'].includes(outcome ?? '')) return { reason: 'valid_outcome' };
  if (duration === null || duration < 0 || duration > 1440) return { reason: 'valid_duration_minutes' };
  if (t(r.response_time_hours) && Number(t(r.response_time_hours)) < 0) return { reason: 'valid_response_time_hours' };
  return { row: { interaction_id: t(r.interaction_id)!, account: t(r.account)!, sales_agent: t(r.sales_agent)!, channel: channel!, outcome: outcome! } };
}

/** The accounting a file should get, with the kept rows (after in-file dedup on `key`: first or last occurrence). */
function expected<T>(raws: Raw[], type: (r: Raw) => Verdict<T>, key: (row: T) => string, keep: 'first' | 'last') {
  const reasons: Record<string, number> = {};
  const valid: T[] = [];
  for (const r of raws) {
    const v = type(r);
    if ('reason' in v) reasons[v.reason] = (reasons[v.reason] ?? 0) + 1;
    else valid.push(v.row);
  }
  const byKey = new Map<string, T>();
  for (const row of valid) if (keep === 'last' || !byKey.has(key(row))) byKey.set(key(row), row);
  const kept = [...byKey.values()];
  return { read: raws.length, kept, quarantined: Object.values(reasons).reduce((s, n) => s + n, 0), reasons, duplicates: valid.length - kept.length };
}

function accounting(r: FileReport) {
  const l = r.ledger!;
  return { read: l.rows_read, silver: l.rows_silver, quarantined: l.rows_quarantined, duplicates: l.duplicates_in_file! + l.duplicates_cross_file! };
}

const count = <T>(rows: T[], f: (row: T) => boolean) => rows.filter(f).length;

/** Unresolved references of silver, as a user would check them now (docs/contracts.md). */
const UNRESOLVED_SQL = `
  SELECT 'crm_deals.account' AS ref, count(*)::int AS n FROM silver.crm_deals d
   WHERE d.account IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silver.crm_accounts a WHERE a.account = d.account)
  UNION ALL SELECT 'crm_deals.product', count(*)::int FROM silver.crm_deals d
   WHERE d.product IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silver.crm_products p WHERE p.product = d.product)
  UNION ALL SELECT 'crm_deals.sales_agent', count(*)::int FROM silver.crm_deals d
   WHERE d.sales_agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silver.crm_sales_teams s WHERE s.sales_agent = d.sales_agent)
  UNION ALL SELECT 'crm_interactions.account', count(*)::int FROM silver.crm_interactions i
   WHERE i.account IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silver.crm_accounts a WHERE a.account = i.account)
  UNION ALL SELECT 'crm_interactions.sales_agent', count(*)::int FROM silver.crm_interactions i
   WHERE i.sales_agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silver.crm_sales_teams s WHERE s.sales_agent = i.sales_agent)`;

describe.runIf(HAVE_CRM)('the CRM interactions generator', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crm-gen-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('is reproducible: the same seed gives the same bytes, another seed other bytes', async () => {
    const a = path.join(dir, 'a.csv');
    const b = path.join(dir, 'b.csv');
    const c = path.join(dir, 'c.csv');
    const sa = await writeCrmInteractions(a, { crmDir: CRM, seed: 7 });
    const sb = await writeCrmInteractions(b, { crmDir: CRM, seed: 7 });
    await writeCrmInteractions(c, { crmDir: CRM, seed: 8 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readFileSync(a).equals(readFileSync(c))).toBe(false);
    expect(sa).toEqual(sb);
    // The summary says what the file holds.
    const rows = readCsv(readFileSync(a, 'utf8'));
    expect(rows.length).toBe(sa.lines);
    expect(new Set(rows.map((r) => r.interaction_id)).size).toBe(sa.interactions);
    expect(sa.lines - sa.interactions).toBe(sa.duplicates);
    expect(count(rows, (r) => r.channel === '')).toBe(sa.blankChannels);
  });

  it('is correlated with the real deal outcomes, noisily: accounts that win more get more positive interactions', async () => {
    const file = path.join(dir, 'corr.csv');
    await writeCrmInteractions(file, { crmDir: CRM, seed: 42 });
    const interactions = readCsv(readFileSync(file, 'utf8'));
    const deals = readCsv(readFileSync(path.join(CRM, 'sales_pipeline.csv'), 'utf8'));
    const winRate = new Map<string, { won: number; closed: number }>();
    for (const d of deals) {
      if (!d.account || (d.deal_stage !== 'Won' && d.deal_stage !== 'Lost')) continue;
      const w = winRate.get(d.account) ?? { won: 0, closed: 0 };
      w.closed++;
      if (d.deal_stage === 'Won') w.won++;
      winRate.set(d.account, w);
    }
    const share = new Map<string, { positive: number; n: number }>();
    for (const i of interactions) {
      const s = share.get(i.account!) ?? { positive: 0, n: 0 };
      s.n++;
      if (i.outcome === 'positive') s.positive++;
      share.set(i.account!, s);
    }
    const accounts = [...winRate].map(([a, w]) => ({ rate: w.won / w.closed, positive: share.get(a)!.positive / share.get(a)!.n })).sort((x, y) => x.rate - y.rate);
    const median = accounts[Math.floor(accounts.length / 2)]!.rate;
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const winners = accounts.filter((a) => a.rate > median).map((a) => a.positive);
    const losers = accounts.filter((a) => a.rate <= median).map((a) => a.positive);
    expect(mean(winners)).toBeGreaterThan(mean(losers));

    // Deal level: interactions of the deal's account and agent inside its engage → close window.
    // Won deals get more positive ones, but the signal is far from perfect.
    const byPair = new Map<string, Raw[]>();
    for (const i of interactions) byPair.set(`${i.account}|${i.sales_agent}`, [...(byPair.get(`${i.account}|${i.sales_agent}`) ?? []), i]);
    const scored = deals
      .filter((d) => d.deal_stage === 'Won' || d.deal_stage === 'Lost')
      .map((d) => {
        const xs = (byPair.get(`${d.account}|${d.sales_agent}`) ?? []).filter((i) => i.interaction_time! >= d.engage_date! && i.interaction_time!.slice(0, 10) <= d.close_date!);
        const score = xs.length ? count(xs, (i) => i.outcome === 'positive') / xs.length : 0;
        return { won: d.deal_stage === 'Won', score };
      });
    const won = scored.filter((s) => s.won);
    const lost = scored.filter((s) => !s.won);
    let wins = 0;
    for (const w of won) for (const l of lost) wins += w.score > l.score ? 1 : w.score === l.score ? 0.5 : 0;
    const auc = wins / (won.length * lost.length);
    expect(auc).toBeGreaterThan(0.55);
    expect(auc).toBeLessThan(0.9);
  });
});

describe.runIf(HAVE_CRM)('the real CRM export → silver (deals before the dimensions they reference)', () => {
  let platform: Platform;
  let dir: string;
  let interactionsFile: string;
  const raw = (name: string) => readFileSync(path.join(CRM, name), 'utf8');
  const accountsRaw = () => readCsv(raw('accounts.csv'));
  const accountNames = () => new Set(accountsRaw().map((a) => a.account!.trim()));
  const agentNames = () => new Set(readCsv(raw('sales_teams.csv')).map((a) => a.sales_agent!.trim()));
  const productNames = () => new Set(readCsv(raw('products.csv')).map((a) => a.product!.trim()));

  async function ingest(bronze: string, local: string): Promise<FileReport> {
    await platform.lake.write('bronze', bronze, (await import('node:fs')).createReadStream(local));
    const r = await ingestBronzeFile(platform, bronze);
    expect(r.outcome, r.message).toBe('succeeded');
    return r;
  }
  const q = async <T = Record<string, unknown>>(sql: string) => (await platform.pool.query(sql)).rows as T[];

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    dir = await mkdtemp(path.join(os.tmpdir(), 'crm-silver-'));
    interactionsFile = path.join(dir, 'interactions.csv');
    await writeCrmInteractions(interactionsFile, { crmDir: CRM, seed: 42 });
  });
  afterAll(async () => {
    await platform?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the pipeline export lands first: every deal kept, every non-NULL reference warned as unresolved', async () => {
    const exp = expected(readCsv(raw('sales_pipeline.csv')), typeDeal, (d) => d.opportunity_id, 'last');
    const r = await ingest('crm/sales_pipeline/2017-12-31.csv', path.join(CRM, 'sales_pipeline.csv'));
    expect(accounting(r)).toEqual({ read: exp.read, silver: exp.kept.length, quarantined: exp.quarantined, duplicates: exp.duplicates });
    expect({ read: exp.read, silver: exp.kept.length }).toEqual({ read: 8800, silver: 8800 });
    // No dimension has landed: each non-NULL reference is unresolved (the tables are empty).
    expect(r.ledger!.warnings).toEqual({
      unresolved_account: count(exp.kept, (d) => d.account !== null),
      unresolved_product: exp.kept.length,
      unresolved_sales_agent: exp.kept.length,
      close_after_engage: 0,
    });
    expect(r.ledger!.warnings.unresolved_account).toBe(8800 - 1425);
  });

  it("GTXPro lands as products.csv's 'GTX Pro'; open deals without an account are in silver with a NULL account", async () => {
    const raws = readCsv(raw('sales_pipeline.csv'));
    const [p] = await q<{ gtx_pro: number; gtxpro: number; null_account: number; null_account_closed: number; open_no_close: number; won: number }>(
      `SELECT count(*) FILTER (WHERE product = 'GTX Pro')::int AS gtx_pro, count(*) FILTER (WHERE product = 'GTXPro')::int AS gtxpro,
              count(*) FILTER (WHERE account IS NULL)::int AS null_account,
              count(*) FILTER (WHERE account IS NULL AND deal_stage NOT IN ('Prospecting', 'Engaging'))::int AS null_account_closed,
              count(*) FILTER (WHERE deal_stage IN ('Prospecting', 'Engaging') AND close_date IS NULL AND close_value IS NULL)::int AS open_no_close,
              count(*) FILTER (WHERE deal_stage = 'Won')::int AS won
       FROM silver.crm_deals`,
    );
    expect(p).toEqual({
      gtx_pro: count(raws, (r) => r.product === 'GTXPro' || r.product === 'GTX Pro'),
      gtxpro: 0,
      null_account: count(raws, (r) => r.account === ''),
      null_account_closed: 0,
      open_no_close: count(raws, (r) => r.deal_stage === 'Prospecting' || r.deal_stage === 'Engaging'),
      won: count(raws, (r) => r.deal_stage === 'Won'),
    });
    expect(p!.gtx_pro).toBe(1480);
    expect(p!.null_account).toBe(1425);
    // Money is exact (numeric), dates are dates; a deal reads back as the raw file says.
    const first = raws[0]!;
    const [d] = await q(`SELECT opportunity_id, sales_agent, product, account, deal_stage, to_char(engage_date, 'YYYY-MM-DD') AS engage_date,
                           to_char(close_date, 'YYYY-MM-DD') AS close_date, close_value::text AS close_value FROM silver.crm_deals WHERE opportunity_id = '${first.opportunity_id}'`);
    expect(d).toEqual((typeDeal(first) as { row: Deal }).row);
  });

  it('the dimensions land (accounting exact, technolgy fixed, revenue in millions exact); a re-check then finds every deal reference resolved', async () => {
    const accounts = expected(accountsRaw(), (r) => ({ row: { account: t(r.account)! } }), (a) => a.account, 'last');
    const ra = await ingest('crm/accounts/accounts.csv', path.join(CRM, 'accounts.csv'));
    expect(accounting(ra)).toEqual({ read: accounts.read, silver: accounts.kept.length, quarantined: 0, duplicates: 0 });
    expect(ra.ledger!.warnings).toMatchObject({ known_sector: 0, invalid_revenue: 0, invalid_employees: 0, invalid_year_established: 0 });
    const rp = await ingest('crm/products/products.csv', path.join(CRM, 'products.csv'));
    expect(accounting(rp)).toEqual({ read: productNames().size, silver: productNames().size, quarantined: 0, duplicates: 0 });
    const rt = await ingest('crm/sales_teams/sales_teams.csv', path.join(CRM, 'sales_teams.csv'));
    expect(accounting(rt)).toEqual({ read: agentNames().size, silver: agentNames().size, quarantined: 0, duplicates: 0 });

    const typo = count(accountsRaw(), (a) => a.sector === 'technolgy');
    expect(typo).toBeGreaterThan(0);
    const [s] = await q(`SELECT count(*) FILTER (WHERE sector = 'technology')::int AS technology, count(*) FILTER (WHERE sector = 'technolgy')::int AS typo FROM silver.crm_accounts`);
    expect(s).toEqual({ technology: count(accountsRaw(), (a) => a.sector === 'technolgy' || a.sector === 'technology'), typo: 0 });
    const acme = accountsRaw().find((a) => a.account === 'Acme Corporation')!;
    const [a] = await q(`SELECT revenue::text AS revenue, employees, year_established, subsidiary_of FROM silver.crm_accounts WHERE account = 'Acme Corporation'`);
    expect(a).toEqual({ revenue: Number(acme.revenue).toFixed(2), employees: Number(acme.employees), year_established: Number(acme.year_established), subsidiary_of: null });
    const [price] = await q(`SELECT sales_price::text AS p FROM silver.crm_products WHERE product = 'GTX Pro'`);
    expect(price).toEqual({ p: '4821.00' });

    // Resolution is automatic at read time: the deals loaded before the dimensions now all join.
    const unresolved = Object.fromEntries((await q<{ ref: string; n: number }>(UNRESOLVED_SQL)).map((x) => [x.ref, x.n]));
    expect(unresolved).toMatchObject({ 'crm_deals.account': 0, 'crm_deals.product': 0, 'crm_deals.sales_agent': 0 });
  });

  it('the generated interactions: blank channels quarantined, the line exported twice a duplicate, unknown accounts and agents kept and counted exactly', async () => {
    const raws = readCsv(readFileSync(interactionsFile, 'utf8'));
    const exp = expected(raws, typeInteraction, (i) => i.interaction_id, 'first');
    const r = await ingest('crm/interactions/interactions.csv', interactionsFile);
    expect(accounting(r)).toEqual({ read: exp.read, silver: exp.kept.length, quarantined: exp.quarantined, duplicates: exp.duplicates });
    expect(r.ledger!.quarantine_reasons).toEqual(exp.reasons);
    expect(exp.reasons).toEqual({ valid_channel: 3 });
    expect(exp.duplicates).toBe(5);
    const accounts = accountNames();
    const agents = agentNames();
    const unresolved = { unresolved_account: count(exp.kept, (i) => !accounts.has(i.account)), unresolved_sales_agent: count(exp.kept, (i) => !agents.has(i.sales_agent)) };
    expect(r.ledger!.warnings).toEqual(unresolved);
    expect(unresolved).toEqual({ unresolved_account: 4, unresolved_sales_agent: 2 });
    // The same numbers from silver now, and the quarantine keeps the raw lines.
    const now = Object.fromEntries((await q<{ ref: string; n: number }>(UNRESOLVED_SQL)).map((x) => [x.ref, x.n]));
    expect(now).toEqual({ 'crm_deals.account': 0, 'crm_deals.product': 0, 'crm_deals.sales_agent': 0, 'crm_interactions.account': 4, 'crm_interactions.sales_agent': 2 });
    const qr = await q<{ raw_line: string }>(`SELECT raw_line FROM silver.crm_interactions_quarantine ORDER BY source_line`);
    expect(qr.map((x) => x.raw_line.split(',')[3])).toEqual(['', '', '']);
  });

  it('a later pipeline export moves deals to their new stage; its own defects are quarantined, a new unknown account counted', async () => {
    const raws = readCsv(raw('sales_pipeline.csv'));
    const engaging = raws.filter((r) => r.deal_stage === 'Engaging' && r.account).slice(0, 20);
    const prospecting = raws.filter((r) => r.deal_stage === 'Prospecting' && r.account).slice(0, 10);
    for (const [i, r] of engaging.entries()) Object.assign(r, { deal_stage: 'Won', close_date: '2018-01-10', close_value: String(1000 + i) });
    for (const r of prospecting) Object.assign(r, { deal_stage: 'Engaging', engage_date: '2018-01-05' });
    const extra = [
      { opportunity_id: 'ZZNEW001', sales_agent: 'Moses Frase', product: 'GTXPro', account: 'Newco Holdings', deal_stage: 'Prospecting', engage_date: '', close_date: '', close_value: '' },
      { opportunity_id: 'ZZBAD001', sales_agent: 'Moses Frase', product: 'GTX Basic', account: 'Cancity', deal_stage: 'Closed', engage_date: '2018-01-02', close_date: '2018-01-09', close_value: '5' },
      { opportunity_id: 'ZZBAD002', sales_agent: 'Moses Frase', product: 'GTX Basic', account: '', deal_stage: 'Won', engage_date: '2018-01-02', close_date: '2018-01-09', close_value: '5' },
    ];
    const all = [...raws, ...extra];
    const header = Object.keys(raws[0]!);
    const file = path.join(dir, 'pipeline-2018-01-15.csv');
    await writeFile(file, [header.join(','), ...all.map((r) => header.map((h) => r[h as keyof typeof r]).join(','))].join('\r\n') + '\r\n');

    const exp = expected(all, typeDeal, (d) => d.opportunity_id, 'last');
    const r = await ingest('crm/sales_pipeline/2018-01-15.csv', file);
    // Every version is newer (a later snapshot): each kept row is applied.
    expect(accounting(r)).toEqual({ read: exp.read, silver: exp.kept.length, quarantined: 2, duplicates: 0 });
    expect(r.ledger!.quarantine_reasons).toEqual({ valid_deal_stage: 1, account_when_closed: 1 });
    expect(r.ledger!.warnings).toEqual({ unresolved_account: 1, unresolved_product: 0, unresolved_sales_agent: 0, close_after_engage: 0 });

    const [s] = await q(`SELECT count(*)::int AS deals, count(*) FILTER (WHERE deal_stage = 'Won')::int AS won, count(DISTINCT snapshot_at)::int AS snapshots FROM silver.crm_deals`);
    expect(s).toEqual({ deals: 8801, won: count(raws, (x) => x.deal_stage === 'Won'), snapshots: 1 });
    const moved = await q(`SELECT deal_stage, to_char(close_date, 'YYYY-MM-DD') AS close_date, close_value::text AS v FROM silver.crm_deals WHERE opportunity_id = '${engaging[3]!.opportunity_id}'`);
    expect(moved).toEqual([{ deal_stage: 'Won', close_date: '2018-01-10', v: '1003.00' }]);
    const engaged = await q(`SELECT deal_stage, to_char(engage_date, 'YYYY-MM-DD') AS e FROM silver.crm_deals WHERE opportunity_id = '${prospecting[0]!.opportunity_id}'`);
    expect(engaged).toEqual([{ deal_stage: 'Engaging', e: '2018-01-05' }]);
    const newco = await q(`SELECT product, account FROM silver.crm_deals WHERE opportunity_id = 'ZZNEW001'`);
    expect(newco).toEqual([{ product: 'GTX Pro', account: 'Newco Holdings' }]);
    const unresolved = Object.fromEntries((await q<{ ref: string; n: number }>(UNRESOLVED_SQL)).map((x) => [x.ref, x.n]));
    expect(unresolved['crm_deals.account']).toBe(1);

    // The first export again (an OLDER snapshot re-sent as a new file): recognised by its content, nothing changes.
    const again = await ingest('crm/sales_pipeline/resent.csv', path.join(CRM, 'sales_pipeline.csv'));
    expect(accounting(again)).toEqual({ read: 8800, silver: 0, quarantined: 0, duplicates: 8800 });
    expect(await q(`SELECT deal_stage FROM silver.crm_deals WHERE opportunity_id = '${engaging[3]!.opportunity_id}'`)).toEqual([{ deal_stage: 'Won' }]);
  });

  it('a corrected accounts export replaces the accounts it carries (latest snapshot wins)', async () => {
    const text = raw('accounts.csv').replace('Acme Corporation,technolgy,1996,1100.04', 'Acme Corporation,Technology,1996,1250.50');
    const file = path.join(dir, 'accounts-corrected.csv');
    await writeFile(file, text);
    const r = await ingest('crm/accounts/accounts-2018-01-15.csv', file);
    expect(accounting(r)).toEqual({ read: 85, silver: 85, quarantined: 0, duplicates: 0 });
    const rows = await q(`SELECT account, sector, revenue::text AS revenue FROM silver.crm_accounts WHERE account = 'Acme Corporation'`);
    expect(rows).toEqual([{ account: 'Acme Corporation', sector: 'technology', revenue: '1250.50' }]);
    expect(await q(`SELECT count(*)::int AS n, count(DISTINCT snapshot_at)::int AS s FROM silver.crm_accounts`)).toEqual([{ n: 85, s: 1 }]);
  });
});

describe('references: a contract feature, validated', () => {
  const deals = (): Contract => structuredClone({ ...crmDeals }) as Contract;

  it('shape: the referencing column must be a typed string/int/bigint column, another dataset, one reference per column', () => {
    const problems = (edit: (c: Contract) => void) => {
      const c = deals();
      edit(c);
      return contractProblems(c).join('\n');
    };
    expect(problems(() => undefined)).toBe('');
    expect(problems((c) => (c.references![0]!.column = 'acount'))).toMatch(/references\[0\]\.column 'acount' is not a silver column: .*did you mean 'account'\?/);
    expect(problems((c) => (c.references![0]!.column = 'close_date'))).toMatch(/references\[0\]\.column 'close_date' is date; a reference must be a 'string', 'int', 'bigint' column/);
    expect(problems((c) => (c.references![0]!.dataset = 'crm_deals'))).toMatch(/is this dataset; a reference names another dataset/);
    expect(problems((c) => (c.references![1]!.column = 'account'))).toMatch(/column 'account' is referenced twice/);
    expect(problems((c) => ((c.references![0] as unknown as Record<string, unknown>).table = 'x'))).toMatch(/references\[0\]: unknown field 'table'/);
    expect(problems((c) => c.expectations.push({ name: 'unresolved_account', check: 'true', action: 'warn', description: 'x' }))).toMatch(/warning 'unresolved_account' has the name of an expectation/);
  });

  it('against the other datasets: an unknown dataset or key is named with a suggestion; a broken one is not an error', () => {
    const known = ['crm_accounts', 'crm_products', 'crm_sales_teams'];
    const lookup = (name: string) => (name === 'crm_accounts' ? ({ typed: [{ name: 'account', type: 'string' }], derived: [] } as unknown as Contract) : undefined);
    const c = deals();
    c.references = [{ column: 'account', dataset: 'crm_acounts', key: 'account' }];
    expect(referenceProblems(c, lookup, known)).toEqual([`references[0] 'account': dataset 'crm_acounts' is not a dataset; did you mean 'crm_accounts'? (one of 'crm_accounts', 'crm_products', 'crm_sales_teams')`]);
    c.references = [{ column: 'account', dataset: 'crm_accounts', key: 'acount' }];
    expect(referenceProblems(c, lookup, known)[0]).toMatch(/'acount' is not a column of 'crm_accounts'; did you mean 'account'\?/);
    c.references = [{ column: 'account', dataset: 'crm_products', key: 'product' }];
    expect(referenceProblems(c, lookup, known, new Set(['crm_products']))).toEqual([]);
  });

  describe.runIf(HAVE_CRM)('in the pipeline', () => {
    let dir: string;
    let platform: Platform;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'crm-refs-'));
      // Contracts only for the CRM datasets: their gold models read every CRM table, and gold
      // refuses a model over a dataset that does not load (silver references are the point here).
      const crmGold = /crm_[a-z_]+[\\/]gold([\\/]|$)/;
      await cp(resolveFromRoot('shared', 'datasets'), dir, { recursive: true, filter: (src) => !/\.(csv|gz|parquet)$/i.test(src) && !crmGold.test(src) });
      // crm_accounts does not load (a syntax error); crm_interactions names a dataset that does not exist.
      await writeFile(path.join(dir, 'crm_accounts', 'contract.ts'), 'export default {');
      const interactions = path.join(dir, 'crm_interactions', 'contract.ts');
      await writeFile(interactions, (await readFile(interactions, 'utf8')).replace("dataset: 'crm_sales_teams'", "dataset: 'crm_sales_team'"));
      const { name } = await createScratchDatabase(inject('databaseUrl'), 'crmref');
      platform = await createPlatform(testEnv(name), { log: silentLogger, datasetsDir: dir });
    });
    afterAll(async () => {
      await platform?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('a referenced dataset that does not load (no silver table) leaves every reference unresolved, not an error', async () => {
      expect([...platform.contracts.broken.keys()]).toEqual(['crm_accounts']);
      const csv = 'opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\r\nA1,Moses Frase,GTXPro,Cancity,Won,2016-10-20,2017-03-01,1054\r\nA2,Moses Frase,GTX Basic,,Engaging,2016-10-20,,\r\n';
      await platform.lake.write('bronze', 'crm/sales_pipeline/small.csv', (await import('node:stream')).Readable.from([Buffer.from(csv)]));
      const r = await ingestBronzeFile(platform, 'crm/sales_pipeline/small.csv');
      expect(r.outcome, r.message).toBe('succeeded');
      expect(r.ledger!.warnings).toMatchObject({ unresolved_account: 1, unresolved_product: 2, unresolved_sales_agent: 2 });
    });

    it('a reference to a dataset that does not exist fails the file as bad_contract with a one-line message', async () => {
      const csv = 'interaction_id,account,sales_agent,channel,interaction_time,duration_minutes,outcome,response_time_hours\r\nI1,Cancity,Moses Frase,call,2017-01-02 10:00:00,12,positive,3.5\r\n';
      await platform.lake.write('bronze', 'crm/interactions/small.csv', (await import('node:stream')).Readable.from([Buffer.from(csv)]));
      const r = await ingestBronzeFile(platform, 'crm/interactions/small.csv');
      expect(r.outcome).toBe('failed');
      expect(r.failureKind).toBe('bad_contract');
      expect(r.message).not.toContain('\n');
      expect(r.message).toMatch(/^contract 'crm_interactions': references\[1\] 'sales_agent': dataset 'crm_sales_team' is not a dataset; did you mean 'crm_sales_teams'\?/);
      expect(r.ledger).toMatchObject({ status: 'failed', failure_kind: 'bad_contract' });
    });
  });
});
