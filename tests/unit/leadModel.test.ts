import { describe, expect, it } from 'vitest';
import { computeVersion, LeadModelError, modelPath, parseModel, serializeModel, type LeadModel } from '../../shared/ml/artefact';
import { accountFeaturesAsOf, dealFeaturesAsOf, type DealRecord, indexHistory, LEAD_HORIZON_DAYS, LEAD_LOG1P_FEATURES, leadTrainingRows, leadTrainingSet, openDeals } from '../../shared/ml/leadFeatures';
import { type LeadRow, score, sortRows, timeSplit, train } from '../../shared/ml/leadModel';
import { calibrationBins, rocAuc } from '../../shared/ml/metrics';
import { mulberry32 } from '../../shared/ml/random';
import { syntheticLeadRows } from '../../shared/ml/synthetic';

/**
 * The stand-in data: 5,000 closed deals whose outcome depends on the six account features through
 * a known, slightly non-linear logit (shared/ml/synthetic.ts), 10 % of two features missing.
 */
const rows = syntheticLeadRows({ rows: 5000, seed: 7 });
const noise = syntheticLeadRows({ rows: 5000, seed: 8, signal: 0 });
const OPTIONS = { seed: 42, holdoutFraction: 0.2, log1p: LEAD_LOG1P_FEATURES };
const model = train(rows, OPTIONS);
const FEATURES = model.features;
const split = timeSplit(sortRows(rows, FEATURES), OPTIONS);

