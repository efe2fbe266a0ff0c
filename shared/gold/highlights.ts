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
                  round(session_view_to_cart_rate::numeric, 2) AS view_to_cart_pct, round(session_cart_to_purchase_rate::numeric, 2) AS cart_to_purchase_pct,
                  round(cart_abandonment_rate::numeric, 2) AS abandonment_pct, total_revenue
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
