-- Customer-level aggregates for CRM and marketing: one row per user_id seen in silver.ecommerce_events.
-- Purchases are purchase events (REES46 has no order id: one purchase event = one order line).
-- Money is numeric(18,2): each price is rounded to cents, sums are exact and do not depend on the
-- order in which files arrive (a float sum would).
-- @after: product_performance

-- @ddl
CREATE TABLE IF NOT EXISTS gold.customer_metrics (
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
  customer_segment       text          NOT NULL CHECK (customer_segment IN ('Champion', 'Loyal', 'Potential Loyalist', 'New Customer', 'Cart Abandoner', 'Visitor')),
  rfm_score              integer       CHECK (rfm_score BETWEEN 3 AND 15),
  churn_risk             text          NOT NULL CHECK (churn_risk IN ('High', 'Medium', 'Low', 'N/A'))
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS customer_metrics_segment_idx ON gold.customer_metrics (customer_segment);
CREATE INDEX IF NOT EXISTS customer_metrics_revenue_idx ON gold.customer_metrics (total_revenue DESC, user_id);

-- State for the incremental refresh (not exported): distinct pairs, so distinct counts can be
-- maintained from a new file's rows alone, and each buyer's last purchase date (RFM recency).
CREATE TABLE IF NOT EXISTS gold_state.customer_metrics__sessions (
  user_id      bigint NOT NULL,
  user_session text COLLATE "C" NOT NULL,
  PRIMARY KEY (user_id, user_session)
);
-- Every (user, product) pair with an event, and whether the user viewed the product. Also read
-- by product_performance's incremental section (its unique_users), before this model adds a run's pairs.
CREATE TABLE IF NOT EXISTS gold_state.customer_metrics__products (
  user_id    bigint  NOT NULL,
  product_id bigint  NOT NULL,
  viewed     boolean NOT NULL,
  PRIMARY KEY (user_id, product_id)
);
CREATE TABLE IF NOT EXISTS gold_state.customer_metrics__buyers (
  user_id            bigint NOT NULL PRIMARY KEY,
  last_purchase_date date   NOT NULL
);

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

COMMENT ON TABLE gold.customer_metrics IS 'One row per user_id with at least one event in silver.ecommerce_events. Refreshed incrementally with every file (same transaction as silver) and rebuilt nightly; exported to gold/ecommerce_events/customer_metrics.parquet.';
COMMENT ON COLUMN gold.customer_metrics.user_id IS 'Customer identifier (silver user_id).';
COMMENT ON COLUMN gold.customer_metrics.total_sessions IS 'count(DISTINCT user_session) over all of the user''s events.';
COMMENT ON COLUMN gold.customer_metrics.total_events IS 'count(*) of the user''s events of every type (view, cart, remove_from_cart, purchase).';
COMMENT ON COLUMN gold.customer_metrics.total_views IS 'count(*) of events with event_type = ''view''.';
COMMENT ON COLUMN gold.customer_metrics.total_cart_adds IS 'count(*) of events with event_type = ''cart'' (remove_from_cart is not subtracted).';
COMMENT ON COLUMN gold.customer_metrics.total_purchases IS 'count(*) of events with event_type = ''purchase'' (one purchase event = one order line; the source has no order id).';
COMMENT ON COLUMN gold.customer_metrics.unique_products_viewed IS 'count(DISTINCT product_id) over the user''s view events.';
COMMENT ON COLUMN gold.customer_metrics.total_revenue IS 'Lifetime value: sum of round(price, 2) over purchase events; 0.00 when the user never purchased. numeric(18,2), exact.';
COMMENT ON COLUMN gold.customer_metrics.avg_purchase_value IS 'Average order value: round(total_revenue / total_purchases, 2) (half away from zero); NULL when total_purchases = 0.';
COMMENT ON COLUMN gold.customer_metrics.first_activity_date IS 'min(event_date) over all of the user''s events (UTC date).';
COMMENT ON COLUMN gold.customer_metrics.last_activity_date IS 'max(event_date) over all of the user''s events (UTC date).';
COMMENT ON COLUMN gold.customer_metrics.customer_segment IS 'First match of: Champion (total_purchases >= 10), Loyal (5-9), Potential Loyalist (2-4), New Customer (1), Cart Abandoner (0 purchases and total_cart_adds > 0), Visitor (no purchase and no cart add: views only, or only remove_from_cart events).';
COMMENT ON COLUMN gold.customer_metrics.rfm_score IS 'R + F + M, each 1-5, over the population of buyers (users with total_purchases > 0); NULL for non-buyers. Each score = 1 + floor(5 * (rank - 1) / n), rank = rank() ascending by the metric among the n buyers, so ties share a score and the lowest value scores 1: R by the last purchase date (most recent = best), F by total_purchases, M by total_revenue. Range 3-15.';
COMMENT ON COLUMN gold.customer_metrics.churn_risk IS 'Days since last activity = (max event_time in silver)::date - last_activity_date ("now" is the newest event, never the wall clock). Buyers: Low <= 30 days, Medium 31-90, High > 90. N/A for users who never purchased (not customers yet).';

-- @full
TRUNCATE gold.customer_metrics, gold_state.customer_metrics__sessions, gold_state.customer_metrics__products, gold_state.customer_metrics__buyers;

INSERT INTO gold.customer_metrics (
  user_id, total_sessions, total_events, total_views, total_cart_adds, total_purchases, unique_products_viewed,
  total_revenue, avg_purchase_value, first_activity_date, last_activity_date, customer_segment, rfm_score, churn_risk)
SELECT
  user_id,
  count(DISTINCT user_session),
  count(*),
  count(*) FILTER (WHERE event_type = 'view'),
  count(*) FILTER (WHERE event_type = 'cart'),
  count(*) FILTER (WHERE event_type = 'purchase'),
  count(DISTINCT product_id) FILTER (WHERE event_type = 'view'),
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0),
  gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'purchase')),
  min(event_date),
  max(event_date),
  gold_state.customer_metrics__segment(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'cart')),
  NULL,   -- rfm_score and churn_risk: @finalize
  'N/A'
