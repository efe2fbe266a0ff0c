import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { ReferenceEvent } from './reference';

/**
 * The four e-commerce gold tables computed in plain JS from the reference reading of the raw
 * files (tests/support/reference.ts), with the definitions written in the model files' column
 * comments and README.md (Gold). Never reads silver or gold. Money is kept in integer cents; values
 * come out in the text form PostgreSQL returns (bigint/numeric as strings, dates as YYYY-MM-DD,
 * double precision as numbers) so rows can be compared with toEqual.
 */
export type Row = Record<string, string | number | null>;

export interface GoldExpected {
  customer_metrics: Row[];
  product_performance: Row[];
  daily_sales_summary: Row[];
  conversion_funnel: Row[];
}

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const DAY_MS = 86_400_000;

export function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

/** round(cents / n) half away from zero, as money text; null when n = 0. */
function moneyAvg(cents: number, n: number): string | null {
  if (n <= 0) return null;
  const q = cents / n;
  return money(q >= 0 ? Math.round(q) : -Math.round(-q));
}

function pct(num: number, den: number): number | null {
  return den > 0 ? (100 * num) / den : null;
}

function days(a: string, b: string): number {
  return Math.round((Date.parse(`${a}T00:00:00Z`) - Date.parse(`${b}T00:00:00Z`)) / DAY_MS);
}

