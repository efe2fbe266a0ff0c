import type pg from 'pg';
import { table } from '../cli/format';

export interface GoldHighlights {
  /** Top customers by total_revenue (ties: lower user_id first). */
  topCustomers: Record<string, unknown>[];
  /** The date with the most events (ties: the earliest), or null when gold is empty. */
  busiestDay: string | null;
  /** conversion_funnel rows of the busiest day, most sessions first. */
  funnel: Record<string, unknown>[];
}

/** A few e-commerce gold rows for the demo and `medallion gold show`. */
export async function goldHighlights(pool: pg.Pool | pg.PoolClient, options: { limit?: number } = {}): Promise<GoldHighlights> {
  const limit = options.limit ?? 5;
  const ready = await pool.query<{ ok: boolean }>(`SELECT to_regclass('gold.customer_metrics') IS NOT NULL AND to_regclass('gold.conversion_funnel') IS NOT NULL AND to_regclass('gold.daily_sales_summary') IS NOT NULL AS ok`);
  if (!ready.rows[0]?.ok) return { topCustomers: [], busiestDay: null, funnel: [] };
  const top = await pool.query(
    `SELECT user_id, customer_segment, total_purchases, total_revenue, avg_purchase_value, rfm_score, churn_risk, last_activity_date::text AS last_activity_date
     FROM gold.customer_metrics ORDER BY total_revenue DESC, user_id LIMIT $1`,
    [limit],
  );
  const day = await pool.query<{ d: string }>(`SELECT event_date::text AS d FROM gold.daily_sales_summary ORDER BY total_events DESC, event_date LIMIT 1`);
  const busiestDay = day.rows[0]?.d ?? null;
  const funnel = busiestDay
    ? (
        await pool.query(
          `SELECT category_l1, total_sessions, sessions_with_view, sessions_with_cart, sessions_with_purchase,
                  round(session_view_to_cart_rate::numeric, 2) AS session_view_to_cart_rate, round(session_cart_to_purchase_rate::numeric, 2) AS session_cart_to_purchase_rate,
                  round(cart_abandonment_rate::numeric, 2) AS cart_abandonment_rate, total_revenue
           FROM gold.conversion_funnel WHERE event_date = $1 ORDER BY total_sessions DESC, category_l1`,
          [busiestDay],
        )
      ).rows
    : [];
  return { topCustomers: top.rows, busiestDay, funnel };
}

/** The highlights as text (tables), for terminals. */
export function formatGoldHighlights(h: GoldHighlights): string {
  return [
    'Top customers by revenue (gold.customer_metrics):',
    table(h.topCustomers),
    '',
    `Conversion funnel on the busiest day${h.busiestDay ? ` (${h.busiestDay})` : ''} (gold.conversion_funnel):`,
    table(h.funnel),
  ].join('\n');
}

export interface CrmHighlights {
  /** Accounts with lead_quality 'hot' (best first); when none is hot, the best ten by lead_score. */
  leads: Record<string, unknown>[];
  hot: boolean;
  /** The newest lead-scoring model (ops.ml_models), if one was trained. */
  model?: Record<string, unknown>;
}

/** The CRM lead-scoring highlights (seed 000) for the demo and `medallion gold show`. */
export async function crmHighlights(pool: pg.Pool | pg.PoolClient, options: { limit?: number } = {}): Promise<CrmHighlights | undefined> {
  const ready = await pool.query<{ ok: boolean }>(`SELECT to_regclass('gold.customer_features') IS NOT NULL AS ok`);
  if (!ready.rows[0]?.ok) return undefined;
  const cols = `account, lead_score::numeric(5,1) AS lead_score, lead_quality, round(probability_to_convert::numeric, 3) AS probability_to_convert,
                total_revenue, num_closed_won, num_open_deals, round(win_rate::numeric, 3) AS win_rate, engagement_score::numeric(4,2) AS engagement_score,
                preferred_channel, days_since_last_interaction`;
  const limit = options.limit ?? 10;
  const hot = await pool.query(`SELECT ${cols} FROM gold.customer_features WHERE lead_quality = 'hot' ORDER BY lead_score DESC, account LIMIT $1`, [limit]);
  const leads = hot.rows.length ? hot.rows : (await pool.query(`SELECT ${cols} FROM gold.customer_features ORDER BY lead_score DESC, account LIMIT $1`, [limit])).rows;
  const model = await pool
    .query(
      `SELECT version, trained_rows, holdout_rows, round(auc::numeric, 3) AS auc, round(brier::numeric, 4) AS brier, round(ece::numeric, 4) AS ece, lake_path
       FROM ops.ml_models WHERE model = 'lead_scoring' ORDER BY scored_at DESC LIMIT 1`,
    )
    .catch(() => ({ rows: [] as Record<string, unknown>[] }));
  return { leads, hot: hot.rows.length > 0, model: model.rows[0] };
}

export function formatCrmHighlights(h: CrmHighlights): string {
  return [
    h.hot ? 'Hot leads (gold.customer_features, lead_quality = hot):' : 'No hot lead (lead_score >= 80) yet; the best leads by lead_score (gold.customer_features):',
    table(h.leads),
    '',
    h.model ? `Lead-scoring model ${h.model.version} (ops.ml_models): holdout AUC ${h.model.auc} on ${h.model.holdout_rows} deals, Brier ${h.model.brier}, ECE ${h.model.ece}; artefact ${h.model.lake_path}` : 'No lead-scoring model yet (too few closed deals).',
  ].join('\n');
}