FROM silver.ecommerce_events
GROUP BY user_id;

INSERT INTO gold_state.customer_metrics__sessions (user_id, user_session)
SELECT DISTINCT user_id, user_session FROM silver.ecommerce_events;
INSERT INTO gold_state.customer_metrics__products (user_id, product_id, viewed)
SELECT user_id, product_id, bool_or(event_type = 'view') FROM silver.ecommerce_events GROUP BY user_id, product_id;
INSERT INTO gold_state.customer_metrics__buyers (user_id, last_purchase_date)
SELECT user_id, max(event_date) FROM silver.ecommerce_events WHERE event_type = 'purchase' GROUP BY user_id;

-- @incremental
-- Additive deltas of the new rows (silver is append-only for this dataset: dedup mode 'first').
CREATE TEMP TABLE customer_metrics__delta AS
SELECT
  user_id,
  count(*) AS events,
  count(*) FILTER (WHERE event_type = 'view') AS views,
  count(*) FILTER (WHERE event_type = 'cart') AS cart_adds,
  count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
  min(event_date) AS first_date,
  max(event_date) AS last_date,
  max(event_date) FILTER (WHERE event_type = 'purchase') AS last_purchase_date
FROM run_rows
GROUP BY user_id;

-- Distinct counts: the pairs this run adds for the first time.
CREATE TEMP TABLE customer_metrics__new_sessions (user_id bigint PRIMARY KEY, n bigint NOT NULL);
WITH added AS (
  INSERT INTO gold_state.customer_metrics__sessions (user_id, user_session)
  SELECT DISTINCT user_id, user_session FROM run_rows
  ON CONFLICT DO NOTHING
  RETURNING user_id
)
INSERT INTO customer_metrics__new_sessions SELECT user_id, count(*) FROM added GROUP BY user_id;

-- Pairs returned = pairs inserted (viewed or not) + pairs that became viewed.
CREATE TEMP TABLE customer_metrics__new_viewed (user_id bigint PRIMARY KEY, n bigint NOT NULL);
WITH changed AS (
  INSERT INTO gold_state.customer_metrics__products AS p (user_id, product_id, viewed)
  SELECT user_id, product_id, bool_or(event_type = 'view') FROM run_rows GROUP BY user_id, product_id
  ON CONFLICT (user_id, product_id) DO UPDATE SET viewed = true
    WHERE excluded.viewed AND NOT p.viewed
  RETURNING user_id, viewed
)
INSERT INTO customer_metrics__new_viewed SELECT user_id, count(*) FROM changed WHERE viewed GROUP BY user_id;

