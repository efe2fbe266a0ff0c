import { parse } from 'csv-parse/sync';

/**
 * The four CRM gold tables of seed 000 (customer_features, sales_summary, channel_performance,
 * top_customers) computed in plain TypeScript from the RAW files (the Maven CRM CSVs and the
 * generated interactions export), independently of the platform: the files are parsed with
 * csv-parse, cleaned with the rules the silver contracts state (shared/datasets/crm_*\/contract.ts:
 * trimming, 'GTXPro' → 'GTX Pro', 'technolgy' → 'technology', stage and channel spellings, the
 * drop expectations, latest-export-wins for accounts and deals, first-occurrence-wins for
 * interactions), then aggregated with the definitions in the gold models' column comments
 * (shared/datasets/crm_deals/gold/*.sql). Never reads silver or gold.
 *
 * Money is kept in integer cents (hours in hundredths); values come out in the text form
 * PostgreSQL returns through the platform's pool (bigint and numeric as strings, dates as
 * YYYY-MM-DD, integer and double precision as numbers, booleans as booleans), so rows compare with
 * toEqual. Doubles are computed with the same operations in the same order as the SQL, so they
 * are expected to be bit-identical.
 */

export type Value = string | number | boolean | null;
export type Row = Record<string, Value>;

export interface CrmGold {
  customer_features: Row[];
  sales_summary: Row[];
  channel_performance: Row[];
  top_customers: Row[];
}

/** Order used to compare tables (the reference returns its rows in it; readers must use it too). */
export const CRM_ORDER: Record<keyof CrmGold, string> = {
  customer_features: 'account COLLATE "C"',
  sales_summary: 'close_date',
  channel_performance: 'channel COLLATE "C"',
  top_customers: 'revenue_rank',
};

/** One bronze file as it arrives: which dataset, and its bytes as text. */
export interface CrmFile {
  dataset: 'crm_accounts' | 'crm_deals' | 'crm_interactions' | 'crm_products' | 'crm_sales_teams';
  text: string;
}

interface Account {
  account: string;
  sector: string | null;
  yearEstablished: number | null;
  revenueCents: number | null;
  employees: number | null;
  officeLocation: string | null;
  subsidiaryOf: string | null;
}

interface Deal {
  id: string;
  agent: string;
  product: string;
  account: string | null;
  stage: 'Prospecting' | 'Engaging' | 'Won' | 'Lost';
  engageDate: string | null;
  closeDate: string | null;
  closeCents: number | null;
}

interface Interaction {
  id: string;
  account: string;
  agent: string;
  channel: 'call' | 'email' | 'whatsapp' | 'meeting';
  date: string;
  duration: number;
  outcome: 'positive' | 'neutral' | 'negative';
  responseHundredths: number | null;
}

/** Silver as the contracts define it, from files in arrival order. */
export interface CrmSilver {
  accounts: Map<string, Account>;
  deals: Map<string, Deal>;
  interactions: Map<string, Interaction>;
  /** Rows the drop expectations removed, per dataset. */
  dropped: Record<string, number>;
}

function records(text: string): Record<string, string>[] {
  return parse(text, { columns: (h: string[]) => h.map((x) => x.trim()), skip_empty_lines: true, bom: true, relax_column_count: true }) as Record<string, string>[];
}

/** nullif(trim(x), '') */
const text = (v: string | undefined): string | null => {
  const t = (v ?? '').trim();
  return t === '' ? null : t;
};

const int = (v: string | undefined): number | null => {
  const t = text(v);
  return t !== null && /^[+-]?\d+$/.test(t) ? Number(t) : null;
};

/** A decimal text → integer units of 10^-scale (half away from zero beyond the scale); NULL when not a number. */
function fixed(v: string | undefined, scale: number): number | null {
  const t = text(v);
  const m = t === null ? null : /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const frac = (m[3] ?? '').padEnd(scale + 1, '0');
  let units = Number(m[2] || '0') * 10 ** scale + Number(frac.slice(0, scale) || '0');
  if (Number(frac[scale]) >= 5) units += 1;
  return m[1] === '-' ? -units : units;
}

