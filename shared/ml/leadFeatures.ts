/**
 * Point-in-time account features for lead scoring. A deal is described by its account's history
 * strictly before the moment it is scored (for a training row: its engage date), never by its own
 * outcome or anything later, so the holdout AUC is not inflated by leakage.
 *
 *   total_revenue               Σ close_value of the account's deals won before t
 *   win_rate                    won / (won + lost) among deals closed before t (null: none closed)
 *   conversion_rate             won before t / deals engaged before t (null: none engaged)
 *   total_interactions          interactions before t (null: no interactions data at all)
 *   days_since_last_interaction days from the last interaction to t (null: none yet)
 *   engagement_score            0–10: 10·(0.5·positive share + 0.2·call share + 0.3·recency),
 *                               recency 1 if the last interaction is under 7 days old, else 0.5
 *                               (the weights of docs/architecture's engagement score, on 0–10)
 *
 * Deal-level features at a fixed horizon (LEAD_HORIZON_DAYS = H = 14): a deal is scored H days
 * after its engage date. On top of its account's features as of the engage date, it is described by
 * the interactions ATTRIBUTABLE to it (same account AND same sales agent) in [engage, engage + H),
 * or [engage, now) while the deal is younger than H. All null (missing) when the deal has no engage
 * date (Prospecting) or there is no interactions dataset; the shares are null when it has none.
 *
 *   deal_interactions           attributable interactions in the window
 *   deal_positive_share         share of them with a positive outcome
 *   deal_negative_share         share with a negative outcome
 *   deal_call_meeting_share     share that are calls or meetings
 *   deal_response_share         share the customer responded to (response time present)
 *   deal_mean_response_hours    mean response time of those responded to (null: none)
 *
 * A training row is a closed deal whose close date is ≥ engage + H: a deal closed earlier had its
 * outcome known before the moment it would be scored, so it is excluded (and counted).
 */
import type { FeatureValues, LeadRow } from './leadModel';

export interface DealRecord {
  id: string;
  account: string | null;
  /** Won, Lost, Engaging or Prospecting (case-insensitive). */
  stage: string;
  engageDate: Date | null;
  closeDate: Date | null;
  closeValue: number | null;
  /** The deal's sales agent: with the account, what attributes interactions to the deal. */
  salesAgent?: string | null;
}

export interface InteractionRecord {
  account: string;
  at: Date;
  /** call, email, whatsapp, meeting… (case-insensitive). */
  channel: string;
  /** positive, neutral, negative… (case-insensitive); optional. */
  outcome?: string | null;
  salesAgent?: string | null;
  /** Hours until the customer responded; null/absent: no response. */
  responseHours?: number | null;
}

/** Days after the engage date at which a deal is scored (its deal-level features' horizon). */
export const LEAD_HORIZON_DAYS = 14;

export const LEAD_ACCOUNT_FEATURES = ['conversion_rate', 'days_since_last_interaction', 'engagement_score', 'total_interactions', 'total_revenue', 'win_rate'] as const;
export const LEAD_DEAL_FEATURES = ['deal_call_meeting_share', 'deal_interactions', 'deal_mean_response_hours', 'deal_negative_share', 'deal_positive_share', 'deal_response_share'] as const;
export const LEAD_FEATURES = [...LEAD_ACCOUNT_FEATURES, ...LEAD_DEAL_FEATURES] as const;

/** Heavy-tailed features that train better as sign(x)·ln(1 + |x|) (`train`'s `log1p` option). */
export const LEAD_LOG1P_FEATURES = ['days_since_last_interaction', 'total_interactions', 'total_revenue', 'deal_interactions', 'deal_mean_response_hours'];

/** One attributable interaction, as the deal features read it. */
interface Touch {
  at: number;
  positive: boolean;
  negative: boolean;
  callOrMeeting: boolean;
  responseHours: number | null;
}

interface AccountHistory {
  deals: DealRecord[];
  /** Interaction times ascending, with prefix counts of positive outcomes and calls. */
  at: number[];
  positives: number[];
  calls: number[];
}