INSERT INTO gold_state.customer_metrics__buyers AS b (user_id, last_purchase_date)
SELECT user_id, last_purchase_date FROM customer_metrics__delta WHERE last_purchase_date IS NOT NULL
ON CONFLICT (user_id) DO UPDATE SET last_purchase_date = excluded.last_purchase_date
  WHERE excluded.last_purchase_date > b.last_purchase_date;

INSERT INTO gold.customer_metrics AS t (
  user_id, total_sessions, total_events, total_views, total_cart_adds, total_purchases, unique_products_viewed,
  total_revenue, avg_purchase_value, first_activity_date, last_activity_date, customer_segment, rfm_score, churn_risk)
SELECT
  d.user_id, coalesce(s.n, 0), d.events, d.views, d.cart_adds, d.purchases, coalesce(v.n, 0),
  d.revenue, gold_state.money_avg(d.revenue, d.purchases), d.first_date, d.last_date,
  gold_state.customer_metrics__segment(d.purchases, d.cart_adds), NULL, 'N/A'
FROM customer_metrics__delta d
LEFT JOIN customer_metrics__new_sessions s USING (user_id)
LEFT JOIN customer_metrics__new_viewed v USING (user_id)
ON CONFLICT (user_id) DO UPDATE SET
  total_sessions         = t.total_sessions + excluded.total_sessions,
  total_events           = t.total_events + excluded.total_events,
  total_views            = t.total_views + excluded.total_views,
  total_cart_adds        = t.total_cart_adds + excluded.total_cart_adds,
  total_purchases        = t.total_purchases + excluded.total_purchases,
  unique_products_viewed = t.unique_products_viewed + excluded.unique_products_viewed,
  total_revenue          = t.total_revenue + excluded.total_revenue,
  avg_purchase_value     = gold_state.money_avg(t.total_revenue + excluded.total_revenue, t.total_purchases + excluded.total_purchases),
  first_activity_date    = least(t.first_activity_date, excluded.first_activity_date),
  last_activity_date     = greatest(t.last_activity_date, excluded.last_activity_date),
  customer_segment       = gold_state.customer_metrics__segment(t.total_purchases + excluded.total_purchases, t.total_cart_adds + excluded.total_cart_adds);

-- @finalize
-- Population-wide columns over the buyers, from gold and its state alone; only rows whose value
-- changes are written. Non-buyers keep rfm_score NULL and churn_risk 'N/A' from their insert.
-- rank() of a value = 1 + the number of buyers with a smaller value: counted per distinct value
-- for R and F (few distinct values), by a window for M.
WITH buyers AS MATERIALIZED (
  SELECT c.user_id, b.last_purchase_date, c.total_purchases, c.total_revenue, c.last_activity_date, c.rfm_score, c.churn_risk
  FROM gold_state.customer_metrics__buyers b
  JOIN gold.customer_metrics c USING (user_id)
), population AS (
  SELECT count(*) AS n FROM buyers
), r_rank AS (
  SELECT last_purchase_date, 1 + coalesce(sum(count(*)) OVER (ORDER BY last_purchase_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS r
  FROM buyers GROUP BY last_purchase_date
), f_rank AS (
  SELECT total_purchases, 1 + coalesce(sum(count(*)) OVER (ORDER BY total_purchases ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS r
  FROM buyers GROUP BY total_purchases
), scored AS (
  SELECT
    b.user_id,
    b.rfm_score AS old_rfm_score,
    b.churn_risk AS old_churn_risk,
    (  (1 + 5 * (rr.r - 1) / p.n)
     + (1 + 5 * (fr.r - 1) / p.n)
     + (1 + 5 * (rank() OVER (ORDER BY b.total_revenue) - 1) / p.n))::integer AS rfm_score,
    CASE
      WHEN k.now_date - b.last_activity_date <= 30 THEN 'Low'
      WHEN k.now_date - b.last_activity_date <= 90 THEN 'Medium'
      ELSE 'High'
    END AS churn_risk
  FROM buyers b
  JOIN r_rank rr USING (last_purchase_date)
  JOIN f_rank fr USING (total_purchases)
  CROSS JOIN population p
  CROSS JOIN gold_clock k
)
UPDATE gold.customer_metrics t
SET rfm_score = s.rfm_score, churn_risk = s.churn_risk
FROM scored s
WHERE t.user_id = s.user_id
  AND (s.old_rfm_score IS DISTINCT FROM s.rfm_score OR s.old_churn_risk <> s.churn_risk);
