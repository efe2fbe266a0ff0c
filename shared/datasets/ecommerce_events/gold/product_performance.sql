-- Product-level metrics for merchandising and inventory: one row per product_id seen in silver.
-- Rates are percentages (0-100, not fractions) of event counts in the same row; NULL when the
-- denominator is 0. Money is numeric(18,2) (prices rounded to cents, exact sums).

-- @ddl
CREATE TABLE IF NOT EXISTS gold.product_performance (
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
CREATE INDEX IF NOT EXISTS product_performance_category_idx ON gold.product_performance (category_l1);
-- A hash index: a brand is any text the source sent (a btree entry is limited to about 2.7 kB).
CREATE INDEX IF NOT EXISTS product_performance_brand_idx ON gold.product_performance USING hash (brand);
CREATE INDEX IF NOT EXISTS product_performance_rank_idx ON gold.product_performance (revenue_rank_global);

-- State for the incremental refresh (not exported). unique_users reads the (user, product) pairs
-- that customer_metrics keeps (gold_state.customer_metrics__products; that model runs after this one).
-- The product's latest event (event_time, then event_id as the tie-break): its attributes win.
CREATE TABLE IF NOT EXISTS gold_state.product_performance__latest (
  product_id  bigint           NOT NULL PRIMARY KEY,
  event_time  timestamptz      NOT NULL,
  event_id    text COLLATE "C" NOT NULL,
  category_id bigint,
  category_l1 text             NOT NULL,
  brand       text             NOT NULL
);

COMMENT ON TABLE gold.product_performance IS 'One row per product_id with at least one event in silver.ecommerce_events. Refreshed incrementally with every file and rebuilt nightly; exported to gold/ecommerce_events/product_performance.parquet.';
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

-- @full
TRUNCATE gold.product_performance, gold_state.product_performance__latest;

INSERT INTO gold_state.product_performance__latest (product_id, event_time, event_id, category_id, category_l1, brand)
SELECT DISTINCT ON (product_id) product_id, event_time, event_id, category_id, category_l1, brand
FROM silver.ecommerce_events
ORDER BY product_id, event_time DESC, event_id DESC;

INSERT INTO gold.product_performance (
  product_id, category_id, category_l1, brand, avg_price, total_views, total_cart_adds, total_purchases, unique_users,
  total_revenue, view_to_cart_rate, cart_to_purchase_rate, overall_conversion_rate, revenue_rank_global, performance_tier)
SELECT
  a.product_id, l.category_id, l.category_l1, l.brand,
  gold_state.money_avg(a.revenue, a.purchases),
  a.views, a.cart_adds, a.purchases, a.users, coalesce(a.revenue, 0),
  gold_state.pct(a.cart_adds, a.views),
  gold_state.pct(a.purchases, a.cart_adds),
  gold_state.pct(a.purchases, a.views),
  NULL, NULL   -- revenue_rank_global and performance_tier: @finalize
FROM (
  SELECT
    product_id,
    count(*) FILTER (WHERE event_type = 'view') AS views,
    count(*) FILTER (WHERE event_type = 'cart') AS cart_adds,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    count(DISTINCT user_id) AS users,
    sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase') AS revenue
  FROM silver.ecommerce_events
  GROUP BY product_id
) a
JOIN gold_state.product_performance__latest l USING (product_id);

-- @incremental
CREATE TEMP TABLE product_performance__delta AS
SELECT
  product_id,
  count(*) FILTER (WHERE event_type = 'view') AS views,
  count(*) FILTER (WHERE event_type = 'cart') AS cart_adds,
  count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
FROM run_rows
GROUP BY product_id;

INSERT INTO gold_state.product_performance__latest AS l (product_id, event_time, event_id, category_id, category_l1, brand)
SELECT DISTINCT ON (product_id) product_id, event_time, event_id, category_id, category_l1, brand
FROM run_rows
ORDER BY product_id, event_time DESC, event_id DESC
ON CONFLICT (product_id) DO UPDATE SET
  event_time = excluded.event_time, event_id = excluded.event_id,
  category_id = excluded.category_id, category_l1 = excluded.category_l1, brand = excluded.brand
WHERE (excluded.event_time, excluded.event_id) > (l.event_time, l.event_id);

-- Users new to a product: the run's (user, product) pairs not yet in customer_metrics' pair state
-- (customer_metrics adds them after this model: it declares -- @after: product_performance).
CREATE TEMP TABLE product_performance__new_users AS
SELECT r.product_id, count(*) AS n
FROM (SELECT DISTINCT user_id, product_id FROM run_rows) r
WHERE NOT EXISTS (
  SELECT 1 FROM gold_state.customer_metrics__products p
  WHERE p.user_id = r.user_id AND p.product_id = r.product_id
)
GROUP BY r.product_id;

INSERT INTO gold.product_performance AS t (
  product_id, category_id, category_l1, brand, avg_price, total_views, total_cart_adds, total_purchases, unique_users,
  total_revenue, view_to_cart_rate, cart_to_purchase_rate, overall_conversion_rate, revenue_rank_global, performance_tier)
SELECT
  d.product_id, l.category_id, l.category_l1, l.brand,
  gold_state.money_avg(d.revenue, d.purchases),
  d.views, d.cart_adds, d.purchases, coalesce(u.n, 0), d.revenue,
  gold_state.pct(d.cart_adds, d.views),
  gold_state.pct(d.purchases, d.cart_adds),
  gold_state.pct(d.purchases, d.views),
  NULL, NULL
FROM product_performance__delta d
JOIN gold_state.product_performance__latest l USING (product_id)
LEFT JOIN product_performance__new_users u USING (product_id)
ON CONFLICT (product_id) DO UPDATE SET
  category_id             = excluded.category_id,
  category_l1             = excluded.category_l1,
  brand                   = excluded.brand,
  avg_price               = gold_state.money_avg(t.total_revenue + excluded.total_revenue, t.total_purchases + excluded.total_purchases),
  total_views             = t.total_views + excluded.total_views,
  total_cart_adds         = t.total_cart_adds + excluded.total_cart_adds,
  total_purchases         = t.total_purchases + excluded.total_purchases,
  unique_users            = t.unique_users + excluded.unique_users,
  total_revenue           = t.total_revenue + excluded.total_revenue,
  view_to_cart_rate       = gold_state.pct(t.total_cart_adds + excluded.total_cart_adds, t.total_views + excluded.total_views),
  cart_to_purchase_rate   = gold_state.pct(t.total_purchases + excluded.total_purchases, t.total_cart_adds + excluded.total_cart_adds),
  overall_conversion_rate = gold_state.pct(t.total_purchases + excluded.total_purchases, t.total_views + excluded.total_views);

-- @finalize
WITH ranked AS (
  SELECT product_id, total_revenue, rank() OVER (ORDER BY total_revenue DESC) AS r, count(*) OVER () AS n
  FROM gold.product_performance
), target AS (
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
)
UPDATE gold.product_performance t
SET revenue_rank_global = x.revenue_rank_global, performance_tier = x.performance_tier
FROM target x
WHERE t.product_id = x.product_id
  AND (t.revenue_rank_global IS DISTINCT FROM x.revenue_rank_global OR t.performance_tier IS DISTINCT FROM x.performance_tier);
