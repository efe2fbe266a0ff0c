-- Daily aggregates for time-series analysis and reporting: one row per UTC calendar date with at
-- least one event in silver. A file's dates are recomputed from silver (a range scan on silver's
-- primary key, which leads with event_time), so the cost is the size of those days, not history.

-- @ddl
CREATE TABLE IF NOT EXISTS gold.daily_sales_summary (
  event_date              date             NOT NULL PRIMARY KEY,
  day_name                text             NOT NULL,
  total_events            bigint           NOT NULL,
  total_views             bigint           NOT NULL,
  total_purchases         bigint           NOT NULL,
  unique_users            bigint           NOT NULL,
  unique_sessions         bigint           NOT NULL,
  total_revenue           numeric(18,2)    NOT NULL,
  avg_order_value         numeric(18,2),
  overall_conversion_rate double precision,
  revenue_7d_avg          numeric(18,2),
  revenue_dod_change      double precision
);

COMMENT ON TABLE gold.daily_sales_summary IS 'One row per UTC calendar date with at least one event in silver.ecommerce_events (days without events have no row). Exported to gold/ecommerce_events/daily_sales_summary.parquet.';
COMMENT ON COLUMN gold.daily_sales_summary.event_date IS 'Calendar date (UTC) of the events (silver event_date).';
COMMENT ON COLUMN gold.daily_sales_summary.day_name IS 'English day name of event_date: Monday ... Sunday.';
COMMENT ON COLUMN gold.daily_sales_summary.total_events IS 'count(*) of the day''s events of every type.';
COMMENT ON COLUMN gold.daily_sales_summary.total_views IS 'count(*) of the day''s view events.';
COMMENT ON COLUMN gold.daily_sales_summary.total_purchases IS 'count(*) of the day''s purchase events.';
COMMENT ON COLUMN gold.daily_sales_summary.unique_users IS 'count(DISTINCT user_id) over the day''s events (daily active users).';
COMMENT ON COLUMN gold.daily_sales_summary.unique_sessions IS 'count(DISTINCT user_session) over the day''s events (a session spanning midnight counts on both days).';
COMMENT ON COLUMN gold.daily_sales_summary.total_revenue IS 'sum of round(price, 2) over the day''s purchase events; 0.00 when none.';
COMMENT ON COLUMN gold.daily_sales_summary.avg_order_value IS 'round(total_revenue / total_purchases, 2) (one purchase event = one order line); NULL when total_purchases = 0.';
COMMENT ON COLUMN gold.daily_sales_summary.overall_conversion_rate IS 'Percent (0-100 scale): 100 * total_purchases / total_views (events, same definition as product_performance); NULL when total_views = 0.';
COMMENT ON COLUMN gold.daily_sales_summary.revenue_7d_avg IS 'Trailing 7 calendar days ending on event_date (event_date - 6 ... event_date): sum of total_revenue over those days (days without events count as 0) / number of those days on or after the first date in the table (so 7, except in the first 6 days of history); rounded to cents.';
COMMENT ON COLUMN gold.daily_sales_summary.revenue_dod_change IS 'Day-over-day change in percent: 100 * (total_revenue - previous calendar day''s total_revenue) / previous day''s total_revenue; NULL when the previous calendar day has no events or zero revenue.';

-- @full
TRUNCATE gold.daily_sales_summary;
INSERT INTO gold.daily_sales_summary (
  event_date, day_name, total_events, total_views, total_purchases, unique_users, unique_sessions,
  total_revenue, avg_order_value, overall_conversion_rate, revenue_7d_avg, revenue_dod_change)
SELECT
  event_date,
  to_char(event_date, 'FMDay'),
  count(*),
  count(*) FILTER (WHERE event_type = 'view'),
  count(*) FILTER (WHERE event_type = 'purchase'),
  count(DISTINCT user_id),
  count(DISTINCT user_session),
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0),
  gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'purchase')),
  gold_state.pct(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'view')),
  NULL, NULL   -- revenue_7d_avg and revenue_dod_change: @finalize
FROM silver.ecommerce_events
GROUP BY event_date;

-- @incremental
CREATE TEMP TABLE daily_sales_summary__dates AS SELECT DISTINCT event_date FROM run_rows;
ANALYZE daily_sales_summary__dates;

-- Whole days from silver: each affected date is a range scan [date, date + 1) on event_time.
INSERT INTO gold.daily_sales_summary AS t (
  event_date, day_name, total_events, total_views, total_purchases, unique_users, unique_sessions,
  total_revenue, avg_order_value, overall_conversion_rate, revenue_7d_avg, revenue_dod_change)
SELECT
  s.event_date,
  to_char(s.event_date, 'FMDay'),
  count(*),
  count(*) FILTER (WHERE s.event_type = 'view'),
  count(*) FILTER (WHERE s.event_type = 'purchase'),
  count(DISTINCT s.user_id),
  count(DISTINCT s.user_session),
  coalesce(sum(round(s.price::numeric, 2)) FILTER (WHERE s.event_type = 'purchase'), 0),
  gold_state.money_avg(sum(round(s.price::numeric, 2)) FILTER (WHERE s.event_type = 'purchase'), count(*) FILTER (WHERE s.event_type = 'purchase')),
  gold_state.pct(count(*) FILTER (WHERE s.event_type = 'purchase'), count(*) FILTER (WHERE s.event_type = 'view')),
  NULL, NULL
FROM daily_sales_summary__dates a
CROSS JOIN LATERAL (
  SELECT * FROM silver.ecommerce_events x
  WHERE x.event_time >= (a.event_date::timestamp AT TIME ZONE 'UTC')
    AND x.event_time < ((a.event_date + 1)::timestamp AT TIME ZONE 'UTC')
) s
GROUP BY s.event_date
ON CONFLICT (event_date) DO UPDATE SET
  total_events            = excluded.total_events,
  total_views             = excluded.total_views,
  total_purchases         = excluded.total_purchases,
  unique_users            = excluded.unique_users,
  unique_sessions         = excluded.unique_sessions,
  total_revenue           = excluded.total_revenue,
  avg_order_value         = excluded.avg_order_value,
  overall_conversion_rate = excluded.overall_conversion_rate;

-- @finalize
-- The windows read the gold table only (one row per day: small); changed rows are written.
WITH first_day AS (
  SELECT min(event_date) AS first_date FROM gold.daily_sales_summary
), w AS (
  SELECT
    d.event_date,
    round(
      sum(d.total_revenue) OVER (ORDER BY d.event_date RANGE BETWEEN interval '6 days' PRECEDING AND CURRENT ROW)
      / least(7, d.event_date - f.first_date + 1), 2) AS revenue_7d_avg,
    CASE WHEN p.total_revenue > 0
      THEN (100 * (d.total_revenue - p.total_revenue) / p.total_revenue)::double precision
    END AS revenue_dod_change
  FROM gold.daily_sales_summary d
  CROSS JOIN first_day f
  LEFT JOIN gold.daily_sales_summary p ON p.event_date = d.event_date - 1
)
UPDATE gold.daily_sales_summary t
SET revenue_7d_avg = w.revenue_7d_avg, revenue_dod_change = w.revenue_dod_change
FROM w
WHERE t.event_date = w.event_date
  AND (t.revenue_7d_avg IS DISTINCT FROM w.revenue_7d_avg OR t.revenue_dod_change IS DISTINCT FROM w.revenue_dod_change);
