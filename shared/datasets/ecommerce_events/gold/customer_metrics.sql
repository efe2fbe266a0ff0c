-- Customer-level aggregates for CRM and marketing: one row per user_id seen in silver.ecommerce_events.
-- Purchases are purchase events (REES46 has no order id: one purchase event = one order line).
-- Money is numeric(18,2): each price is rounded to cents, sums are exact and do not depend on the
-- order in which files arrive (a float sum would).

-- @ddl
CREATE TABLE gold.customer_metrics (
  user_id                bigint        NOT NULL PRIMARY KEY,
  total_sessions         bigint        NOT NULL,
  total_events           bigint        NOT NULL,
  total_views            bigint        NOT NULL,
  total_cart_adds        bigint        NOT NULL,
  total_purchases        bigint        NOT NULL,
  unique_products_viewed bigint        NOT NULL,
  total_revenue          numeric(18,2) NOT NULL,
  avg_purchase_value     numeric(18,2),
  first_activity_date    date          NOT NULL,
  last_activity_date     date          NOT NULL,
  last_purchase_date     date,
  customer_segment       text          NOT NULL CHECK (customer_segment IN ('Champion', 'Loyal', 'Potential Loyalist', 'New Customer', 'Cart Abandoner', 'Visitor')),
  rfm_score              integer       CHECK (rfm_score BETWEEN 3 AND 15),
  churn_risk             text          CHECK (churn_risk IN ('High', 'Medium', 'Low', 'N/A'))
) WITH (fillfactor = 80);
CREATE INDEX customer_metrics_segment_idx ON gold.customer_metrics (customer_segment);
CREATE INDEX customer_metrics_revenue_idx ON gold.customer_metrics (total_revenue DESC, user_id);

-- The seed's segments, in priority order.
CREATE OR REPLACE FUNCTION gold_state.customer_metrics__segment(purchases bigint, cart_adds bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN purchases >= 10 THEN 'Champion'
    WHEN purchases >= 5 THEN 'Loyal'
    WHEN purchases >= 2 THEN 'Potential Loyalist'
    WHEN purchases = 1 THEN 'New Customer'
    WHEN cart_adds > 0 THEN 'Cart Abandoner'
    ELSE 'Visitor'
  END
$$;

COMMENT ON TABLE gold.customer_metrics IS 'One row per user_id with at least one event in silver.ecommerce_events. Maintained with every file (same transaction as silver) from its SELECT and rebuilt nightly; exported to gold/ecommerce_events/customer_metrics.parquet.';
COMMENT ON COLUMN gold.customer_metrics.user_id IS 'Customer identifier (silver user_id).';
COMMENT ON COLUMN gold.customer_metrics.total_sessions IS 'count(DISTINCT user_session) over all of the user''s events.';
COMMENT ON COLUMN gold.customer_metrics.total_events IS 'count(*) of the user''s events of every type (view, cart, remove_from_cart, purchase).';
COMMENT ON COLUMN gold.customer_metrics.total_views IS 'count(*) of events with event_type = ''view''.';
COMMENT ON COLUMN gold.customer_metrics.total_cart_adds IS 'count(*) of events with event_type = ''cart'' (remove_from_cart is not subtracted).';
COMMENT ON COLUMN gold.customer_metrics.total_purchases IS 'count(*) of events with event_type = ''purchase'' (one purchase event = one order line; the source has no order id).';
COMMENT ON COLUMN gold.customer_metrics.unique_products_viewed IS 'count(DISTINCT product_id) over the user''s view events.';
COMMENT ON COLUMN gold.customer_metrics.total_revenue IS 'Lifetime value: sum of round(price, 2) over purchase events; 0.00 when the user never purchased. numeric(18,2), exact.';
COMMENT ON COLUMN gold.customer_metrics.avg_purchase_value IS 'Average order value: round(total_revenue / total_purchases, 2) (half away from zero); NULL when total_purchases = 0.';
COMMENT ON COLUMN gold.customer_metrics.last_purchase_date IS 'max(event_date) over the user''s purchase events (UTC date); NULL when the user never purchased. The R of rfm_score.';
COMMENT ON COLUMN gold.customer_metrics.first_activity_date IS 'min(event_date) over all of the user''s events (UTC date).';
COMMENT ON COLUMN gold.customer_metrics.last_activity_date IS 'max(event_date) over all of the user''s events (UTC date).';
COMMENT ON COLUMN gold.customer_metrics.customer_segment IS 'First match of: Champion (total_purchases >= 10), Loyal (5-9), Potential Loyalist (2-4), New Customer (1), Cart Abandoner (0 purchases and total_cart_adds > 0), Visitor (no purchase and no cart add: views only, or only remove_from_cart events).';
COMMENT ON COLUMN gold.customer_metrics.rfm_score IS 'R + F + M, each 1-5, over the population of buyers (users with total_purchases > 0); NULL for non-buyers. Each score = 1 + floor(5 * (rank - 1) / n), rank = rank() ascending by the metric among the n buyers, so ties share a score and the lowest value scores 1: R by the last purchase date (most recent = best), F by total_purchases, M by total_revenue. Range 3-15.';
COMMENT ON COLUMN gold.customer_metrics.churn_risk IS 'Days since last activity = (max event_time in silver)::date - last_activity_date ("now" is the newest event, never the wall clock). Buyers: Low <= 30 days, Medium 31-90, High > 90. N/A for users who never purchased (not customers yet).';

-- @select
SELECT
  user_id,
  count(DISTINCT user_session) AS total_sessions,
  count(*) AS total_events,
  count(*) FILTER (WHERE event_type = 'view') AS total_views,
  count(*) FILTER (WHERE event_type = 'cart') AS total_cart_adds,
  count(*) FILTER (WHERE event_type = 'purchase') AS total_purchases,
  count(DISTINCT product_id) FILTER (WHERE event_type = 'view') AS unique_products_viewed,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS total_revenue,
  gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'purchase')) AS avg_purchase_value,
  min(event_date) AS first_activity_date,
  max(event_date) AS last_activity_date,
  max(event_date) FILTER (WHERE event_type = 'purchase') AS last_purchase_date,
  gold_state.customer_metrics__segment(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'cart')) AS customer_segment
FROM silver.ecommerce_events
GROUP BY user_id

-- @population
-- RFM over the buyers; "now" = the newest activity in the table (= the newest event's date).
-- rank() of a value = 1 + the number of buyers with a smaller value, so ties share a score.
WITH buyers AS (
  SELECT user_id, last_purchase_date, total_purchases, total_revenue, last_activity_date
  FROM gold.customer_metrics WHERE total_purchases > 0
), population AS (
  SELECT count(*) AS n FROM buyers
), clock AS (
  SELECT max(last_activity_date) AS now_date FROM gold.customer_metrics
)
SELECT
  b.user_id,
  (  (1 + 5 * (rank() OVER (ORDER BY b.last_purchase_date) - 1) / p.n)
   + (1 + 5 * (rank() OVER (ORDER BY b.total_purchases) - 1) / p.n)
   + (1 + 5 * (rank() OVER (ORDER BY b.total_revenue) - 1) / p.n))::integer AS rfm_score,
  CASE
    WHEN k.now_date - b.last_activity_date <= 30 THEN 'Low'
    WHEN k.now_date - b.last_activity_date <= 90 THEN 'Medium'
    ELSE 'High'
  END AS churn_risk
FROM buyers b CROSS JOIN population p CROSS JOIN clock k
UNION ALL
SELECT user_id, NULL, 'N/A' FROM gold.customer_metrics WHERE total_purchases = 0
