/**
 * probability_to_convert: a logistic-regression classifier of closed deals (won = 1, lost = 0)
 * over per-account features, trained with a time-based holdout and shipped as a versioned JSON
 * artefact (./artefact.ts). Pure functions; see docs/ml.md for the measured choice of model.
 *
 * Transforms: features named in `log1p` become sign(x)·ln(1 + |x|) before anything else.
 * Missing values: a feature value that is null, undefined or not finite is missing. It is
 * replaced by the feature's (transformed) training median, and if any training row missed that feature, a 0/1
 * column `<name>__missing` is added, so the model can learn what "missing" itself says.
 * Then each column is standardised with the training mean and standard deviation (σ = 0 → 1).
 */
import { createHash } from 'node:crypto';
import { computeVersion, LeadModelError, MODEL_FORMAT, MODEL_FORMAT_VERSION, type LeadModel } from './artefact';
import { LEAD_LOG1P_FEATURES } from './leadFeatures';
import { fitLogistic, sigmoid } from './logistic';
import { classifierMetrics } from './metrics';

export type FeatureValues = Record<string, number | null | undefined>;

export interface LeadRow {
  features: FeatureValues;
  /** 1 = won, 0 = lost. */
  label: 0 | 1;
  /** When the outcome became known (the deal's close date): the split is on this. */
  time: Date;
  /** Optional stable id (e.g. opportunity_id): orders rows with the same time. */
  id?: string;
}

export interface SplitOptions {
  /** Share of the latest rows held out (default 0.2); ignored when `cutoff` is given. */
  holdoutFraction?: number;
  /** Rows with time < cutoff train, the rest are held out. */
  cutoff?: Date;
}

export interface TrainOptions extends SplitOptions {
  /** Recorded in the artefact; IRLS itself has no random step, so it does not change the fit. */
  seed: number;
  /** L2 penalty λ on the standardised weights (default 1). */
  l2?: number;
  maxIterations?: number;
  /** Input features; default: the sorted union of the rows' feature keys. */
  features?: string[];
  /** Features to pass through sign(x)·ln(1 + |x|) first; default LEAD_LOG1P_FEATURES (the amounts and counts). */
  log1p?: string[];
}

export type Transform = 'identity' | 'signed_log1p';

export interface Encoding {
  features: string[];
  transform: Transform[];
  median: number[];
  missingFlag: boolean[];
  columns: string[];
  mean: number[];
  std: number[];
}

const isMissing = (v: number | null | undefined): boolean => v === null || v === undefined || !Number.isFinite(v);

/** Rows in time order; equal times by id, then by their content, so input order never matters. */
export function sortRows(rows: readonly LeadRow[], features: readonly string[]): LeadRow[] {
  for (const r of rows) if (!(r.time instanceof Date) || Number.isNaN(r.time.getTime())) throw new LeadModelError('invalid_training_data', `row ${r.id ?? ''} has no valid time`);
  const keyed = rows.map((r) => ({ r, t: r.time.getTime(), k: rowKey(r, features) }));
  keyed.sort((a, b) => a.t - b.t || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((x) => x.r);
}

const rowKey = (r: LeadRow, features: readonly string[]): string => `${r.id ?? ''}\t${r.label}\t${features.map((f) => (isMissing(r.features[f]) ? '' : String(r.features[f]))).join('\t')}`;

/**
 * Time-based split: sorted by time, the cutoff is the time of the first held-out row, and only
 * rows strictly before it train, so no training deal closed at or after any held-out deal.
 */
export function timeSplit(sorted: readonly LeadRow[], opts: SplitOptions): { train: LeadRow[]; holdout: LeadRow[]; cutoff: Date } {
  let cutoff = opts.cutoff;
  if (!cutoff) {
    const f = opts.holdoutFraction ?? 0.2;
    if (!(f > 0 && f < 1)) throw new LeadModelError('invalid_training_data', `holdoutFraction must be in (0, 1), got ${f}`);
    const first = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * (1 - f)))];
    if (!first) throw new LeadModelError('invalid_training_data', 'no rows to train on');
    cutoff = first.time;
  }
  const c = cutoff.getTime();
  const train = sorted.filter((r) => r.time.getTime() < c);
  const holdout = sorted.filter((r) => r.time.getTime() >= c);
  return { train, holdout, cutoff };
}

