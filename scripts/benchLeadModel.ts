/**
 * `npm run build && node dist/scripts/benchLeadModel.js [--crm DIR] [--synthetic-rows 10000] [--seed 42] [--forest]`
 *
 * The measured comparison behind the lead-scoring model (docs/ml.md). Every candidate gets the
 * same time-based split (earliest 80 % of closed deals by close date train, the latest 20 % are
 * held out) and the same encoding (ln(1 + x) of amounts and counts, median imputation + missing
 * flags, standardisation), on:
 *   crm        the Maven CRM closed deals, point-in-time account features (no interactions yet)
 *   synthetic  rows with a known, slightly non-linear relation (shared/ml/synthetic.ts)
 * Candidates: our IRLS logistic regression; logistic regression as gradient descent in DuckDB SQL;
 * and, when installed (`npm install --no-save ml-random-forest@2.1.0 ml-xgboost@1.1.2`), XGBoost
 * compiled to WebAssembly and (with --forest: it takes minutes) mljs's random forest. Training time is the faster of two runs; the
 * two runs' artefacts are compared byte for byte for determinism.
 * `benchLeadModels()` returns the rows, for the main bench.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { table } from '../shared/cli/format';
import { serializeModel } from '../shared/ml/artefact';
import { type DealRecord, LEAD_LOG1P_FEATURES, leadTrainingRows } from '../shared/ml/leadFeatures';
import { encode, type Encoding, fitEncoding, type LeadRow, score, sortRows, timeSplit, train } from '../shared/ml/leadModel';
import { classifierMetrics } from '../shared/ml/metrics';
import { syntheticLeadRows } from '../shared/ml/synthetic';
import { projectRoot } from '../shared/projectRoot';

export interface LeadBenchRow {
  dataset: string;
  model: string;
  trainRows: number;
  holdoutRows: number;
  auc: number | null;
  brier: number;
  logLoss: number;
  ece: number;
  trainMs: number;
  score10kMs: number;
  artefactBytes: number;
  deterministic: boolean;
}

export interface LeadBenchOptions {
  /** Folder with the Maven CRM sales_pipeline.csv; default ../shared/datasets/crm beside the repo. */
  crmDir?: string;
  syntheticRows?: number;
  seed?: number;
  /** Include mljs's random forest (minutes: its split search is quadratic in the rows). */
  forest?: boolean;
}

/** What each candidate does with the prepared split. */
interface Prepared {
  rows: LeadRow[];
  train: LeadRow[];
  holdout: LeadRow[];
  enc: Encoding;
  seed: number;
  /** 10,000 feature records (the holdout, cycled) for the scoring-time measurement. */
  scoring: LeadRow['features'][];
}
interface Fitted {
  bytes: string;
  predict(features: LeadRow['features'][]): Promise<number[]> | number[];
  dispose?(): void;
}
interface Candidate {
  name: string;
  fit(p: Prepared): Promise<Fitted>;
}

const date = (s: string | undefined): Date | null => (s ? new Date(`${s}T00:00:00Z`) : null);

/** Maven CRM sales_pipeline.csv (plain comma-separated, no quoted fields) as deal records. */
export function readMavenDeals(file: string): DealRecord[] {
  const [header, ...lines] = readFileSync(file, 'utf8').split(/\r?\n/).filter(Boolean);
  if (header?.includes('"') || lines.some((l) => l.includes('"'))) throw new Error(`${file}: quoted CSV fields are not supported here`);
  const cols = header!.split(',');
  const at = (name: string) => cols.indexOf(name);
  return lines.map((l) => {
    const v = l.split(',');
    return {
      id: v[at('opportunity_id')]!,
      account: v[at('account')] || null,
      stage: v[at('deal_stage')]!,
      engageDate: date(v[at('engage_date')]),
      closeDate: date(v[at('close_date')]),
      closeValue: v[at('close_value')] ? Number(v[at('close_value')]) : null,
    };
  });
}

function prepare(rows: LeadRow[], seed: number): Prepared {
  const features = [...new Set(rows.flatMap((r) => Object.keys(r.features)))].sort();
  const split = timeSplit(sortRows(rows, features), { holdoutFraction: 0.2 });
  const scoring = Array.from({ length: 10_000 }, (_, i) => split.holdout[i % split.holdout.length]!.features);
  return { rows, train: split.train, holdout: split.holdout, enc: fitEncoding(split.train, features, LEAD_LOG1P_FEATURES), seed, scoring };
}

const matrix = (p: Prepared, f: LeadRow['features'][]) => f.map((x) => Array.from(encode(p.enc, x)));

