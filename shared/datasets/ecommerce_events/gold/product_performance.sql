-- Product-level metrics for merchandising and inventory: one row per product_id seen in silver.
-- Rates are percentages (0-100, not fractions) of event counts in the same row; NULL when the
-- denominator is 0. Money is numeric(18,2) (prices rounded to cents, exact sums).

-- @ddl
CREATE TABLE gold.product_performance (
  product_id              bigint           NOT NULL PRIMARY KEY,
  category_id             bigint,
  category_l1             text             NOT NULL,
  brand                   text             NOT NULL,
  avg_price               numeric(18,2),
  total_views             bigint           NOT NULL,
  total_cart_adds         bigint           NOT NULL,
  total_purchases         bigint           NOT NULL,
  unique_users            bigint           NOT NULL,
  total_revenue           numeric(18,2)    NOT NULL,
  view_to_cart_rate       double precision,
  cart_to_purchase_rate   double precision,
  overall_conversion_rate double precision,
  revenue_rank_global     integer,
  performance_tier        text             CHECK (performance_tier IN ('Top 10%', 'Top 25%', 'Top 50%', 'Bottom 50%'))
) WITH (fillfactor = 80);
CREATE INDEX product_performance_category_idx ON gold.product_performance (category_l1);
-- A hash index: a brand is any text the source sent (a btree entry is limited to about 2.7 kB).
CREATE INDEX product_performance_brand_idx ON gold.product_performance USING hash (brand);
CREATE INDEX product_performance_rank_idx ON gold.product_performance (revenue_rank_global);

COMMENT ON TABLE gold.product_performance IS 'One row per product_id with at least one event in silver.ecommerce_events. Maintained with every file from its SELECT and rebuilt nightly; exported to gold/ecommerce_events/product_performance.parquet.';
COMMENT ON COLUMN gold.product_performance.product_id IS 'Product identifier (silver product_id).';
COMMENT ON COLUMN gold.product_performance.category_id IS 'category_id on the product''s latest event (greatest event_time, ties broken by the greatest event_id); 19-digit ids kept exact as bigint; NULL when that event had no parseable category_id.';
COMMENT ON COLUMN gold.product_performance.category_l1 IS 'category_l1 on the same latest event (''unknown'' when its category_code was blank).';
COMMENT ON COLUMN gold.product_performance.brand IS 'brand on the same latest event (lower-case; ''unknown'' when blank).';
COMMENT ON COLUMN gold.product_performance.avg_price IS 'Average selling price: round(total_revenue / total_purchases, 2), i.e. the mean price of its purchase events; NULL when never purchased (view prices are not selling prices).';
COMMENT ON COLUMN gold.product_performance.total_views IS 'count(*) of the product''s view events.';
COMMENT ON COLUMN gold.product_performance.total_cart_adds IS 'count(*) of the product''s cart events.';
COMMENT ON COLUMN gold.product_performance.total_purchases IS 'count(*) of the product''s purchase events.';
COMMENT ON COLUMN gold.product_performance.unique_users IS 'count(DISTINCT user_id) over the product''s events of any type.';
COMMENT ON COLUMN gold.product_performance.total_revenue IS 'sum of round(price, 2) over the product''s purchase events; 0.00 when never purchased.';
COMMENT ON COLUMN gold.product_performance.view_to_cart_rate IS 'Percent (0-100 scale): 100 * total_cart_adds / total_views; NULL when total_views = 0. Event counts, so it can exceed 100 when carts were recorded without views.';
COMMENT ON COLUMN gold.product_performance.cart_to_purchase_rate IS 'Percent: 100 * total_purchases / total_cart_adds; NULL when total_cart_adds = 0 (can exceed 100: purchases without a recorded cart event are common in this source).';
COMMENT ON COLUMN gold.product_performance.overall_conversion_rate IS 'Percent: 100 * total_purchases / total_views; NULL when total_views = 0.';
COMMENT ON COLUMN gold.product_performance.revenue_rank_global IS 'rank() over all products by total_revenue descending: 1 = highest revenue; ties share a rank and the next rank is skipped (1, 2, 2, 4); products without revenue share the last rank.';
COMMENT ON COLUMN gold.product_performance.performance_tier IS 'By revenue percentile, with n = number of products and share = (revenue_rank_global - 1) / n = share of products with strictly more revenue: Top 10% (share < 0.10), Top 25% (0.10-0.25), Top 50% (0.25-0.50), else Bottom 50%. Products with total_revenue = 0 are always Bottom 50%.';

-- @select
-- The attributes come from the product's latest event: the greatest (event_time, event_id). One
-- max() over ARRAY[time key, event id, category_id, category_l1, brand] finds it; the outputs read
-- its elements 3, 4 and 5.
SELECT
  product_id,
  ((max(ARRAY[gold_state.ts_key(event_time), event_id, category_id::text, category_l1, brand]))[3])::bigint AS category_id,
  (max(ARRAY[gold_state.ts_key(event_time), event_id, category_id::text, category_l1, brand]))[4] AS category_l1,
  (max(ARRAY[gold_state.ts_key(event_time), event_id, category_id::text, category_l1, brand]))[5] AS brand,
  gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'purchase')) AS avg_price,
  count(*) FILTER (WHERE event_type = 'view') AS total_views,
  count(*) FILTER (WHERE event_type = 'cart') AS total_cart_adds,
  count(*) FILTER (WHERE event_type = 'purchase') AS total_purchases,
  count(DISTINCT user_id) AS unique_users,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS total_revenue,
  gold_state.pct(count(*) FILTER (WHERE event_type = 'cart'), count(*) FILTER (WHERE event_type = 'view')) AS view_to_cart_rate,
  gold_state.pct(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'cart')) AS cart_to_purchase_rate,
  gold_state.pct(count(*) FILTER (WHERE event_type = 'purchase'), count(*) FILTER (WHERE event_type = 'view')) AS overall_conversion_rate
FROM silver.ecommerce_events
GROUP BY product_id

-- @population
WITH ranked AS (
  SELECT product_id, total_revenue, rank() OVER (ORDER BY total_revenue DESC) AS r, count(*) OVER () AS n
  FROM gold.product_performance
)
SELECT
  product_id,
  r::integer AS revenue_rank_global,
  CASE
    WHEN total_revenue = 0 THEN 'Bottom 50%'
    WHEN 10 * (r - 1) < n THEN 'Top 10%'
    WHEN 4 * (r - 1) < n THEN 'Top 25%'
    WHEN 2 * (r - 1) < n THEN 'Top 50%'
    ELSE 'Bottom 50%'
  END AS performance_tier
FROM ranked
