/**
 * Holdout metrics of a probabilistic classifier: ROC AUC (rank formula, ties averaged), Brier
 * score, log loss and a reliability table. Inputs are parallel arrays of probabilities and 0/1
 * labels. A metric that is undefined on the input (AUC with one class only) is null.
 */

export interface CalibrationBin {
  /** The bin covers predicted probabilities in [lo, hi) (the last bin includes 1). */
  lo: number;
  hi: number;
  count: number;
  /** Mean predicted probability of the bin's rows; null when the bin is empty. */
  meanPredicted: number | null;
  /** Share of positives among the bin's rows; null when the bin is empty. */
  observedRate: number | null;
}

export interface ClassifierMetrics {
  rows: number;
  positives: number;
  /** Share of positives in the evaluated rows (what a constant predictor would say). */
  baseRate: number;
  auc: number | null;
  brier: number;
  logLoss: number;
  /** Expected calibration error: Σ_bins count/n · |meanPredicted − observedRate|. */
  ece: number;
  calibration: CalibrationBin[];
}

/**
 * ROC AUC by the Mann–Whitney rank formula: rank all scores ascending (1-based), give tied
 * scores the average of their ranks, then AUC = (R₁ − n₁(n₁+1)/2) / (n₁·n₀), where R₁ is the rank
 * sum of the positives. It equals P(score⁺ > score⁻) + ½·P(score⁺ = score⁻) over all pairs.
 */
export function rocAuc(scores: readonly number[], labels: readonly (0 | 1)[]): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0;
  let positives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avgRank = (i + j + 2) / 2; // ranks i+1 … j+1, averaged
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] !== 1) continue;
      rankSumPos += avgRank;
      positives++;
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSumPos - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Brier score: mean squared error of the probability, (1/n)·Σ (p − y)². 0 is perfect. */
export function brierScore(probs: readonly number[], labels: readonly (0 | 1)[]): number {
  let s = 0;
  for (let i = 0; i < probs.length; i++) s += (probs[i]! - labels[i]!) ** 2;
  return s / probs.length;
}

/** Log loss: −(1/n)·Σ [y·ln p + (1 − y)·ln(1 − p)], p clipped to [1e-15, 1 − 1e-15]. */
export function logLoss(probs: readonly number[], labels: readonly (0 | 1)[]): number {
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - 1e-15, Math.max(1e-15, probs[i]!));
    s -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return s / probs.length;
}

/** Reliability table over `bins` equal-width bins of [0, 1]: bin = min(⌊p·bins⌋, bins − 1). */
export function calibrationBins(probs: readonly number[], labels: readonly (0 | 1)[], bins = 10): CalibrationBin[] {
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < probs.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(probs[i]! * bins)));
    count[b]!++;
    sumP[b]! += probs[i]!;
    sumY[b]! += labels[i]!;
  }
  return count.map((c, b) => ({
    lo: b / bins,
    hi: (b + 1) / bins,
    count: c,
    meanPredicted: c ? sumP[b]! / c : null,
    observedRate: c ? sumY[b]! / c : null,
  }));
}

/** All holdout metrics at once. */
export function classifierMetrics(probs: readonly number[], labels: readonly (0 | 1)[]): ClassifierMetrics {
  const n = probs.length;
  const positives = labels.reduce<number>((s, y) => s + y, 0);
  const calibration = calibrationBins(probs, labels);
  const ece = calibration.reduce((s, b) => (b.count ? s + (b.count / n) * Math.abs(b.meanPredicted! - b.observedRate!) : s), 0);
  return {
    rows: n,
    positives,
    baseRate: n ? positives / n : 0,
    auc: rocAuc(probs, labels),
    brier: n ? brierScore(probs, labels) : 0,
    logLoss: n ? logLoss(probs, labels) : 0,
    ece,
    calibration,
  };
}