const ownLogistic: Candidate = {
  name: 'logistic regression, IRLS (shared/ml)',
  async fit(p) {
    const model = train(p.rows, { seed: p.seed, holdoutFraction: 0.2, log1p: LEAD_LOG1P_FEATURES });
    return { bytes: serializeModel(model), predict: (f) => f.map((x) => score(model, x)) };
  },
};

/** Gradient descent on the mean log loss + (λ/2n)·‖w‖², as one recursive CTE (a row per iteration). */
const duckdbLogistic: Candidate = {
  name: 'logistic regression, gradient descent in DuckDB SQL',
  async fit(p) {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const con = await instance.connect();
    const k = p.enc.columns.length;
    const xs = Array.from({ length: k }, (_, j) => `x${j}`);
    const load = async (name: string, X: number[][], y: number[]) => {
      await con.run(`CREATE OR REPLACE TABLE ${name} (${[...xs.map((x) => `${x} DOUBLE`), 'y DOUBLE'].join(', ')})`);
      for (let i = 0; i < X.length; i += 1000)
        await con.run(`INSERT INTO ${name} VALUES ${X.slice(i, i + 1000).map((r, j) => `(${[...r, y[i + j]!].join(',')})`).join(',')}`);
    };
    await load('tr', matrix(p, p.train.map((r) => r.features)), p.train.map((r) => r.label));
    const n = p.train.length;
    const bs = ['b0', ...xs.map((_, j) => `b${j + 1}`)];
    const lin = ['b0', ...xs.map((x, j) => `b${j + 1} * ${x}`)].join(' + ');
    const step = ['b0 - 1.0 * avg(p - y)', ...xs.map((x, j) => `b${j + 1} - 1.0 * (avg((p - y) * ${x}) + ${1 / n} * b${j + 1})`)];
    const sql = `WITH RECURSIVE gd(it, ${bs.join(', ')}) AS (
        SELECT 0, ${bs.map(() => '0.0::DOUBLE').join(', ')}
        UNION ALL
        SELECT it + 1, ${step.join(', ')}
        FROM (SELECT gd.*, tr.*, 1 / (1 + exp(-(${lin}))) AS p FROM gd, tr WHERE it < 500)
        GROUP BY it, ${bs.join(', ')}
      ) SELECT ${bs.join(', ')} FROM gd ORDER BY it DESC LIMIT 1`;
    const coef = (await con.runAndReadAll(sql)).getRows()[0]!.map(Number);
    return {
      bytes: JSON.stringify({ enc: p.enc, coef }),
      predict: async (f) => {
        await load('sc', matrix(p, f), f.map(() => 0));
        const lit = coef.map((c, j) => (j ? `${c} * x${j - 1}` : `${c}`)).join(' + ');
        return (await con.runAndReadAll(`SELECT 1 / (1 + exp(-(${lit}))) FROM sc`)).getRows().map((r) => Number(r[0]));
      },
      dispose: () => con.closeSync(),
    };
  },
};

const optional = createRequire(__filename);
function tryRequire<T>(name: string): T | null {
  try {
    return optional(name) as T;
  } catch {
    return null;
  }
}

interface RandomForest {
  train(X: number[][], y: number[]): void;
  predictionValues(X: number[][]): { to2DArray(): number[][] };
  toJSON(): unknown;
}
type RandomForestModule = { RandomForestClassifier: new (o: object) => RandomForest };

/** mljs random forest: P(won) = share of trees voting 1 (its predictProbability skips the first tree). */
const randomForest = (mod: RandomForestModule): Candidate => ({
  name: 'random forest (ml-random-forest 2.1.0)',
  async fit(p) {
    const rf = new mod.RandomForestClassifier({ nEstimators: 20, maxFeatures: 0.7, seed: p.seed, useSampleBagging: true, noOOB: true, treeOptions: { maxDepth: 6, minNumSamples: 20 } });
    rf.train(matrix(p, p.train.map((r) => r.features)), p.train.map((r) => r.label));
    const votes = (f: LeadRow['features'][]) => rf.predictionValues(matrix(p, f)).to2DArray().map((v) => v.reduce((s, x) => s + x, 0) / v.length);
    return { bytes: JSON.stringify(rf.toJSON()), predict: votes };
  },
});

interface Booster {
  train(X: number[][], y: number[]): void;
  predict(X: number[][]): ArrayLike<number>;
  free(): void;
}
type XgbModule = Promise<new (o: object) => Booster>;