function addDays(d: string, n: number): string {
  return new Date(Date.parse(`${d}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** The silver event_id: SHA-256 of the dedup key's canonical text (shared/engine/compile.ts). */
export function eventId(e: ReferenceEvent): string {
  const t = `${e.eventTime.slice(0, 19)}.000000Z`;
  return createHash('sha256').update([t, e.userId, e.productId, e.session, e.eventType].join('|')).digest('hex');
}

const cents = (price: number) => Math.round(price * 100);
const l1 = (code: string) => code.split('.')[0]!;
const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const numericKey = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** Competition rank (1 + number of items strictly better), like SQL rank(). */
function ranks<T>(items: T[], better: (a: T, b: T) => boolean): number[] {
  // O(n log n): sort, then equal runs share the rank of their first member.
  const idx = items.map((_, i) => i);
  idx.sort((a, b) => (better(items[a]!, items[b]!) ? -1 : better(items[b]!, items[a]!) ? 1 : 0));
  const out = new Array<number>(items.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    const prev = k > 0 ? idx[k - 1]! : undefined;
    out[i] = prev !== undefined && !better(items[prev]!, items[i]!) && !better(items[i]!, items[prev]!) ? out[prev]! : k + 1;
  }
  return out;
}

export function expectedGold(events: ReferenceEvent[]): GoldExpected {
  const nowDate = events.reduce((m, e) => (e.eventTime > m ? e.eventTime : m), '').slice(0, 10);

  // customer_metrics
  interface Cust {
    sessions: Set<string>;
    events: number;
    views: number;
    carts: number;
    purchases: number;
    viewed: Set<string>;
    revenue: number;
    first: string;
    last: string;
    lastPurchase: string | null;
  }
  const custs = new Map<string, Cust>();
  // product_performance
  interface Prod {
    views: number;
    carts: number;
    purchases: number;
    users: Set<string>;
    revenue: number;
    latest: { time: string; id: string; e: ReferenceEvent };
  }
  const prods = new Map<string, Prod>();
  // daily_sales_summary
  interface Day {
    events: number;
    views: number;
    purchases: number;
    users: Set<string>;
    sessions: Set<string>;
    revenue: number;
  }
  const daysMap = new Map<string, Day>();
  // conversion_funnel: (date, l1) → session → flags
  const cells = new Map<string, Map<string, { v: boolean; c: boolean; p: boolean; revenue: number }>>();

  for (const e of events) {
    const date = e.eventTime.slice(0, 10);
    const c = cents(e.price);
    const isView = e.eventType === 'view';
    const isCart = e.eventType === 'cart';
    const isPurchase = e.eventType === 'purchase';

    let u = custs.get(e.userId);
    if (!u) custs.set(e.userId, (u = { sessions: new Set(), events: 0, views: 0, carts: 0, purchases: 0, viewed: new Set(), revenue: 0, first: date, last: date, lastPurchase: null }));
    u.sessions.add(e.session);
    u.events++;
    if (isView) (u.views++, u.viewed.add(e.productId));
    if (isCart) u.carts++;
    if (isPurchase) {
      u.purchases++;
      u.revenue += c;
      if (!u.lastPurchase || date > u.lastPurchase) u.lastPurchase = date;
    }
    if (date < u.first) u.first = date;
    if (date > u.last) u.last = date;

    const id = eventId(e);
    let p = prods.get(e.productId);
    if (!p) prods.set(e.productId, (p = { views: 0, carts: 0, purchases: 0, users: new Set(), revenue: 0, latest: { time: e.eventTime, id, e } }));
    if (isView) p.views++;
    if (isCart) p.carts++;
    if (isPurchase) (p.purchases++, (p.revenue += c));
    p.users.add(e.userId);
    if (e.eventTime > p.latest.time || (e.eventTime === p.latest.time && id > p.latest.id)) p.latest = { time: e.eventTime, id, e };

    let d = daysMap.get(date);
    if (!d) daysMap.set(date, (d = { events: 0, views: 0, purchases: 0, users: new Set(), sessions: new Set(), revenue: 0 }));
    d.events++;
    if (isView) d.views++;
    if (isPurchase) (d.purchases++, (d.revenue += c));
    d.users.add(e.userId);
    d.sessions.add(e.session);

    const cellKey = `${date}|${l1(e.categoryCode)}`;
    let cell = cells.get(cellKey);
    if (!cell) cells.set(cellKey, (cell = new Map()));
    let s = cell.get(e.session);
    if (!s) cell.set(e.session, (s = { v: false, c: false, p: false, revenue: 0 }));
    if (isView) s.v = true;
    if (isCart) s.c = true;
    if (isPurchase) (s.p = true, (s.revenue += c));
  }

  // RFM over buyers.
  const buyers = [...custs.entries()].filter(([, u]) => u.purchases > 0);
  const n = buyers.length;
  const score = (r: number) => 1 + Math.floor((5 * (r - 1)) / n);
  const rR = ranks(buyers, ([, a], [, b]) => a.lastPurchase! < b.lastPurchase!);
  const rF = ranks(buyers, ([, a], [, b]) => a.purchases < b.purchases);
  const rM = ranks(buyers, ([, a], [, b]) => a.revenue < b.revenue);
  const rfm = new Map(buyers.map(([id], i) => [id, score(rR[i]!) + score(rF[i]!) + score(rM[i]!)]));

  const segment = (u: Cust) =>
    u.purchases >= 10 ? 'Champion' : u.purchases >= 5 ? 'Loyal' : u.purchases >= 2 ? 'Potential Loyalist' : u.purchases === 1 ? 'New Customer' : u.carts > 0 ? 'Cart Abandoner' : 'Visitor';
  const churn = (u: Cust) => {
    if (u.purchases === 0) return 'N/A';
    const d = days(nowDate, u.last);
    return d <= 30 ? 'Low' : d <= 90 ? 'Medium' : 'High';
  };
  const customer_metrics = [...custs.entries()]
    .sort(([a], [b]) => numericKey(a, b))
    .map(([id, u]) => ({
      user_id: id,
      total_sessions: String(u.sessions.size),
      total_events: String(u.events),
      total_views: String(u.views),
      total_cart_adds: String(u.carts),
      total_purchases: String(u.purchases),
      unique_products_viewed: String(u.viewed.size),
      total_revenue: money(u.revenue),
      avg_purchase_value: moneyAvg(u.revenue, u.purchases),
      first_activity_date: u.first,
      last_activity_date: u.last,
      last_purchase_date: u.lastPurchase,
      customer_segment: segment(u),
      rfm_score: rfm.get(id) ?? null,
      churn_risk: churn(u),
    }));

  const prodList = [...prods.entries()].sort(([a], [b]) => numericKey(a, b));
  const prodRanks = ranks(prodList, ([, a], [, b]) => a.revenue > b.revenue);
  const np = prodList.length;
  const product_performance = prodList.map(([id, p], i) => {
    const r = prodRanks[i]!;
    const tier = p.revenue === 0 ? 'Bottom 50%' : 10 * (r - 1) < np ? 'Top 10%' : 4 * (r - 1) < np ? 'Top 25%' : 2 * (r - 1) < np ? 'Top 50%' : 'Bottom 50%';
    return {
      product_id: id,
      category_id: p.latest.e.categoryId,
      category_l1: l1(p.latest.e.categoryCode),
      brand: p.latest.e.brand,
      avg_price: moneyAvg(p.revenue, p.purchases),
      total_views: String(p.views),
      total_cart_adds: String(p.carts),
      total_purchases: String(p.purchases),
      unique_users: String(p.users.size),
      total_revenue: money(p.revenue),
      view_to_cart_rate: pct(p.carts, p.views),
      cart_to_purchase_rate: pct(p.purchases, p.carts),
      overall_conversion_rate: pct(p.purchases, p.views),
      revenue_rank_global: r,
      performance_tier: tier,
    };
  });

  const dates = [...daysMap.keys()].sort(byKey);
  const firstDate = dates[0]!;
  const daily_sales_summary = dates.map((date) => {
    const d = daysMap.get(date)!;
    let windowSum = 0;
    for (let k = 0; k < 7; k++) windowSum += daysMap.get(addDays(date, -k))?.revenue ?? 0;
    const denom = Math.min(7, days(date, firstDate) + 1);
    const prev = daysMap.get(addDays(date, -1));
    return {
      event_date: date,
      day_name: DAY_NAMES[new Date(`${date}T00:00:00Z`).getUTCDay()]!,
      total_events: String(d.events),
      total_views: String(d.views),
      total_purchases: String(d.purchases),
      unique_users: String(d.users.size),
      unique_sessions: String(d.sessions.size),
      total_revenue: money(d.revenue),
      avg_order_value: moneyAvg(d.revenue, d.purchases),
      overall_conversion_rate: pct(d.purchases, d.views),
      revenue_7d_avg: moneyAvg(windowSum, denom),
      revenue_dod_change: prev && prev.revenue > 0 ? (100 * (d.revenue - prev.revenue)) / prev.revenue : null,
    };
  });

  const conversion_funnel = [...cells.entries()]
    .sort(([a], [b]) => byKey(a, b))
    .map(([key, sessions]) => {
      const [event_date, category_l1] = key.split('|') as [string, string];
      const all = [...sessions.values()];
      const count = (f: (s: (typeof all)[number]) => boolean) => all.filter(f).length;
      const withView = count((s) => s.v);
      const withCart = count((s) => s.c);
      return {
        event_date,
        category_l1,
        total_sessions: String(all.length),
        sessions_with_view: String(withView),
        sessions_with_cart: String(withCart),
        sessions_with_purchase: String(count((s) => s.p)),
        session_view_to_cart_rate: pct(count((s) => s.v && s.c), withView),
        session_cart_to_purchase_rate: pct(count((s) => s.c && s.p), withCart),
        cart_abandonment_rate: pct(count((s) => s.c && !s.p), withCart),
        total_revenue: money(all.reduce((a, s) => a + s.revenue, 0)),
      };
    });

  return { customer_metrics, product_performance, daily_sales_summary, conversion_funnel };
}

const ORDER: Record<keyof GoldExpected, string> = {
  customer_metrics: 'user_id',
  product_performance: 'product_id',
  daily_sales_summary: 'event_date',
  conversion_funnel: 'event_date, category_l1 COLLATE "C"',
};

/** The gold tables as PostgreSQL returns them, in the same order as expectedGold. */
export async function readGold(db: pg.Pool | pg.PoolClient): Promise<GoldExpected> {
  const out: Partial<GoldExpected> = {};
  for (const t of Object.keys(ORDER) as (keyof GoldExpected)[]) {
    const res = await db.query(`SELECT * FROM gold.${t} ORDER BY ${ORDER[t]}`);
    out[t] = res.rows.map((r: Record<string, unknown>) => {
      const row: Row = {};
      for (const [k, v] of Object.entries(r)) row[k] = v instanceof Date ? v.toISOString() : (v as string | number | null);
      return row;
    });
  }
  return out as GoldExpected;
}

/** Every double column compared with a relative tolerance, the rest exactly. */
export function closeRows(actual: Row[], expected: Row[], doubles: string[]): { mismatches: string[] } {
  const mismatches: string[] = [];
  if (actual.length !== expected.length) mismatches.push(`row count ${actual.length} != ${expected.length}`);
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    for (const k of new Set([...Object.keys(a), ...Object.keys(e)])) {
      const x = a[k];
      const y = e[k];
      if (doubles.includes(k) && typeof x === 'number' && typeof y === 'number') {
        if (Math.abs(x - y) > 1e-9 * Math.max(1, Math.abs(y))) mismatches.push(`row ${i} ${k}: ${x} != ${y}`);
      } else if (x !== y) mismatches.push(`row ${i} (${JSON.stringify(e).slice(0, 80)}…) ${k}: ${JSON.stringify(x)} != ${JSON.stringify(y)}`);
      if (mismatches.length > 20) return { mismatches };
    }
  }
  return { mismatches };
}

export const DOUBLE_COLUMNS = [
  'view_to_cart_rate',
  'cart_to_purchase_rate',
  'overall_conversion_rate',
  'revenue_dod_change',
  'session_view_to_cart_rate',
  'session_cart_to_purchase_rate',
  'cart_abandonment_rate',
];

/** Asserts the platform's gold equals the expectation (doubles within 1e-9 relative). */
export function goldMismatches(actual: GoldExpected, expected: GoldExpected): string[] {
  const out: string[] = [];
  for (const t of Object.keys(ORDER) as (keyof GoldExpected)[]) {
    for (const m of closeRows(actual[t], expected[t], DOUBLE_COLUMNS).mismatches) out.push(`${t}: ${m}`);
  }
  return out;
}
