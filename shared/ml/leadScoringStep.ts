import type pg from 'pg';
import type { GoldStep, StepFile } from '../gold/steps';
import { modelPath, serializeModel } from './artefact';
import { type DealRecord, dealLeadFeatures, indexHistory, type InteractionRecord, LEAD_HORIZON_DAYS, leadTrainingSet, openDeals } from './leadFeatures';
import { score, train } from './leadModel';

/** Fixed, recorded in the artefact: the same data always gives the same model (and version). */
export const LEAD_MODEL_SEED = 20_161_020;
/** Share of the latest closed deals (by close date) held out to measure the model. */
export const LEAD_HOLDOUT_FRACTION = 0.2;
/** Fewer closed deals of either outcome than this: no model (probability_to_convert stays NULL). */
export const LEAD_MIN_PER_CLASS = 30;

const day = (text: string | null): Date | null => (text ? new Date(`${text.slice(0, 10)}T00:00:00Z`) : null);

async function exists(db: pg.PoolClient, table: string): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [table]);
  return r.rows[0]?.ok === true;
}

/** silver.crm_deals and silver.crm_interactions, as the feature code reads them. */
async function readHistory(db: pg.PoolClient): Promise<{ deals: DealRecord[]; interactions: InteractionRecord[] | null }> {
  const deals = await db.query<{ id: string; account: string | null; agent: string | null; stage: string; engage: string | null; close: string | null; value: string | null }>(
    `SELECT opportunity_id AS id, account, sales_agent AS agent, deal_stage AS stage, engage_date::text AS engage, close_date::text AS close, close_value::text AS value
     FROM silver.crm_deals ORDER BY opportunity_id`,
  );
  const interactions = (await exists(db, 'silver.crm_interactions'))
    ? (
        await db.query<{ account: string; agent: string | null; ms: number; channel: string; outcome: string | null; response: number | null }>(
          `SELECT account, sales_agent AS agent, (extract(epoch FROM interaction_time) * 1000)::float8 AS ms, channel, outcome, response_time_hours::float8 AS response
           FROM silver.crm_interactions WHERE account IS NOT NULL`,
        )
      ).rows.map((r) => ({ account: r.account, salesAgent: r.agent, at: new Date(r.ms), channel: r.channel, outcome: r.outcome, responseHours: r.response }))
    : null;
  return {
    deals: deals.rows.map((r) => ({ id: r.id, account: r.account, salesAgent: r.agent, stage: r.stage, engageDate: day(r.engage), closeDate: day(r.close), closeValue: r.value === null ? null : Number(r.value) })),
    interactions,
  };
}

/** "Now" for scoring: the newest date in the data (never the clock, so a replay scores the same). */
function newest(deals: DealRecord[], interactions: InteractionRecord[] | null): Date | null {
  let t = -Infinity;
  for (const d of deals) for (const x of [d.engageDate, d.closeDate]) if (x && x.getTime() > t) t = x.getTime();
  for (const i of interactions ?? []) if (i.at.getTime() > t) t = i.at.getTime();
  return Number.isFinite(t) ? new Date(t) : null;
}

/**
 * probability_to_convert of gold.customer_features (seed 000): a logistic regression trained on
 * the closed deals (won = 1, lost = 0) still open LEAD_HORIZON_DAYS after their engage date, each
 * described as of that horizon: its account's history before the engage date plus the interactions
 * attributable to the deal (same account and sales agent) in [engage, engage + H) (point in time:
 * no leakage), the latest 20% by close date held out. An account's probability is the mean over its
 * open deals (Engaging/Prospecting), each scored as of min(now, engage + H), "now" the newest date
 * in the data; an account without open deals gets NULL. The model is recorded in ops.ml_models
 * (metrics included) and written to the lake as gold/models/lead_scoring/<version>/model.json.
 * See docs/ml.md for the choice of model and its measured AUC and calibration.
 */
export const leadScoringStep: GoldStep = {
  name: 'lead_scoring',
  after: 'customer_features',
  async run(db) {
    if (!(await exists(db, 'silver.crm_deals')) || !(await exists(db, 'gold.customer_features'))) return { files: [], summary: { skipped: 'no deals yet' } };
    const { deals, interactions } = await readHistory(db);
    const index = indexHistory(deals, interactions);
    const { rows, closedBeforeHorizon } = leadTrainingSet(deals, interactions, index);
    const won = rows.filter((r) => r.label === 1).length;
    const now = newest(deals, interactions);
    if (won < LEAD_MIN_PER_CLASS || rows.length - won < LEAD_MIN_PER_CLASS || !now) {
      await db.query(`UPDATE gold.customer_features SET probability_to_convert = NULL WHERE probability_to_convert IS NOT NULL`);
      return {
        files: [],
        summary: { skipped: `${won} won and ${rows.length - won} lost closed deals still open ${LEAD_HORIZON_DAYS} days after engage: at least ${LEAD_MIN_PER_CLASS} of each are needed` },
      };
    }
    const model = train(rows, { seed: LEAD_MODEL_SEED, holdoutFraction: LEAD_HOLDOUT_FRACTION });
    // Per account: the mean probability of its open deals, each as of min(now, engage + H).
    const sums = new Map<string, { sum: number; n: number }>();
    for (const d of openDeals(deals)) {
      const s = sums.get(d.account!) ?? sums.set(d.account!, { sum: 0, n: 0 }).get(d.account!)!;
      s.sum += score(model, dealLeadFeatures(index, d, now));
      s.n++;
    }
    const accounts = (await db.query<{ account: string }>(`SELECT account FROM gold.customer_features ORDER BY account`)).rows.map((r) => r.account);
    const probs = accounts.map((a) => {
      const s = sums.get(a);
      return s ? s.sum / s.n : null;
    });
    await db.query(
      `UPDATE gold.customer_features c SET probability_to_convert = s.p
       FROM unnest($1::text[], $2::float8[]) AS s(account, p)
       WHERE c.account = s.account AND c.probability_to_convert IS DISTINCT FROM s.p`,
      [accounts, probs],
    );
    const m = model.holdout.metrics;
    await db.query(
      `INSERT INTO ops.ml_models (model, version, trained_rows, positives, holdout_rows, auc, brier, log_loss, ece, calibration, holdout_cutoff, lake_path)
       VALUES ('lead_scoring', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (model, version) DO UPDATE SET scored_at = now()`,
      [model.version, model.training.rows, model.training.positives, m.rows, m.auc, m.brier, m.logLoss, m.ece, JSON.stringify(m.calibration), model.holdout.cutoff, `gold/${modelPath(model.version)}`],
    );
    const file: StepFile = { zone: 'gold', path: modelPath(model.version), content: serializeModel(model), contentType: 'application/json' };
    return {
      files: [file],
      summary: {
        version: model.version,
        auc: m.auc,
        accounts: accounts.length,
        scoredAccounts: probs.filter((p) => p !== null).length,
        horizonDays: LEAD_HORIZON_DAYS,
        closedBeforeHorizon,
      },
    };
  },
};
