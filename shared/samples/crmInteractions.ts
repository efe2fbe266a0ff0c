import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { rng } from './ecommerceSample';

/**
 * Generates the CRM interactions export of seed 000 (bronze `crm/interactions/`, contract
 * shared/datasets/crm_interactions): the sales team's calls, e-mails, WhatsApp messages and
 * meetings with each account, drawn from the REAL Maven CRM files (accounts.csv, sales_teams.csv,
 * sales_pipeline.csv in `crmDir`) so every interaction belongs to a real deal's account and agent:
 *
 * - time: inside the deal's engage → close window (Won/Lost), engage → the newest pipeline date
 *   (Engaging), or the last `prospectingDays` before the newest pipeline date (Prospecting); deals
 *   without an account (open deals the export left blank) get none;
 * - CORRELATED with the deal's outcome, noisily: each deal gets an engagement score
 *   w = sigmoid(±separation + N(0, dealNoise) + account effect), + for Won, − for Lost, 0 for open
 *   deals; the account effect is `accountSignal` × the account's standardised win rate +
 *   N(0, accountNoise). Every property of the deal's interactions is the LOST profile blended
 *   towards the WON profile by w: how many, the channel mix (Won: more calls and meetings), the
 *   outcome mix (Won: more positive) and whether and how fast the customer responds. So Won deals
 *   (and accounts that win more) have more, warmer and faster interactions, but noisily. Measured
 *   with the defaults on the real files: a fixed score over each closed deal's own interactions
 *   (positive share, response share, call+meeting share, count) separates Won from Lost with AUC
 *   0.77 (each of those features alone 0.66–0.68); the same score over the interactions of the
 *   deal's account and agent inside its window (what the export lets one attribute) 0.69; the
 *   positive share of an account separates the accounts above and below the median win rate with
 *   AUC 0.76 (seed 42);
 * - a few realistic defects: blank channels (quarantined), account names the CRM does not know
 *   and agents not in sales_teams (kept, counted as unresolved references), lines exported twice
 *   (duplicates).
 *
 * Deterministic: the same files and options give the same bytes (mulberry32, `rng(seed)`).
 */

/** What an interaction of a fully won (w = 1) or fully lost (w = 0) deal looks like. */
export interface InteractionProfile {
  /** Mean interactions per deal (Poisson), for a 60-day window or longer; shorter windows get fewer. */
  interactions: number;
  /** Channel mix (weights). */
  channels: Record<CrmChannel, number>;
  /** Share of positive and of negative outcomes (the rest neutral). */
  positive: number;
  negative: number;
  /** Share of interactions the customer responds to, and the mean hours until they do (exponential). */
  responseRate: number;
  responseHours: number;
}

export type CrmChannel = 'call' | 'email' | 'whatsapp' | 'meeting';
export type CrmOutcome = 'positive' | 'neutral' | 'negative';

export interface CrmInteractionsOptions {
  /** Folder with the Maven CRM export: accounts.csv, sales_teams.csv, sales_pipeline.csv. */
  crmDir: string;
  seed?: number;
  won?: InteractionProfile;
  lost?: InteractionProfile;
  /** Pull of a Won (+) / Lost (−) outcome on the deal's engagement (logit scale). */
  separation?: number;
  /** Deal-level noise on the engagement (standard deviation, logit scale). */
  dealNoise?: number;
  /** Pull of the account's standardised win rate on the engagement of all its deals. */
  accountSignal?: number;
  /** Account-level noise (standard deviation, logit scale). */
  accountNoise?: number;
  /** Window of Prospecting deals: days before the newest pipeline date. */
  prospectingDays?: number;
  /** Defects: lines with a blank channel, an account name the CRM does not know, an agent not in sales_teams, a line exported twice. */
  blankChannels?: number;
  unknownAccounts?: number;
  unknownAgents?: number;
  duplicateLines?: number;
}

export const CRM_INTERACTIONS_HEADER = 'interaction_id,account,sales_agent,channel,interaction_time,duration_minutes,outcome,response_time_hours';

/** The generator's knobs and their defaults. */
export const CRM_INTERACTIONS_DEFAULTS = {
  seed: 42,
  won: {
    interactions: 6,
    channels: { call: 0.3, meeting: 0.18, email: 0.36, whatsapp: 0.16 },
    positive: 0.5,
    negative: 0.12,
    responseRate: 0.85,
    responseHours: 8,
  },
  lost: {
    interactions: 4,
    channels: { call: 0.18, meeting: 0.07, email: 0.47, whatsapp: 0.28 },
    positive: 0.26,
    negative: 0.32,
    responseRate: 0.6,
    responseHours: 28,
  },
  separation: 2.2,
  dealNoise: 0.8,
  accountSignal: 0.6,
  accountNoise: 0.3,
  prospectingDays: 45,
  blankChannels: 3,
  unknownAccounts: 4,
  unknownAgents: 2,
  duplicateLines: 5,
} satisfies Required<Omit<CrmInteractionsOptions, 'crmDir'>>;