/** AUC the slow way: over every (won, lost) pair, 1 if the won deal scores higher, ½ on a tie. */
function bruteForceAuc(scores: number[], labels: (0 | 1)[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

function refusal(text: string): LeadModelError {
  try {
    parseModel(text);
  } catch (e) {
    expect(e).toBeInstanceOf(LeadModelError);
    expect((e as Error).message).not.toContain('\n');
    return e as LeadModelError;
  }
  throw new Error('the artefact was accepted');
}

describe('lead model: training', () => {
  it('is deterministic: the same rows and seed give the same bytes, whatever the row order', () => {
    const again = serializeModel(train(rows, OPTIONS));
    expect(again).toBe(serializeModel(model));
    const rand = mulberry32(1);
    const shuffled = rows.map((r) => ({ r, k: rand() })).sort((a, b) => a.k - b.k).map((x) => x.r);
    expect(serializeModel(train(shuffled, OPTIONS))).toBe(again);
    expect(model.training.converged).toBe(true);
    expect(model.version).toMatch(/^\d{8}-[0-9a-f]{12}$/);
    expect(modelPath(model.version)).toBe(`models/lead_scoring/${model.version}/model.json`);
  });

  it('never trains on a deal closed at or after the earliest held-out deal', () => {
    const earliestHoldout = Math.min(...split.holdout.map((r) => r.time.getTime()));
    expect(split.train.every((r) => r.time.getTime() < earliestHoldout)).toBe(true);
    expect(split.cutoff.getTime()).toBe(earliestHoldout);
    expect(split.train.length + split.holdout.length).toBe(rows.length);
    // Days are shared by many rows: the whole cutoff day went to the holdout.
    expect(split.holdout.length).toBeGreaterThanOrEqual(1000);
    expect(model.training.rows).toBe(split.train.length);
    expect(new Date(model.training.to).getTime()).toBeLessThan(new Date(model.holdout.from).getTime());
    const fixed = timeSplit(sortRows(rows, FEATURES), { cutoff: new Date('2017-10-01T00:00:00Z') });
    expect(fixed.train.every((r) => r.time < fixed.cutoff) && fixed.holdout.every((r) => r.time >= fixed.cutoff)).toBe(true);
  });

  it('reports the holdout AUC of the rank formula, equal to brute-force pair counting', () => {
    const probs = split.holdout.map((r) => score(model, r.features));
    const labels = split.holdout.map((r) => r.label);
    expect(model.holdout.metrics.auc).toBeCloseTo(bruteForceAuc(probs, labels), 12);
    // Heavy ties: scores rounded to one decimal.
    const rand = mulberry32(3);
    const tied = Array.from({ length: 400 }, () => Math.round(rand() * 10) / 10);
    const tiedLabels = tied.map((s): 0 | 1 => (rand() < s ? 1 : 0));
    expect(rocAuc(tied, tiedLabels)).toBeCloseTo(bruteForceAuc(tied, tiedLabels), 12);
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNull();
  });

  it('separates won from lost on the correlated holdout: AUC ≥ 0.75 and within 0.03 of the true probabilities', () => {
    const oracle = rocAuc(split.holdout.map((r) => (r as LeadRow & { trueProbability: number }).trueProbability), split.holdout.map((r) => r.label))!;
    const auc = model.holdout.metrics.auc!;
    expect(auc).toBeGreaterThanOrEqual(0.75);
    expect(auc).toBeGreaterThanOrEqual(oracle - 0.03);
    expect(model.holdout.metrics.brier).toBeLessThan(model.holdout.metrics.baseRate * (1 - model.holdout.metrics.baseRate)); // beats the constant
    expect(model.holdout.metrics.ece).toBeLessThan(0.06);
  });

  it('finds nothing in pure noise: AUC within 0.5 ± 0.06', () => {
    const m = train(noise, OPTIONS);
    expect(m.holdout.metrics.auc!).toBeGreaterThan(0.44);
    expect(m.holdout.metrics.auc!).toBeLessThan(0.56);
  });

  it('has calibration bins covering the whole holdout', () => {
    const bins = model.holdout.metrics.calibration;
    expect(bins).toHaveLength(10);
    expect(bins.reduce((s, b) => s + b.count, 0)).toBe(split.holdout.length);
    expect(model.holdout.metrics.rows).toBe(split.holdout.length);
    for (const b of bins.filter((x) => x.count)) {
      expect(b.meanPredicted!).toBeGreaterThanOrEqual(b.lo);
      expect(b.meanPredicted!).toBeLessThanOrEqual(b.hi);
    }
    expect(calibrationBins([0, 1, 0.95, 0.05], [0, 1, 1, 0]).map((b) => b.count)).toEqual([2, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  });

  it('refuses training data it cannot learn from', () => {
    const allWon = rows.map((r) => ({ ...r, label: 1 as const }));
    expect(() => train(allWon, OPTIONS)).toThrow(LeadModelError);
    expect(() => train(rows, { ...OPTIONS, holdoutFraction: 1 })).toThrow(/holdoutFraction/);
    expect(() => train([{ ...rows[0]!, time: new Date('nope') }], OPTIONS)).toThrow(/valid time/);
  });
});

describe('lead model: scoring', () => {
  const base = rows[0]!.features;

  it('gives probabilities in [0, 1], also for missing, unknown and extreme values', () => {
    for (const r of split.holdout) expect(score(model, r.features)).toSatisfy((p: number) => p >= 0 && p <= 1);
    for (const v of [null, undefined, Number.NaN, Infinity, -1e300, 1e300, 0]) {
      const p = score(model, { ...base, engagement_score: v, total_revenue: v });
      expect(p >= 0 && p <= 1).toBe(true);
    }
    expect(score(model, {})).toSatisfy((p: number) => p >= 0 && p <= 1);
    // Missing is missing, however it is spelled.
    const { win_rate: _dropped, ...withoutKey } = base;
    expect(score(model, { ...base, win_rate: null })).toBe(score(model, withoutKey));
    expect(score(model, { ...base, win_rate: Number.NaN })).toBe(score(model, withoutKey));
  });

  it('is monotone in a positively weighted feature', () => {
    const k = model.standardisation.columns.indexOf('engagement_score');
    expect(model.coefficients.weights[k]!).toBeGreaterThan(0);
    const ps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => score(model, { ...base, engagement_score: v }));
    for (let i = 1; i < ps.length; i++) expect(ps[i]!).toBeGreaterThan(ps[i - 1]!);
  });
});

describe('lead model: artefact', () => {
  const text = serializeModel(model);

  it('round-trips and scores the same after parsing', () => {
    const back = parseModel(text);
    expect(back).toEqual(JSON.parse(text));
    expect(serializeModel(back)).toBe(text);
    for (const r of split.holdout.slice(0, 50)) expect(score(back, r.features)).toBe(score(model, r.features));
    expect(back.training.dataSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a corrupt or foreign artefact with a typed one-line error', () => {
    expect(refusal(text.slice(0, text.length / 2)).code).toBe('corrupt');
    expect(refusal('null').code).toBe('corrupt');
    expect(refusal(JSON.stringify({ format: 'something.else' })).code).toBe('corrupt');
    const edited = JSON.parse(text) as LeadModel;
    edited.coefficients.weights[0] = edited.coefficients.weights[0]! + 1;
    expect(refusal(JSON.stringify(edited)).message).toMatch(/checksum mismatch/);
    const short = JSON.parse(text) as LeadModel;
    short.coefficients.weights.pop();
    short.version = computeVersion(short);
    expect(refusal(JSON.stringify(short)).message).toMatch(/malformed: coefficients/);
    const future = { ...(JSON.parse(text) as object), formatVersion: 2 };
    const err = refusal(JSON.stringify(future));
    expect(err.code).toBe('unsupported_version');
    expect(err.message).toBe('model artefact format version 2 is not supported (this build reads 1)');
  });
});

describe('lead features: point in time', () => {
  const d = (s: string) => new Date(`${s}T00:00:00Z`);
  const deal = (id: string, stage: string, engage: string, close: string | null, value: number | null): DealRecord => ({
    id,
    account: 'Acme',
    stage,
    engageDate: d(engage),
    closeDate: close ? d(close) : null,
    closeValue: value,
  });
  const deals = [deal('A', 'Won', '2017-01-01', '2017-02-01', 1000), deal('B', 'Lost', '2017-01-15', '2017-03-01', 0), deal('C', 'Won', '2017-02-15', '2017-04-01', 500), deal('D', 'Engaging', '2017-03-10', null, null)];

  it('describes a deal by what was known when it was engaged, never by its own outcome', () => {
    const training = leadTrainingRows(deals, null);
    const c = training.find((r) => r.id === 'C')!;
    // As of 2017-02-15: A won (1000), B still open; engaged so far: A, B.
    expect(c.features).toEqual({
      conversion_rate: 0.5,
      days_since_last_interaction: null,
      engagement_score: null,
      total_interactions: null,
      total_revenue: 1000,
      win_rate: 1,
      // No interactions dataset: the deal-level features are missing.
      deal_call_meeting_share: null,
      deal_interactions: null,
      deal_mean_response_hours: null,
      deal_negative_share: null,
      deal_positive_share: null,
      deal_response_share: null,
    });
    expect(c.label).toBe(1);
    expect(c.time).toEqual(d('2017-04-01'));
    expect(training.find((r) => r.id === 'A')!.features.win_rate).toBeNull(); // nothing closed before it
    expect(training.map((r) => r.id).sort()).toEqual(['A', 'B', 'C']); // open deals are not training rows
  });

  it('counts interactions before the moment only', () => {
    const ix = [
      { account: 'Acme', at: d('2017-03-01'), channel: 'Call', outcome: 'positive' },
      { account: 'Acme', at: d('2017-03-05'), channel: 'email', outcome: 'neutral' },
      { account: 'Acme', at: d('2017-05-01'), channel: 'call', outcome: 'positive' },
    ];
    const f = accountFeaturesAsOf(indexHistory(deals, ix), 'Acme', d('2017-03-09'));
    expect(f.total_interactions).toBe(2);
    expect(f.days_since_last_interaction).toBe(4);
    expect(f.engagement_score).toBeCloseTo(10 * (0.5 * 0.5 + 0.2 * 0.5 + 0.3 * 1), 12);
    expect(f.win_rate).toBe(0.5); // A won, B lost; C still open on 2017-03-09
    expect(accountFeaturesAsOf(indexHistory(deals, []), 'Nobody', d('2017-03-09'))).toMatchObject({ total_interactions: 0, total_revenue: 0, win_rate: null });
  });

  it('deal features: the same account AND agent, inside [engage, engage + H) only; deals closed before the horizon are not training rows', () => {
    expect(LEAD_HORIZON_DAYS).toBe(14);
    const t = (s: string) => new Date(`${s}Z`);
    const agentDeals: DealRecord[] = [
      { id: 'E', account: 'Acme', salesAgent: 'Ann', stage: 'Won', engageDate: d('2017-05-01'), closeDate: d('2017-06-01'), closeValue: 10 },
      { id: 'F', account: 'Acme', salesAgent: 'Ann', stage: 'Lost', engageDate: d('2017-05-01'), closeDate: d('2017-05-10'), closeValue: 0 },
      { id: 'G', account: 'Acme', salesAgent: 'Ann', stage: 'Engaging', engageDate: d('2017-05-01'), closeDate: null, closeValue: null },
      { id: 'P', account: 'Acme', salesAgent: 'Ann', stage: 'Prospecting', engageDate: null, closeDate: null, closeValue: null },
      { id: 'Q', account: null, salesAgent: 'Ann', stage: 'Prospecting', engageDate: null, closeDate: null, closeValue: null },
    ];
    const ix = [
      { account: 'Acme', salesAgent: 'Ann', at: t('2017-04-30T10:00:00'), channel: 'call', outcome: 'positive', responseHours: 1 }, // before engage
      { account: 'Acme', salesAgent: 'Ann', at: t('2017-05-02T10:00:00'), channel: 'Meeting', outcome: 'positive', responseHours: 2 },
      { account: 'Acme', salesAgent: 'Ann', at: t('2017-05-05T10:00:00'), channel: 'email', outcome: 'negative', responseHours: null },
      { account: 'Acme', salesAgent: 'Ann', at: t('2017-05-08T10:00:00'), channel: 'call', outcome: 'neutral', responseHours: 6 },
      { account: 'Acme', salesAgent: 'Bob', at: t('2017-05-03T10:00:00'), channel: 'call', outcome: 'positive', responseHours: 1 }, // another agent
      { account: 'Acme', salesAgent: 'Ann', at: t('2017-05-15T00:00:00'), channel: 'call', outcome: 'positive', responseHours: 1 }, // at the horizon: excluded
    ];
    const index = indexHistory(agentDeals, ix);
    expect(dealFeaturesAsOf(index, agentDeals[0]!)).toEqual({
      deal_call_meeting_share: 2 / 3,
      deal_interactions: 3,
      deal_mean_response_hours: 4,
      deal_negative_share: 1 / 3,
      deal_positive_share: 1 / 3,
      deal_response_share: 2 / 3,
    });
    // Scored before the horizon: only what happened before "now".
    expect(dealFeaturesAsOf(index, agentDeals[2]!, d('2017-05-06'))).toMatchObject({ deal_interactions: 2, deal_negative_share: 0.5 });
    // No engage date: every deal feature missing.
    expect(Object.values(dealFeaturesAsOf(index, agentDeals[3]!, d('2017-06-01'))).every((v) => v === null)).toBe(true);
    const set = leadTrainingSet(agentDeals, ix);
    expect(set.rows.map((r) => r.id)).toEqual(['E']);
    expect(set.closedBeforeHorizon).toBe(1);
    expect(set.rows[0]!.features.total_interactions).toBe(1); // the account as of its engage date
    expect(openDeals(agentDeals).map((x) => x.id)).toEqual(['G', 'P']);
  });
});
