-- @internal
-- One row per (UTC date, top-level category, session) with an event: which funnel steps the
-- session reached in that category that day and its purchase revenue there. The building block of
-- conversion_funnel (not exported).

-- @ddl
CREATE TABLE gold_state.funnel_sessions (
  event_date   date             NOT NULL,
  category_l1  text             NOT NULL,
  user_session text             NOT NULL,
  viewed       boolean          NOT NULL,
  carted       boolean          NOT NULL,
  purchased    boolean          NOT NULL,
  revenue      numeric(18,2)    NOT NULL,
  PRIMARY KEY (event_date, category_l1, user_session)
);
COMMENT ON TABLE gold_state.funnel_sessions IS 'One row per (event_date, category_l1, user_session) with at least one event in silver.ecommerce_events.';
COMMENT ON COLUMN gold_state.funnel_sessions.event_date IS 'Calendar date (UTC) of the events.';
COMMENT ON COLUMN gold_state.funnel_sessions.category_l1 IS 'Top-level category (''unknown'' when blank).';
COMMENT ON COLUMN gold_state.funnel_sessions.user_session IS 'Session identifier.';
COMMENT ON COLUMN gold_state.funnel_sessions.viewed IS 'bool_or(event_type = ''view''): the session viewed a product of this category that day.';
COMMENT ON COLUMN gold_state.funnel_sessions.carted IS 'bool_or(event_type = ''cart'').';
COMMENT ON COLUMN gold_state.funnel_sessions.purchased IS 'bool_or(event_type = ''purchase'').';
COMMENT ON COLUMN gold_state.funnel_sessions.revenue IS 'sum of round(price, 2) over the purchase events; 0.00 when none.';

-- @select
SELECT
  event_date,
  category_l1,
  user_session,
  bool_or(event_type = 'view') AS viewed,
  bool_or(event_type = 'cart') AS carted,
  bool_or(event_type = 'purchase') AS purchased,
  coalesce(sum(round(price::numeric, 2)) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
FROM silver.ecommerce_events
GROUP BY event_date, category_l1, user_session
