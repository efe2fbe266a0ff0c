/**
 * Synthetic lead rows with a known relation between the account features and the outcome, for
 * tests and the model comparison while the real interactions dataset is not there. Deterministic
 * in `seed`. Times fall on whole days of 2017 (so many rows share a time).
 *
 * Latent model: logit P(won) = signal·s − 0.3, where
 *   s = 0.9·z(engagement_score) + 0.7·(win_rate − 0.6)/0.15 + 0.5·(ln(1 + total_revenue) − 9)/1.5
 *       − 0.8·tanh(days_since_last_interaction / 30) + 0.3·z(engagement)·z(win)   (a little non-linear)
 * `signal` 0 gives pure noise (the label ignores the features). `missingShare` of win_rate and
 * days_since_last_interaction values are null (missing at random).
 */
import type { LeadRow } from './leadModel';
import { mulberry32, normal } from './random';

export interface SyntheticOptions {
  rows: number;
  seed: number;
  /** Scale of the latent score in the logit; 0 = labels independent of the features. */
  signal?: number;
  missingShare?: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const DAY = 86_400_000;
const START = Date.UTC(2017, 0, 1);

/** A synthetic row also carries the probability its label was drawn with (the best any model can do). */
export type SyntheticRow = LeadRow & { trueProbability: number };

export function syntheticLeadRows(o: SyntheticOptions): SyntheticRow[] {
  const rand = mulberry32(o.seed);
  const signal = o.signal ?? 1;
  const missing = o.missingShare ?? 0.1;
  return Array.from({ length: o.rows }, (_, i) => {
    const zEng = normal(rand);
    const zWin = normal(rand);
    const win = clamp(0.6 + 0.15 * zWin, 0, 1);
    const revenue = Math.round(Math.exp(9 + 1.5 * normal(rand)));
    const days = Math.floor(-30 * Math.log(1 - rand())); // exponential, mean 30 days
    const interactions = Math.max(0, Math.round(20 + 8 * zEng + 6 * normal(rand)));
    const s = 0.9 * zEng + 0.7 * zWin + 0.5 * ((Math.log1p(revenue) - 9) / 1.5) - 0.8 * Math.tanh(days / 30) + 0.3 * zEng * zWin;
    const p = 1 / (1 + Math.exp(-(signal * s - 0.3)));
    const label: 0 | 1 = rand() < p ? 1 : 0;
    return {
      id: `S${String(i).padStart(6, '0')}`,
      label,
      trueProbability: p,
      time: new Date(START + Math.floor(rand() * 365) * DAY),
      features: {
        total_revenue: revenue,
        total_interactions: interactions,
        engagement_score: clamp(5 + 1.5 * zEng, 0, 10),
        conversion_rate: clamp(win * (0.8 + 0.2 * rand()), 0, 1),
        win_rate: rand() < missing ? null : win,
        days_since_last_interaction: rand() < missing ? null : days,
      },
    };
  });
}