/** Median of the non-missing values (mean of the middle two for an even count); 0 if none. */
function median(values: readonly (number | null | undefined)[]): number {
  const v = values.filter((x): x is number => !isMissing(x)).sort((a, b) => a - b);
  if (!v.length) return 0;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** sign(x)·ln(1 + |x|): compresses a long tail, keeps order and sign, 0 ↦ 0. */
const signedLog1p = (v: number) => Math.sign(v) * Math.log1p(Math.abs(v));

/** A feature's value after its transform, or null when missing. */
function transformed(e: Pick<Encoding, 'features' | 'transform'>, k: number, x: FeatureValues): number | null {
  const v = x[e.features[k]!];
  if (isMissing(v)) return null;
  return e.transform[k] === 'signed_log1p' ? signedLog1p(v!) : v!;
}

/** Transformed, imputed values and missing flags, before standardisation, in `columns` order. */
function rawColumns(e: Pick<Encoding, 'features' | 'transform' | 'median' | 'missingFlag'>, x: FeatureValues): number[] {
  const out: number[] = [];
  e.features.forEach((_f, k) => {
    const v = transformed(e, k, x);
    const miss = v === null;
    out.push(v ?? e.median[k]!);
    if (e.missingFlag[k]) out.push(miss ? 1 : 0);
  });
  return out;
}

/** Learns transforms' medians, missing flags and standardisation from the training rows (mean and population σ per column). */
export function fitEncoding(train: readonly LeadRow[], features: readonly string[], log1p: readonly string[] = []): Encoding {
  const t = { features: [...features], transform: features.map((f): Transform => (log1p.includes(f) ? 'signed_log1p' : 'identity')) };
  const med = features.map((_f, k) => median(train.map((r) => transformed(t, k, r.features))));
  const missingFlag = features.map((f) => train.some((r) => isMissing(r.features[f])));
  const columns = features.flatMap((f, k) => (missingFlag[k] ? [f, `${f}__missing`] : [f]));
  const base = { ...t, median: med, missingFlag };
  const raw = train.map((r) => rawColumns(base, r.features));
  const n = raw.length;
  const mean = columns.map((_, j) => raw.reduce((s, x) => s + x[j]!, 0) / n);
  // A (numerically) constant column gets σ = 1: it then carries no information, and no rounding noise is blown up.
  const sd = (j: number) => Math.sqrt(raw.reduce((s, x) => s + (x[j]! - mean[j]!) ** 2, 0) / n);
  const std = columns.map((_, j) => (sd(j) > 1e-9 * Math.max(1, Math.abs(mean[j]!)) ? sd(j) : 1));
  return { ...base, columns, mean, std };
}

/** The standardised design row of one set of feature values. */
export function encode(e: Encoding, x: FeatureValues): Float64Array {
  const raw = rawColumns(e, x);
  return Float64Array.from(raw, (v, j) => (v - e.mean[j]!) / e.std[j]!);
}

/** SHA-256 over the feature names and every row (time, id, label, values) in canonical order. */
export function dataSha256(sorted: readonly LeadRow[], features: readonly string[]): string {
  const h = createHash('sha256').update(`${features.join('\t')}\n`);
  for (const r of sorted) h.update(`${r.time.toISOString()}\t${rowKey(r, features)}\n`);
  return h.digest('hex');
}

const iso = (d: Date) => d.toISOString();

/** The encoding as stored in, and read back from, an artefact. */
export const encodingOf = (m: LeadModel): Encoding => ({
  features: m.features,
  transform: m.imputation.transform,
  median: m.imputation.median,
  missingFlag: m.imputation.missingFlag,
  columns: m.standardisation.columns,
  mean: m.standardisation.mean,
  std: m.standardisation.std,
});

/** Trains on the earliest rows, evaluates on the latest, returns the complete artefact. */
export function train(rows: readonly LeadRow[], options: TrainOptions): LeadModel {
  const features = options.features ? [...options.features].sort() : [...new Set(rows.flatMap((r) => Object.keys(r.features)))].sort();
  if (!features.length) throw new LeadModelError('invalid_training_data', 'rows have no features');
  const sorted = sortRows(rows, features);
  const split = timeSplit(sorted, options);
  const positives = split.train.filter((r) => r.label === 1).length;
  if (!split.holdout.length || positives === 0 || positives === split.train.length)
    throw new LeadModelError('invalid_training_data', `need won and lost deals before the cutoff and a holdout after it (train ${split.train.length} rows, ${positives} won; holdout ${split.holdout.length})`);
  const enc = fitEncoding(split.train, features, options.log1p ?? LEAD_LOG1P_FEATURES);
  const l2 = options.l2 ?? 1;
  const fit = fitLogistic(split.train.map((r) => encode(enc, r.features)), split.train.map((r) => r.label), { l2, maxIterations: options.maxIterations ?? 100, tolerance: 1e-10 });
  const model: LeadModel = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    version: '',
    kind: 'logistic_regression',
    features: enc.features,
    imputation: { transform: enc.transform, median: enc.median, missingFlag: enc.missingFlag },
    standardisation: { columns: enc.columns, mean: enc.mean, std: enc.std },
    coefficients: { intercept: fit.intercept, weights: fit.weights },
    training: {
      seed: options.seed,
      l2,
      iterations: fit.iterations,
      converged: fit.converged,
      rows: split.train.length,
      positives,
      from: iso(split.train[0]!.time),
      to: iso(split.train[split.train.length - 1]!.time),
      dataSha256: dataSha256(sorted, features),
    },
    holdout: { cutoff: iso(split.cutoff), from: iso(split.holdout[0]!.time), to: iso(split.holdout[split.holdout.length - 1]!.time), metrics: classifierMetrics([], []) },
  };
  const probs = split.holdout.map((r) => score(model, r.features));
  model.holdout.metrics = classifierMetrics(probs, split.holdout.map((r) => r.label));
  model.version = computeVersion(model);
  return model;
}

/** P(won) for one set of feature values, in [0, 1]. Missing or unknown keys are imputed. */
export function score(model: LeadModel, features: FeatureValues): number {
  const x = encode(encodingOf(model), features);
  let t = model.coefficients.intercept;
  model.coefficients.weights.forEach((w, k) => (t += w * x[k]!));
  return sigmoid(t);
}