export interface CrmInteractionsSummary {
  /** Data lines written (duplicates and defective lines included). */
  lines: number;
  /** Distinct interaction ids. */
  interactions: number;
  /** Deals that got at least one interaction, and deals skipped because their account is blank. */
  deals: number;
  dealsWithoutAccount: number;
  byStage: Record<string, { deals: number; interactions: number }>;
  byChannel: Record<string, number>;
  byOutcome: Record<string, number>;
  /** Defects put in. */
  duplicates: number;
  blankChannels: number;
  unknownAccounts: number;
  unknownAgents: number;
}

/** Names the defects use: not in accounts.csv / sales_teams.csv (checked). */
const UNKNOWN_ACCOUNTS = ['Acme Corp', 'Vandelay Industries', 'Hooli', 'Initech Ltd', 'Soylent', 'Wayne Enterprises'];
const UNKNOWN_AGENTS = ['Jordan Pike', 'Tessa Okafor', 'Milo Brandt'];
const CHANNELS: CrmChannel[] = ['call', 'meeting', 'email', 'whatsapp'];
const DAY_MS = 86_400_000;

/** One CSV line's fields (RFC 4180 quotes; the CRM files have none, but a re-export might). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted && ch === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (quoted && ch === '"') {
      quoted = false;
    } else if (!quoted && ch === '"' && field === '') {
      quoted = true;
    } else if (!quoted && ch === ',') {
      out.push(field);
      field = '';
    } else {
      field += ch;
    }
  }
  out.push(field);
  return out;
}

/** A small CSV file as records keyed by its header. */
function readCsv(file: string): Record<string, string>[] {
  const lines = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.trim());
  return lines.slice(1).map((l) => {
    const f = splitCsvLine(l);
    return Object.fromEntries(header.map((h, i) => [h, (f[i] ?? '').trim()]));
  });
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const lerp = (a: number, b: number, w: number) => a + (b - a) * w;

interface Draw {
  r: () => number;
  normal: () => number;
  poisson: (mean: number) => number;
  pick: <T extends string>(weights: Record<T, number>, order: readonly T[]) => T;
}

function draws(seed: number): Draw {
  const r = rng(seed);
  return {
    r,
    normal: () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()),
    poisson: (mean) => {
      const limit = Math.exp(-mean);
      let k = 0;
      for (let p = r(); p > limit; p *= r()) k++;
      return k;
    },
    pick: (weights, order) => {
      const total = order.reduce((s, k) => s + weights[k], 0);
      let x = r() * total;
      for (const k of order) if ((x -= weights[k]) < 0) return k;
      return order[order.length - 1]!;
    },
  };
}

interface Row {
  at: number;
  seq: number;
  account: string;
  agent: string;
  channel: string;
  duration: number;
  outcome: CrmOutcome;
  response: number | null;
}

/** Day of a YYYY-MM-DD date, UTC midnight in ms (NaN when blank). */
const dayMs = (d: string) => (d ? Date.parse(`${d}T00:00:00Z`) : NaN);

