-- Daily aggregates for time-series analysis and reporting: one row per UTC calendar date with at
-- least one event in silver.

-- @ddl
CREATE TABLE gold.daily_sales_summary (
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

-- @select
SELECT
  event_date,
  to_char(event_date, 'FMDay') AS day_name,
  count(*) AS total_events,
  count(*) FILTER (WHERE event_type = 'view') AS total_views,
  count(*) FILTER (WHERE event_type = 'purchase') AS total_purchases,
  count(DISTINCT user_id) AS unique_users,
  count(DISTINCT user_session) AS unique_sessions,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS total_revenue,
  gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'purchase')) AS avg_order_value,
  gold_state.pct(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'view')) AS overall_conversion_rate
FROM silver.ecommerce_events
GROUP BY event_date

-- @population
-- The windows read the gold table only (one row per day: small).
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
SELECT event_date, revenue_7d_avg, revenue_dod_change FROM w
