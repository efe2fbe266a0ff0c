/**
 * The lead-scoring model artefact: a versioned JSON document that the gold refresh writes to the
 * lake at `models/lead_scoring/<version>/model.json` and reads back to score. Everything scoring
 * needs is inside (features, imputation, standardisation, coefficients), with the training window,
 * the holdout metrics and a SHA-256 of the training data. The version is content-addressed: the
 * date of the newest row seen, then 12 hex of the SHA-256 of the document without its version, so
 * the same data and options give the same version, and `parseModel` detects any edited byte.
 */
import { createHash } from 'node:crypto';
import type { ClassifierMetrics } from './metrics';

export const MODEL_FORMAT = 'medallion.lead_model';
export const MODEL_FORMAT_VERSION = 1;

export interface LeadModel {
  format: typeof MODEL_FORMAT;
  formatVersion: typeof MODEL_FORMAT_VERSION;
  version: string;
  kind: 'logistic_regression';
  /** Input feature names, sorted; `score` reads these keys. */
  features: string[];
  /**
   * Per feature: its transform (identity, or sign(x)·ln(1 + |x|)), the (transformed) training median
   * that replaces a missing value, and whether a 0/1 `<name>__missing` column follows it.
   */
  imputation: { transform: ('identity' | 'signed_log1p')[]; median: number[]; missingFlag: boolean[] };
  /** Design columns (each feature, then its missing flag if any) with the training mean and standard deviation. */
  standardisation: { columns: string[]; mean: number[]; std: number[] };
  /** P(won) = σ(intercept + Σ weights[k]·(x[k] − mean[k]) / std[k]). */
  coefficients: { intercept: number; weights: number[] };
  training: {
    seed: number;
    l2: number;
    iterations: number;
    converged: boolean;
    rows: number;
    positives: number;
    /** Earliest and latest training row time (ISO). */
    from: string;
    to: string;
    /** SHA-256 of all rows given to `train` (training and holdout), in canonical order. */
    dataSha256: string;
  };
  holdout: { cutoff: string; from: string; to: string; metrics: ClassifierMetrics };
}

export type LeadModelErrorCode = 'corrupt' | 'unsupported_version' | 'invalid_training_data';

/** A refused artefact or unusable training input. The message is one line. */
export class LeadModelError extends Error {
  override readonly name = 'LeadModelError';
  constructor(
    readonly code: LeadModelErrorCode,
    message: string,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** Where the framework stores a model version in the lake. */
export const modelPath = (version: string): string => `models/lead_scoring/${version}/model.json`;

/** JSON with object keys sorted at every level, so equal models give equal bytes. */
function stableJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v),
    indent,
  );
}

/** The version a model document should carry: `<YYYYMMDD of holdout.to>-<sha256 of the rest, 12 hex>`. */
export function computeVersion(model: Omit<LeadModel, 'version'> & { version?: string }): string {
  const { version: _ignored, ...rest } = model;
  const hash = createHash('sha256').update(stableJson(rest)).digest('hex').slice(0, 12);
  return `${String(model.holdout?.to ?? '').slice(0, 10).replaceAll('-', '')}-${hash}`;
}

/** The artefact's bytes: stable key order, two-space indent, trailing newline. */
export function serializeModel(model: LeadModel): string {
  return `${stableJson(model, 2)}\n`;
}

/** Reads and validates an artefact; anything else is refused with a LeadModelError. */
export function parseModel(text: string): LeadModel {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new LeadModelError('corrupt', `model artefact is not valid JSON (${(e as Error).message})`);
  }
  const m = doc as Partial<LeadModel> | null;
  if (!m || typeof m !== 'object' || m.format !== MODEL_FORMAT) throw new LeadModelError('corrupt', `model artefact is not a ${MODEL_FORMAT} document`);
  if (m.formatVersion !== MODEL_FORMAT_VERSION)
    throw new LeadModelError('unsupported_version', `model artefact format version ${String(m.formatVersion)} is not supported (this build reads ${MODEL_FORMAT_VERSION})`);
  const problem = shapeProblem(m);
  if (problem) throw new LeadModelError('corrupt', `model artefact ${m.version ?? '(no version)'} is malformed: ${problem}`);
  const expected = computeVersion(m as LeadModel);
  if (m.version !== expected) throw new LeadModelError('corrupt', `model artefact checksum mismatch: it says version ${m.version}, its content hashes to ${expected}`);
  return m as LeadModel;
}

const finiteArray = (a: unknown, n: number): boolean => Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));

/** The first structural problem of a parsed document, or null. */
function shapeProblem(m: Partial<LeadModel>): string | null {
  if (m.kind !== 'logistic_regression') return `unknown model kind ${String(m.kind)}`;
  if (typeof m.version !== 'string') return 'no version';
  const f = m.features;
  if (!Array.isArray(f) || f.length === 0 || !f.every((x) => typeof x === 'string') || new Set(f).size !== f.length) return 'features must be distinct names';
  const imp = m.imputation;
  if (!imp || !finiteArray(imp.median, f.length) || !Array.isArray(imp.transform) || imp.transform.length !== f.length || !imp.transform.every((t) => t === 'identity' || t === 'signed_log1p') || !Array.isArray(imp.missingFlag) || imp.missingFlag.length !== f.length || !imp.missingFlag.every((b) => typeof b === 'boolean'))
    return 'imputation does not match the features';
  const cols = f.length + imp.missingFlag.filter(Boolean).length;
  const st = m.standardisation;
  if (!st || !Array.isArray(st.columns) || st.columns.length !== cols || !finiteArray(st.mean, cols) || !finiteArray(st.std, cols) || !st.std.every((s) => s > 0))
    return `standardisation must have ${cols} columns with positive standard deviations`;
  const c = m.coefficients;
  if (!c || typeof c.intercept !== 'number' || !Number.isFinite(c.intercept) || !finiteArray(c.weights, cols)) return `coefficients must be ${cols} finite weights and an intercept`;
  if (!m.training || typeof m.training.dataSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.training.dataSha256)) return 'training.dataSha256 is missing';
  if (!m.holdout || typeof m.holdout.to !== 'string' || !m.holdout.metrics) return 'holdout metrics are missing';
  return null;
}
