-- Session funnel per UTC date and top-level category: view -> cart -> purchase.
-- A session counts in every (date, category_l1) where it has at least one event; events without a
-- category_code are in category_l1 'unknown' (silver's standardisation), so they form their own
-- row and are never dropped. Summing total_sessions over categories counts a session once per
-- category it touched: use daily_sales_summary.unique_sessions for the day's distinct sessions.
-- Rates are percentages (0-100) of sessions that reached the previous step, so they stay in 0-100.

-- @ddl
CREATE TABLE gold.conversion_funnel (
  event_date                    date             NOT NULL,
  category_l1                   text             NOT NULL,
  total_sessions                bigint           NOT NULL,
  sessions_with_view            bigint           NOT NULL,
  sessions_with_cart            bigint           NOT NULL,
  sessions_with_purchase        bigint           NOT NULL,
  session_view_to_cart_rate     double precision,
  session_cart_to_purchase_rate double precision,
  cart_abandonment_rate         double precision,
  total_revenue                 numeric(18,2)    NOT NULL,
  PRIMARY KEY (event_date, category_l1)
);
CREATE INDEX conversion_funnel_category_idx ON gold.conversion_funnel (category_l1, event_date);

COMMENT ON TABLE gold.conversion_funnel IS 'One row per (UTC date, category_l1) with at least one event. Sessions are user_session values; a session counts in every category it touched that day. Exported to gold/ecommerce_events/conversion_funnel.parquet.';
COMMENT ON COLUMN gold.conversion_funnel.event_date IS 'Calendar date (UTC) of the events.';
COMMENT ON COLUMN gold.conversion_funnel.category_l1 IS 'Top-level category (first segment of category_code); ''unknown'' for events whose category_code was blank: those sessions are counted in this row, not dropped.';
COMMENT ON COLUMN gold.conversion_funnel.total_sessions IS 'count(DISTINCT user_session) with at least one event (any type) in this category on this date.';
COMMENT ON COLUMN gold.conversion_funnel.sessions_with_view IS 'Sessions with at least one view event in this category on this date.';
COMMENT ON COLUMN gold.conversion_funnel.sessions_with_cart IS 'Sessions with at least one cart event in this category on this date.';
COMMENT ON COLUMN gold.conversion_funnel.sessions_with_purchase IS 'Sessions with at least one purchase event in this category on this date.';
COMMENT ON COLUMN gold.conversion_funnel.session_view_to_cart_rate IS 'Percent (0-100): 100 * (sessions with a view AND a cart event) / sessions_with_view; NULL when sessions_with_view = 0.';
COMMENT ON COLUMN gold.conversion_funnel.session_cart_to_purchase_rate IS 'Percent (0-100): 100 * (sessions with a cart AND a purchase event) / sessions_with_cart; NULL when sessions_with_cart = 0.';
COMMENT ON COLUMN gold.conversion_funnel.cart_abandonment_rate IS 'Percent (0-100): 100 * (sessions with a cart event and NO purchase event) / sessions_with_cart = 100 - session_cart_to_purchase_rate; NULL when sessions_with_cart = 0.';
COMMENT ON COLUMN gold.conversion_funnel.total_revenue IS 'sum of round(price, 2) over purchase events in this category on this date; 0.00 when none.';

-- @select
-- Straight from silver: each count of sessions is a count(DISTINCT user_session), and a count of
-- sessions with BOTH of two steps is |A ∩ B| = |A| + |B| − |A ∪ B|, where |A ∪ B| counts the
-- sessions with an event of either type. (Written this way, a file costs the distinct sets' work
-- only: no per-session state rows in PostgreSQL. docs/decisions.md has the measurements.)
SELECT
  event_date,
  category_l1,
  count(DISTINCT user_session) AS total_sessions,
  count(DISTINCT user_session) FILTER (WHERE event_type = 'view') AS sessions_with_view,
  count(DISTINCT user_session) FILTER (WHERE event_type = 'cart') AS sessions_with_cart,
  count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS sessions_with_purchase,
  gold_state.pct(
    count(DISTINCT user_session) FILTER (WHERE event_type = 'view')
      + count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')
      - count(DISTINCT user_session) FILTER (WHERE event_type IN ('view', 'cart')),
    count(DISTINCT user_session) FILTER (WHERE event_type = 'view')) AS session_view_to_cart_rate,
  gold_state.pct(
    count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')
      + count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase')
      - count(DISTINCT user_session) FILTER (WHERE event_type IN ('cart', 'purchase')),
    count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')) AS session_cart_to_purchase_rate,
  gold_state.pct(
    count(DISTINCT user_session) FILTER (WHERE event_type IN ('cart', 'purchase'))
      - count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase'),
    count(DISTINCT user_session) FILTER (WHERE event_type = 'cart')) AS cart_abandonment_rate,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS total_revenue
FROM silver.ecommerce_events
GROUP BY event_date, category_l1
