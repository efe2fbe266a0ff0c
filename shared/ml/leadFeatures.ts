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
}

export interface InteractionRecord {
  account: string;
  at: Date;
  /** call, email, whatsapp, meeting… (case-insensitive). */
  channel: string;
  /** positive, neutral, negative… (case-insensitive); optional. */
  outcome?: string | null;
}

export const LEAD_FEATURES = ['conversion_rate', 'days_since_last_interaction', 'engagement_score', 'total_interactions', 'total_revenue', 'win_rate'] as const;

/** Heavy-tailed features that train better as sign(x)·ln(1 + |x|) (`train`'s `log1p` option). */
export const LEAD_LOG1P_FEATURES = ['days_since_last_interaction', 'total_interactions', 'total_revenue'];

interface AccountHistory {
  deals: DealRecord[];
  /** Interaction times ascending, with prefix counts of positive outcomes and calls. */
  at: number[];
  positives: number[];
  calls: number[];
}

export type HistoryIndex = { byAccount: Map<string, AccountHistory>; hasInteractions: boolean };

const MS_DAY = 86_400_000;
const stageIs = (d: DealRecord, s: string) => d.stage.toLowerCase() === s;

/** Groups deals and interactions by account once; `interactions` null means the dataset is absent. */
export function indexHistory(deals: readonly DealRecord[], interactions: readonly InteractionRecord[] | null): HistoryIndex {
  const byAccount = new Map<string, AccountHistory>();
  const get = (a: string) => byAccount.get(a) ?? byAccount.set(a, { deals: [], at: [], positives: [0], calls: [0] }).get(a)!;
  for (const d of deals) if (d.account) get(d.account).deals.push(d);
  const sorted = [...(interactions ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const i of sorted) {
    const h = get(i.account);
    h.at.push(i.at.getTime());
    h.positives.push(h.positives[h.positives.length - 1]! + (i.outcome?.toLowerCase() === 'positive' ? 1 : 0));
    h.calls.push(h.calls[h.calls.length - 1]! + (i.channel.toLowerCase() === 'call' ? 1 : 0));
  }
  return { byAccount, hasInteractions: interactions !== null };
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

/** One training row per closed (won/lost) deal with an account: features as of its engage date, time = close date. */
export function leadTrainingRows(deals: readonly DealRecord[], interactions: readonly InteractionRecord[] | null): LeadRow[] {
  const index = indexHistory(deals, interactions);
  const closed = deals.filter((d) => d.account && d.closeDate && (stageIs(d, 'won') || stageIs(d, 'lost')));
  return closed.map((d) => ({
    id: d.id,
    label: stageIs(d, 'won') ? 1 : 0,
    time: d.closeDate!,
    features: accountFeaturesAsOf(index, d.account!, d.engageDate ?? d.closeDate!),
  }));
}