/** 'YYYY-MM-DD' that is a real date, else NULL. */
function isoDate(v: string | undefined): string | null {
  const t = text(v);
  if (t === null || !/^\d{4}-\d{2}-\d{2}$/.test(t)) return null;
  const d = new Date(`${t}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== t ? null : t;
}

/** interaction_time: 'YYYY-MM-DD HH:MM:SS' (or ISO with T / Z / ' UTC') → its UTC date, else NULL. */
function timeDate(v: string | undefined): string | null {
  const t = text(v);
  const m = t === null ? null : /^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(Z| UTC)?$/.exec(t);
  if (!m || Number(m[2]) > 23 || Number(m[3]) > 59 || Number(m[4]) > 59) return null;
  return isoDate(m[1]);
}

const STAGES: Record<string, Deal['stage']> = { prospecting: 'Prospecting', engaging: 'Engaging', won: 'Won', lost: 'Lost' };
const CHANNELS = new Set(['call', 'email', 'whatsapp', 'meeting']);
const OUTCOMES = new Set(['positive', 'neutral', 'negative']);

/** Reads the files in arrival order with the silver contracts' rules. */
export function crmSilver(files: CrmFile[]): CrmSilver {
  const out: CrmSilver = { accounts: new Map(), deals: new Map(), interactions: new Map(), dropped: {} };
  const drop = (d: string) => (out.dropped[d] = (out.dropped[d] ?? 0) + 1);
  for (const f of files) {
    // Latest export wins (accounts, deals): a later file replaces the rows it carries. Within one
    // file a key appears once in these exports.
    if (f.dataset === 'crm_accounts') {
      for (const r of records(f.text)) {
        const account = text(r.account);
        if (account === null) {
          drop(f.dataset);
          continue;
        }
        const sector = text(r.sector)?.toLowerCase() ?? null;
        out.accounts.set(account, {
          account,
          sector: sector === 'technolgy' ? 'technology' : sector,
          yearEstablished: int(r.year_established),
          revenueCents: fixed(r.revenue, 2),
          employees: int(r.employees),
          officeLocation: text(r.office_location),
          subsidiaryOf: text(r.subsidiary_of),
        });
      }
    } else if (f.dataset === 'crm_deals') {
      for (const r of records(f.text)) {
        const id = text(r.opportunity_id);
        const product = text(r.product);
        const stage = STAGES[(text(r.deal_stage) ?? '').toLowerCase()];
        const deal = {
          id,
          agent: text(r.sales_agent),
          product: product === 'GTXPro' ? 'GTX Pro' : product,
          account: text(r.account),
          stage,
          engageDate: isoDate(r.engage_date),
          closeDate: isoDate(r.close_date),
          closeCents: fixed(r.close_value, 2),
        };
        const closed = stage === 'Won' || stage === 'Lost';
        const ok =
          id !== null &&
          stage !== undefined &&
          deal.agent !== null &&
          deal.product !== null &&
          (deal.account !== null || !closed) &&
          (deal.engageDate !== null || stage === 'Prospecting') &&
          (!closed || (deal.closeDate !== null && deal.closeCents !== null)) &&
          (closed || (deal.closeDate === null && deal.closeCents === null)) &&
          (deal.closeCents === null || deal.closeCents >= 0);
        if (!ok) {
          drop(f.dataset);
          continue;
        }
        out.deals.set(id, deal as Deal);
      }
    } else if (f.dataset === 'crm_interactions') {
      for (const r of records(f.text)) {
        const id = text(r.interaction_id);
        const channel = text(r.channel)?.toLowerCase() ?? null;
        const outcome = text(r.outcome)?.toLowerCase() ?? null;
        const duration = int(r.duration_minutes);
        const response = fixed(r.response_time_hours, 2);
        const x = { id, account: text(r.account), agent: text(r.sales_agent), channel, date: timeDate(r.interaction_time), duration, outcome, responseHundredths: response };
        const ok =
          id !== null &&
          x.date !== null &&
          x.account !== null &&
          x.agent !== null &&
          channel !== null &&
          CHANNELS.has(channel) &&
          outcome !== null &&
          OUTCOMES.has(outcome) &&
          duration !== null &&
          duration >= 0 &&
          duration <= 1440 &&
          (response === null || response >= 0);
        if (!ok) {
          drop(f.dataset);
          continue;
        }
        // Append-only: the first occurrence of an interaction id wins (a re-sent one is a duplicate).
        if (!out.interactions.has(id)) out.interactions.set(id, x as Interaction);
      }
    }
    // crm_products and crm_sales_teams feed no CRM gold table.
  }
  return out;
}

/** Integer units of 10^-2 as numeric text (e.g. 123456 → '1234.56'). */
export function cents(units: number): string {
  const sign = units < 0 ? '-' : '';
  const a = Math.abs(units);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

/** round(total / n, 2) half away from zero, on integer hundredths (exact, BigInt); NULL when n = 0. */
function avg2(total: number, n: number): string | null {
  if (n <= 0) return null;
  const t = BigInt(total);
  const d = BigInt(n);
  const q = t >= 0n ? (2n * t + d) / (2n * d) : -((-2n * t + d) / (2n * d));
  return cents(Number(q));
}

const pct = (num: number, den: number): number | null => (den > 0 ? (100 * num) / den : null);
const DAY_MS = 86_400_000;
const daysBetween = (later: string, earlier: string) => Math.round((Date.parse(`${later}T00:00:00Z`) - Date.parse(`${earlier}T00:00:00Z`)) / DAY_MS);
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
/** Byte order of the UTF-8 text: PostgreSQL's COLLATE "C". */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const maxOf = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** Columns top_customers copies from customer_features. */
const TOP_FROM_FEATURES = [
  'account', 'in_account_master', 'sector', 'office_location', 'employees', 'total_revenue', 'num_closed_won', 'num_closed_lost', 'num_open_deals',
  'win_rate', 'avg_deal_value', 'total_interactions', 'days_since_last_interaction', 'preferred_channel', 'lead_score', 'lead_quality',
];

/** The four tables from silver (as read by crmSilver), with the models' definitions. */
export function crmGold(silver: CrmSilver): CrmGold {
  const deals = [...silver.deals.values()];
  const interactions = [...silver.interactions.values()];

  // "Now": the newest date in the data.
  let now: string | null = null;
  for (const d of deals) now = maxOf(maxOf(now, d.closeDate), d.engageDate);
  for (const i of interactions) now = maxOf(now, i.date);

  // customer_features
  interface DealTotals {
    total: number;
    won: number;
    lost: number;
    open: number;
    revenue: number;
    lastWon: string | null;
  }
  interface TouchTotals {
    total: number;
    byChannel: Map<string, { n: number; positives: number }>;
    calls: number;
    emails: number;
    whatsapp: number;
    meetings: number;
    positives: number;
    negatives: number;
    responses: number;
    responseHundredths: number;
    last: string;
  }
  const dealTotals = new Map<string, DealTotals>();
  for (const d of deals) {
    if (d.account === null) continue;
    const t = dealTotals.get(d.account) ?? { total: 0, won: 0, lost: 0, open: 0, revenue: 0, lastWon: null };
    t.total++;
    if (d.stage === 'Won') {
      t.won++;
      t.revenue += d.closeCents!;
      t.lastWon = maxOf(t.lastWon, d.closeDate);
    } else if (d.stage === 'Lost') t.lost++;
    else t.open++;
    dealTotals.set(d.account, t);
  }
  const touchTotals = new Map<string, TouchTotals>();
  for (const i of interactions) {
    const t =
      touchTotals.get(i.account) ??
      ({ total: 0, byChannel: new Map(), calls: 0, emails: 0, whatsapp: 0, meetings: 0, positives: 0, negatives: 0, responses: 0, responseHundredths: 0, last: i.date } as TouchTotals);
    t.total++;
    const c = t.byChannel.get(i.channel) ?? { n: 0, positives: 0 };
    c.n++;
    if (i.outcome === 'positive') c.positives++;
    t.byChannel.set(i.channel, c);
    if (i.channel === 'call') t.calls++;
    if (i.channel === 'email') t.emails++;
    if (i.channel === 'whatsapp') t.whatsapp++;
    if (i.channel === 'meeting') t.meetings++;
    if (i.outcome === 'positive') t.positives++;
    if (i.outcome === 'negative') t.negatives++;
    if (i.responseHundredths !== null) {
      t.responses++;
      t.responseHundredths += i.responseHundredths;
    }
    if (i.date > t.last) t.last = i.date;
    touchTotals.set(i.account, t);
  }
  const names = [...new Set([...silver.accounts.keys(), ...dealTotals.keys(), ...touchTotals.keys()])].sort(byteOrder);

  const base = names.map((account) => {
    const a = silver.accounts.get(account);
    const d = dealTotals.get(account);
    const t = touchTotals.get(account);
    const won = d?.won ?? 0;
    const lost = d?.lost ?? 0;
    const days = t && now !== null ? daysBetween(now, t.last) : null;
    let preferred: string | null = null;
    if (t) {
      const ranked = [...t.byChannel.entries()].sort((x, y) => y[1].positives - x[1].positives || y[1].n - x[1].n || byteOrder(x[0], y[0]));
      preferred = ranked[0]![0];
    }
    const engagement = t && t.total > 0 ? (5 * t.positives) / t.total + (2 * t.calls) / t.total + (days! < 7 ? 3 : 1.5) : 0;
    return {
      revenueCents: d?.revenue ?? 0,
      interactions: t?.total ?? 0,
      engagement,
      winRate: won + lost > 0 ? won / (won + lost) : null,
      row: {
        account,
        in_account_master: a !== undefined,
        sector: a?.sector ?? null,
        year_established: a?.yearEstablished ?? null,
        employees: a?.employees ?? null,
        annual_revenue_millions: a?.revenueCents == null ? null : cents(a.revenueCents),
        office_location: a?.officeLocation ?? null,
        subsidiary_of: a?.subsidiaryOf ?? null,
        total_deals: String(d?.total ?? 0),
        num_closed_won: String(won),
        num_closed_lost: String(lost),
        num_open_deals: String(d?.open ?? 0),
        total_revenue: cents(d?.revenue ?? 0),
        avg_deal_value: avg2(d?.revenue ?? 0, won),
        win_rate: won + lost > 0 ? won / (won + lost) : null,
        conversion_rate: d && d.total > 0 ? won / d.total : null,
        last_won_date: d?.lastWon ?? null,
        total_interactions: String(t?.total ?? 0),
        num_calls: String(t?.calls ?? 0),
        num_emails: String(t?.emails ?? 0),
        num_whatsapp: String(t?.whatsapp ?? 0),
        num_meetings: String(t?.meetings ?? 0),
        num_positive_outcomes: String(t?.positives ?? 0),
        num_negative_outcomes: String(t?.negatives ?? 0),
        num_responses: String(t?.responses ?? 0),
        avg_response_time_hours: t ? avg2(t.responseHundredths, t.responses) : null,
        last_interaction_date: t?.last ?? null,
        days_since_last_interaction: days,
        preferred_channel: preferred,
        engagement_score: engagement,
      } as Row,
    };
  });
  const maxRevenue = Math.max(0, ...base.map((b) => b.revenueCents)) / 100;
  const maxInteractions = Math.max(0, ...base.map((b) => b.interactions));
  const customerFeatures: Row[] = base.map((b) => {
    const revenueScore = maxRevenue > 0 ? 100 * (b.revenueCents / 100 / maxRevenue) : 0;
    const interactionScore = maxInteractions > 0 ? 100 * (b.interactions / maxInteractions) : 0;
    const lead = 0.3 * revenueScore + 0.2 * interactionScore + 0.25 * (10 * b.engagement) + 0.25 * (100 * (b.winRate ?? 0));
    return { ...b.row, lead_score: lead, lead_quality: lead >= 80 ? 'hot' : lead >= 60 ? 'warm' : lead >= 40 ? 'cool' : 'cold' };
  });

  // sales_summary
  const days = new Map<string, { closed: number; won: number; lost: number; revenue: number; accounts: Set<string> }>();
  for (const d of deals) {
    if ((d.stage !== 'Won' && d.stage !== 'Lost') || d.closeDate === null) continue;
    const s = days.get(d.closeDate) ?? { closed: 0, won: 0, lost: 0, revenue: 0, accounts: new Set<string>() };
    s.closed++;
    if (d.stage === 'Won') {
      s.won++;
      s.revenue += d.closeCents!;
      if (d.account !== null) s.accounts.add(d.account);
    } else s.lost++;
    days.set(d.closeDate, s);
  }
  const salesSummary: Row[] = [...days.keys()].sort().map((date) => {
    const s = days.get(date)!;
    return {
      close_date: date,
      day_name: DAY_NAMES[new Date(`${date}T00:00:00Z`).getUTCDay()]!,
      deals_closed: String(s.closed),
      deals_won: String(s.won),
      deals_lost: String(s.lost),
      revenue: cents(s.revenue),
      avg_won_deal_value: avg2(s.revenue, s.won),
      win_rate_pct: pct(s.won, s.closed),
      accounts_won: String(s.accounts.size),
    };
  });

  // channel_performance: an interaction is attributed to the closed deals of the same account and
  // sales agent whose engage_date .. close_date window contains its date.
  const closedByPair = new Map<string, Deal[]>();
  for (const d of deals) {
    if ((d.stage !== 'Won' && d.stage !== 'Lost') || d.account === null) continue;
    const k = `${d.account}\u0000${d.agent}`;
    closedByPair.set(k, [...(closedByPair.get(k) ?? []), d]);
  }
  const channels = new Map<string, { n: number; accounts: Set<string>; positive: number; negative: number; converted: number; won: Map<string, number>; responses: number; hours: number; duration: number }>();
  for (const i of interactions) {
    const c =
      channels.get(i.channel) ?? { n: 0, accounts: new Set<string>(), positive: 0, negative: 0, converted: 0, won: new Map<string, number>(), responses: 0, hours: 0, duration: 0 };
    c.n++;
    c.accounts.add(i.account);
    if (i.outcome === 'positive') c.positive++;
    if (i.outcome === 'negative') c.negative++;
    const wonDeals = (closedByPair.get(`${i.account}\u0000${i.agent}`) ?? []).filter((d) => d.stage === 'Won' && d.engageDate! <= i.date && i.date <= d.closeDate!);
    if (wonDeals.length) c.converted++;
    for (const d of wonDeals) c.won.set(d.id, d.closeCents!);
    if (i.responseHundredths !== null) {
      c.responses++;
      c.hours += i.responseHundredths;
    }
    c.duration += i.duration * 100;
    channels.set(i.channel, c);
  }
  const channelPerformance: Row[] = [...channels.keys()].sort(byteOrder).map((channel) => {
    const c = channels.get(channel)!;
    return {
      channel,
      total_interactions: String(c.n),
      accounts_reached: String(c.accounts.size),
      positive_interactions: String(c.positive),
      negative_interactions: String(c.negative),
      positive_share_pct: pct(c.positive, c.n),
      negative_share_pct: pct(c.negative, c.n),
      converted_interactions: String(c.converted),
      conversion_rate_pct: pct(c.converted, c.n),
      won_deals: String(c.won.size),
      avg_deal_value: avg2(
        [...c.won.values()].reduce((s, v) => s + v, 0),
        c.won.size,
      ),
      responses: String(c.responses),
      response_rate_pct: pct(c.responses, c.n),
      avg_response_time_hours: avg2(c.hours, c.responses),
      avg_duration_minutes: avg2(c.duration, c.n),
    };
  });

  // top_customers
  const allRevenue = base.reduce((s, b) => s + b.revenueCents, 0) / 100;
  const ranked = base
    .map((b, i) => ({ b, f: customerFeatures[i]! }))
    .sort((x, y) => y.b.revenueCents - x.b.revenueCents || byteOrder(x.f.account as string, y.f.account as string));
  const topCustomers: Row[] = ranked
    .map((x, i) => ({ ...x, rank: i + 1 }))
    .filter((x) => x.b.revenueCents > 0 && x.rank <= 50)
    .map(({ b, f, rank }): Row => ({
      ...Object.fromEntries(TOP_FROM_FEATURES.map((k) => [k, f[k] ?? null])),
      revenue_rank: rank,
      revenue_share_pct: 100 * (b.revenueCents / 100 / allRevenue),
    }));

  return { customer_features: customerFeatures, sales_summary: salesSummary, channel_performance: channelPerformance, top_customers: topCustomers };
}