/** XGBoost 0.7x compiled to WebAssembly (mljs); exact greedy trees, no subsampling, so no randomness. */
const xgboost = (mod: XgbModule): Candidate => ({
  name: 'gradient-boosted trees (ml-xgboost 1.1.2, XGBoost wasm)',
  async fit(p) {
    const XGBoost = await mod;
    const params = { booster: 'gbtree', objective: 'binary:logistic', max_depth: 3, eta: 0.1, min_child_weight: 1, subsample: 1, colsample_bytree: 1, silent: 1, iterations: 200, seed: p.seed };
    const b = new XGBoost(params);
    b.train(matrix(p, p.train.map((r) => r.features)), p.train.map((r) => r.label));
    return { bytes: JSON.stringify(b), predict: (f) => Array.from(b.predict(matrix(p, f))), dispose: () => b.free() };
  },
});

async function measure(dataset: string, p: Prepared, c: Candidate): Promise<LeadBenchRow> {
  const runs: { ms: number; fitted: Fitted }[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    const fitted = await c.fit(p);
    runs.push({ ms: performance.now() - t0, fitted });
  }
  const [a, b] = runs as [{ ms: number; fitted: Fitted }, { ms: number; fitted: Fitted }];
  const probs = await a.fitted.predict(p.holdout.map((r) => r.features));
  const m = classifierMetrics(probs, p.holdout.map((r) => r.label));
  const t0 = performance.now();
  await a.fitted.predict(p.scoring);
  const score10kMs = performance.now() - t0;
  for (const r of runs) r.fitted.dispose?.();
  return {
    dataset,
    model: c.name,
    trainRows: p.train.length,
    holdoutRows: p.holdout.length,
    auc: m.auc,
    brier: m.brier,
    logLoss: m.logLoss,
    ece: m.ece,
    trainMs: Math.min(a.ms, b.ms),
    score10kMs,
    artefactBytes: Buffer.byteLength(a.fitted.bytes),
    deterministic: a.fitted.bytes === b.fitted.bytes,
  };
}

/** All candidates on both datasets; libraries that are not installed are left out. */
export async function benchLeadModels(o: LeadBenchOptions = {}): Promise<LeadBenchRow[]> {
  const seed = o.seed ?? 42;
  const crmDir = o.crmDir ?? path.resolve(projectRoot(), '..', 'shared', 'datasets', 'crm');
  const datasets: [string, LeadRow[]][] = [
    ['crm', leadTrainingRows(readMavenDeals(path.join(crmDir, 'sales_pipeline.csv')), null)],
    ['synthetic', syntheticLeadRows({ rows: o.syntheticRows ?? 10_000, seed })],
  ];
  const rf = tryRequire<RandomForestModule>('ml-random-forest');
  const xgb = tryRequire<XgbModule>('ml-xgboost');
  const candidates = [ownLogistic, duckdbLogistic, ...(rf && o.forest ? [randomForest(rf)] : []), ...(xgb ? [xgboost(xgb)] : [])];
  const out: LeadBenchRow[] = [];
  for (const [name, rows] of datasets) {
    const p = prepare(rows, seed);
    for (const c of candidates) out.push(await measure(name, p, c));
  }
  return out;
}

const fmt = (v: number | null, digits: number) => (v === null ? 'n/a' : v.toFixed(digits));

/** The rows as printed and as pasted into docs/ml.md. */
export function formatLeadBench(rows: LeadBenchRow[]): string {
  return table(
    rows.map((r) => ({
      dataset: `${r.dataset} (${r.trainRows}/${r.holdoutRows})`,
      model: r.model,
      AUC: fmt(r.auc, 3),
      Brier: fmt(r.brier, 4),
      'log loss': fmt(r.logLoss, 4),
      ECE: fmt(r.ece, 3),
      'train ms': Math.round(r.trainMs),
      'score 10k ms': Math.round(r.score10kMs),
      'artefact KB': (r.artefactBytes / 1024).toFixed(1),
      deterministic: r.deterministic ? 'yes' : 'NO',
    })),
  );
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

if (require.main === module) {
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  benchLeadModels({ crmDir: arg('crm'), syntheticRows: num(arg('synthetic-rows')), seed: num(arg('seed')), forest: process.argv.includes('--forest') })
    .then((rows) => {
      console.log(formatLeadBench(rows));
      for (const lib of ['ml-xgboost', 'ml-random-forest']) if (!tryRequire(lib)) console.error(`${lib} is not installed: left out (npm install --no-save ml-random-forest@2.1.0 ml-xgboost@1.1.2)`);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