export type HistoryIndex = {
  byAccount: Map<string, AccountHistory>;
  /** Interactions by account and sales agent (pairKey), ascending time. */
  byPair: Map<string, Touch[]>;
  hasInteractions: boolean;
};

const pairKey = (account: string, agent: string) => `${account}\u0000${agent.trim().toLowerCase()}`;

const MS_DAY = 86_400_000;
const stageIs = (d: DealRecord, s: string) => d.stage.toLowerCase() === s;

/** Groups deals and interactions by account once; `interactions` null means the dataset is absent. */
export function indexHistory(deals: readonly DealRecord[], interactions: readonly InteractionRecord[] | null): HistoryIndex {
  const byAccount = new Map<string, AccountHistory>();
  const byPair = new Map<string, Touch[]>();
  const get = (a: string) => byAccount.get(a) ?? byAccount.set(a, { deals: [], at: [], positives: [0], calls: [0] }).get(a)!;
  for (const d of deals) if (d.account) get(d.account).deals.push(d);
  const sorted = [...(interactions ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const i of sorted) {
    const h = get(i.account);
    h.at.push(i.at.getTime());
    h.positives.push(h.positives[h.positives.length - 1]! + (i.outcome?.toLowerCase() === 'positive' ? 1 : 0));
    h.calls.push(h.calls[h.calls.length - 1]! + (i.channel.toLowerCase() === 'call' ? 1 : 0));
    if (i.salesAgent) {
      const key = pairKey(i.account, i.salesAgent);
      const list = byPair.get(key) ?? byPair.set(key, []).get(key)!;
      const outcome = i.outcome?.toLowerCase();
      const channel = i.channel.toLowerCase();
      const rh = i.responseHours;
      list.push({
        at: i.at.getTime(),
        positive: outcome === 'positive',
        negative: outcome === 'negative',
        callOrMeeting: channel === 'call' || channel === 'meeting',
        responseHours: rh === null || rh === undefined || !Number.isFinite(rh) ? null : rh,
      });
    }
  }
  return { byAccount, byPair, hasInteractions: interactions !== null };
}

/** Number of sorted times strictly before t (binary search). */
function countBefore(at: readonly number[], t: number): number {
  let lo = 0;
  let hi = at.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The features of one account as of `asOf` (see the header for definitions). */
export function accountFeaturesAsOf(index: HistoryIndex, account: string, asOf: Date): FeatureValues {
  const t = asOf.getTime();
  const h = index.byAccount.get(account);
  let won = 0;
  let lost = 0;
  let engaged = 0;
  let revenue = 0;
  for (const d of h?.deals ?? []) {
    if (d.engageDate && d.engageDate.getTime() < t) engaged++;
    if (!d.closeDate || d.closeDate.getTime() >= t) continue;
    if (stageIs(d, 'won')) {
      won++;
      revenue += d.closeValue ?? 0;
    } else if (stageIs(d, 'lost')) lost++;
  }
  const n = h ? countBefore(h.at, t) : 0;
  const last = n ? h!.at[n - 1]! : null;
  const recency = last !== null && t - last < 7 * MS_DAY ? 1 : 0.5;
  return {
    conversion_rate: engaged ? won / engaged : null,
    days_since_last_interaction: index.hasInteractions && last !== null ? (t - last) / MS_DAY : null,
    engagement_score: index.hasInteractions && n ? 10 * (0.5 * (h!.positives[n]! / n) + 0.2 * (h!.calls[n]! / n) + 0.3 * recency) : null,
    total_interactions: index.hasInteractions ? n : null,
    total_revenue: revenue,
    win_rate: won + lost ? won / (won + lost) : null,
  };
}

/** The deal's moment of scoring: min(asOf, engage + H); null without an engage date. */
export function dealHorizon(deal: DealRecord, asOf?: Date): Date | null {
  if (!deal.engageDate) return null;
  const h = deal.engageDate.getTime() + LEAD_HORIZON_DAYS * MS_DAY;
  return new Date(asOf ? Math.min(asOf.getTime(), h) : h);
}

/**
 * Deal-level features (see the header) of `deal` as of min(asOf, engage + H): the interactions of
 * the same account and sales agent in [engage, that moment). Without `asOf`: at the horizon.
 */
export function dealFeaturesAsOf(index: HistoryIndex, deal: DealRecord, asOf?: Date): FeatureValues {
  const end = dealHorizon(deal, asOf);
  const none: FeatureValues = Object.fromEntries(LEAD_DEAL_FEATURES.map((f) => [f, null]));
  if (!end || !deal.account || !index.hasInteractions) return none;
  const list = deal.salesAgent ? (index.byPair.get(pairKey(deal.account, deal.salesAgent)) ?? []) : [];
  const from = countBefore(list.map((x) => x.at), deal.engageDate!.getTime());
  let n = 0;
  let pos = 0;
  let neg = 0;
  let cm = 0;
  let responded = 0;
  let hours = 0;
  for (let k = from; k < list.length && list[k]!.at < end.getTime(); k++) {
    const x = list[k]!;
    n++;
    if (x.positive) pos++;
    if (x.negative) neg++;
    if (x.callOrMeeting) cm++;
    if (x.responseHours !== null) {
      responded++;
      hours += x.responseHours;
    }
  }
  return {
    deal_call_meeting_share: n ? cm / n : null,
    deal_interactions: n,
    deal_mean_response_hours: responded ? hours / responded : null,
    deal_negative_share: n ? neg / n : null,
    deal_positive_share: n ? pos / n : null,
    deal_response_share: n ? responded / n : null,
  };
}

/**
 * A deal's full feature vector as of `asOf` (default: its horizon): its account's features as of
 * its engage date (as of `asOf` for a deal without one, e.g. Prospecting) and its deal features
 * as of min(asOf, engage + H).
 */
export function dealLeadFeatures(index: HistoryIndex, deal: DealRecord, asOf?: Date): FeatureValues {
  const accountAt = deal.engageDate ?? asOf;
  if (!deal.account || !accountAt) throw new Error(`deal ${deal.id}: needs an account and an engage date or asOf`);
  return { ...accountFeaturesAsOf(index, deal.account, accountAt), ...dealFeaturesAsOf(index, deal, asOf) };
}

export interface LeadTrainingSet {
  rows: LeadRow[];
  /** Closed deals with an account left out because they closed before engage + H. */
  closedBeforeHorizon: number;
  /** Closed deals with an account but no engage date (cannot be placed in time). */
  withoutEngageDate: number;
}

/**
 * One training row per closed (won/lost) deal with an account, an engage date and a close date
 * ≥ engage + H: features as of its horizon (`dealLeadFeatures`), time = close date.
 */
export function leadTrainingSet(deals: readonly DealRecord[], interactions: readonly InteractionRecord[] | null, index = indexHistory(deals, interactions)): LeadTrainingSet {
  let closedBeforeHorizon = 0;
  let withoutEngageDate = 0;
  const rows: LeadRow[] = [];
  for (const d of deals) {
    if (!d.account || !d.closeDate || !(stageIs(d, 'won') || stageIs(d, 'lost'))) continue;
    if (!d.engageDate) {
      withoutEngageDate++;
      continue;
    }
    if (d.closeDate.getTime() < dealHorizon(d)!.getTime()) {
      closedBeforeHorizon++;
      continue;
    }
    rows.push({ id: d.id, label: stageIs(d, 'won') ? 1 : 0, time: d.closeDate, features: dealLeadFeatures(index, d) });
  }
  return { rows, closedBeforeHorizon, withoutEngageDate };
}

/** The rows of `leadTrainingSet`. */
export function leadTrainingRows(deals: readonly DealRecord[], interactions: readonly InteractionRecord[] | null): LeadRow[] {
  return leadTrainingSet(deals, interactions).rows;
}

/** Open deals (Engaging or Prospecting) with an account: the ones `probability_to_convert` averages. */
export function openDeals(deals: readonly DealRecord[]): DealRecord[] {
  return deals.filter((d) => d.account && (stageIs(d, 'engaging') || stageIs(d, 'prospecting')));
}