/** Writes the interactions CSV to `file`; returns what it put in. */
export async function writeCrmInteractions(file: string, options: CrmInteractionsOptions): Promise<CrmInteractionsSummary> {
  const o = { ...CRM_INTERACTIONS_DEFAULTS, ...options };
  const accounts = readCsv(path.join(o.crmDir, 'accounts.csv'));
  const agents = new Set(readCsv(path.join(o.crmDir, 'sales_teams.csv')).map((t) => t.sales_agent!));
  const deals = readCsv(path.join(o.crmDir, 'sales_pipeline.csv'));
  const known = new Set(accounts.map((a) => a.account!));
  const d = draws(o.seed);

  // The account effect: its standardised win rate over its closed deals, plus noise.
  const tally = new Map<string, { won: number; closed: number }>();
  for (const deal of deals) {
    if (!deal.account || (deal.deal_stage !== 'Won' && deal.deal_stage !== 'Lost')) continue;
    const t = tally.get(deal.account) ?? { won: 0, closed: 0 };
    t.closed++;
    if (deal.deal_stage === 'Won') t.won++;
    tally.set(deal.account, t);
  }
  const rates = [...tally.values()].map((t) => t.won / t.closed);
  const mean = rates.reduce((s, x) => s + x, 0) / Math.max(1, rates.length);
  const sd = Math.sqrt(rates.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, rates.length)) || 1;
  const accountEffect = new Map<string, number>();
  for (const name of [...new Set(deals.map((x) => x.account!).filter(Boolean))].sort()) {
    const t = tally.get(name);
    const z = t ? (t.won / t.closed - mean) / sd : 0;
    accountEffect.set(name, o.accountSignal * z + o.accountNoise * d.normal());
  }

  const newest = Math.max(...deals.flatMap((x) => [dayMs(x.engage_date!), dayMs(x.close_date!)]).filter((x) => !Number.isNaN(x)));
  const summary: CrmInteractionsSummary = {
    lines: 0,
    interactions: 0,
    deals: 0,
    dealsWithoutAccount: 0,
    byStage: {},
    byChannel: {},
    byOutcome: {},
    duplicates: 0,
    blankChannels: 0,
    unknownAccounts: 0,
    unknownAgents: 0,
  };
  const rows: Row[] = [];
  for (const deal of deals) {
    const stage = deal.deal_stage ?? '';
    const s = (summary.byStage[stage] ??= { deals: 0, interactions: 0 });
    if (!deal.account) {
      summary.dealsWithoutAccount++;
      continue;
    }
    const pull = stage === 'Won' ? o.separation : stage === 'Lost' ? -o.separation : 0;
    const w = sigmoid(pull + o.dealNoise * d.normal() + (accountEffect.get(deal.account) ?? 0));
    const engaged = dayMs(deal.engage_date!);
    const closed = dayMs(deal.close_date!);
    const from = Number.isNaN(engaged) ? newest - o.prospectingDays * DAY_MS : engaged;
    const to = Number.isNaN(closed) ? newest : closed;
    const days = Math.max(1, Math.round((to - from) / DAY_MS) + 1);
    const n = d.poisson(lerp(o.lost.interactions, o.won.interactions, w) * Math.min(1, 0.35 + days / 90));
    if (n === 0) continue;
    s.deals++;
    s.interactions += n;
    summary.deals++;
    const channels = Object.fromEntries(CHANNELS.map((c) => [c, lerp(o.lost.channels[c], o.won.channels[c], w)])) as Record<CrmChannel, number>;
    const positive = lerp(o.lost.positive, o.won.positive, w);
    const negative = lerp(o.lost.negative, o.won.negative, w);
    const responseRate = lerp(o.lost.responseRate, o.won.responseRate, w);
    const responseHours = lerp(o.lost.responseHours, o.won.responseHours, w);
    for (let i = 0; i < n; i++) {
      // A working day of the window, 08:00–18:59 UTC.
      const day = from + Math.floor(d.r() * days) * DAY_MS;
      const at = day + (8 + Math.floor(d.r() * 11)) * 3_600_000 + Math.floor(d.r() * 3600) * 1000;
      const channel = d.pick(channels, CHANNELS);
      const duration =
        channel === 'call' ? Math.min(120, Math.max(1, Math.round(Math.exp(2.4 + 0.7 * d.normal())))) : channel === 'meeting' ? [30, 45, 60, 60, 90][Math.floor(d.r() * 5)]! : 0;
      const x = d.r();
      const outcome: CrmOutcome = x < positive ? 'positive' : x < positive + negative ? 'negative' : 'neutral';
      const response = d.r() < responseRate ? Math.max(0.05, Math.round(-Math.log(1 - d.r()) * responseHours * 100) / 100) : null;
      rows.push({ at, seq: rows.length, account: deal.account, agent: deal.sales_agent!, channel, duration, outcome, response });
    }
  }
  rows.sort((a, b) => a.at - b.at || a.seq - b.seq);

  const lines = rows.map((row, i) => {
    summary.byChannel[row.channel] = (summary.byChannel[row.channel] ?? 0) + 1;
    summary.byOutcome[row.outcome] = (summary.byOutcome[row.outcome] ?? 0) + 1;
    return [`INT${pad(i + 1, 7)}`, row.account, row.agent, row.channel, formatTime(row.at), String(row.duration), row.outcome, row.response === null ? '' : row.response.toFixed(2)];
  });
  summary.interactions = lines.length;

  // Defects, each on its own line (distinct lines, none duplicated).
  const touched = new Set<number>();
  const untouched = () => {
    let i = Math.floor(d.r() * lines.length);
    while (touched.has(i)) i = (i + 1) % lines.length;
    touched.add(i);
    return i;
  };
  const victim = () => lines[untouched()]!;
  const unknownAccounts = UNKNOWN_ACCOUNTS.filter((a) => !known.has(a));
  const unknownAgents = UNKNOWN_AGENTS.filter((a) => !agents.has(a));
  for (let k = 0; k < o.blankChannels && lines.length > touched.size; k++, summary.blankChannels++) victim()[3] = '';
  for (let k = 0; k < o.unknownAccounts && lines.length > touched.size; k++, summary.unknownAccounts++) victim()[1] = unknownAccounts[k % unknownAccounts.length]!;
  for (let k = 0; k < o.unknownAgents && lines.length > touched.size; k++, summary.unknownAgents++) victim()[2] = unknownAgents[k % unknownAgents.length]!;
  const text = lines.map((f) => f.map(csvField).join(','));
  // A line exported twice: the copy lands a little later in the file (a re-sent page of the export).
  const copies = new Map<number, number>();
  for (let k = 0; k < o.duplicateLines && lines.length > touched.size; k++, summary.duplicates++) {
    const i = untouched();
    copies.set(i, Math.min(text.length, i + 1 + Math.floor(d.r() * 50)));
  }
  // Inserted from the last position back, so earlier positions stay valid.
  for (const [i, at] of [...copies].sort((a, b) => b[1] - a[1] || b[0] - a[0])) text.splice(at, 0, text[i]!);
  summary.lines = text.length;
  await writeFile(file, `${CRM_INTERACTIONS_HEADER}\r\n${text.join('\r\n')}\r\n`);
  return summary;
}
