-- Seed 000's channel_performance: how each contact channel (call, email, whatsapp, meeting) performs:
-- interactions, accounts reached, outcomes, conversion, deal value and response time. One row per
-- channel with at least one interaction in silver.crm_interactions. The export does not link an
-- interaction to a deal, so the model ATTRIBUTES it: an interaction belongs to a closed (Won or
-- Lost) deal of the same account handled by the same sales agent whose engage_date .. close_date
-- window contains the interaction's date (inclusive). Attributing by account alone says nothing:
-- every account wins something late in the year, so 99.4-99.6 % of every channel's interactions
-- would "convert". It joins deals and interactions, so it is recomputed.

-- @ddl
CREATE TABLE gold.channel_performance (
  channel                 text             NOT NULL PRIMARY KEY,
  total_interactions      bigint           NOT NULL,
  accounts_reached        bigint           NOT NULL,
  positive_interactions   bigint           NOT NULL,
  negative_interactions   bigint           NOT NULL,
  positive_share_pct      double precision NOT NULL CHECK (positive_share_pct BETWEEN 0 AND 100),
  negative_share_pct      double precision NOT NULL CHECK (negative_share_pct BETWEEN 0 AND 100),
  converted_interactions  bigint           NOT NULL,
  conversion_rate_pct     double precision NOT NULL CHECK (conversion_rate_pct BETWEEN 0 AND 100),
  won_deals               bigint           NOT NULL,
  avg_deal_value          numeric(18,2),
  responses               bigint           NOT NULL,
  response_rate_pct       double precision NOT NULL CHECK (response_rate_pct BETWEEN 0 AND 100),
  avg_response_time_hours numeric(10,2),
  avg_duration_minutes    numeric(10,2)    NOT NULL
);

COMMENT ON TABLE gold.channel_performance IS 'One row per channel (call, email, whatsapp, meeting) with at least one interaction in silver.crm_interactions. Conversion and deal value attribute an interaction to the closed deals of the same account and sales agent whose engage_date .. close_date window contains its date. Exported to gold/crm_deals/channel_performance.parquet.';
COMMENT ON COLUMN gold.channel_performance.channel IS 'Contact channel: call, email, whatsapp or meeting (silver.crm_interactions.channel).';
COMMENT ON COLUMN gold.channel_performance.total_interactions IS 'count(*) of interactions on the channel (every account, known to the account master or not).';
COMMENT ON COLUMN gold.channel_performance.accounts_reached IS 'count(DISTINCT account) over the channel''s interactions.';
COMMENT ON COLUMN gold.channel_performance.positive_interactions IS 'count(*) of the channel''s interactions with outcome = ''positive''.';
COMMENT ON COLUMN gold.channel_performance.negative_interactions IS 'count(*) of the channel''s interactions with outcome = ''negative''.';
COMMENT ON COLUMN gold.channel_performance.positive_share_pct IS 'PERCENT 0-100: 100 * positive_interactions / total_interactions.';
COMMENT ON COLUMN gold.channel_performance.negative_share_pct IS 'PERCENT 0-100: 100 * negative_interactions / total_interactions.';
COMMENT ON COLUMN gold.channel_performance.converted_interactions IS 'count(*) of the channel''s interactions attributed to at least one Won deal: a deal in silver.crm_deals with deal_stage = ''Won'', the same account AND the same sales_agent as the interaction, and engage_date <= interaction_date <= close_date. Each interaction counts once, however many Won deals it is attributed to.';
COMMENT ON COLUMN gold.channel_performance.conversion_rate_pct IS 'PERCENT 0-100: 100 * converted_interactions / total_interactions (every interaction of the channel in the denominator: those of open deals and those attributed to no deal count as not converted).';
COMMENT ON COLUMN gold.channel_performance.won_deals IS 'Number of distinct Won deals with at least one interaction of the channel attributed to them (same account, same sales_agent, interaction_date within engage_date .. close_date); a deal counts once per channel, and in every channel that touched it.';
COMMENT ON COLUMN gold.channel_performance.avg_deal_value IS 'Average deal value: round(sum(close_value) / won_deals, 2) (half away from zero) over those Won deals (each once); NULL when won_deals = 0.';
COMMENT ON COLUMN gold.channel_performance.responses IS 'count(*) of the channel''s interactions the customer responded to (response_time_hours IS NOT NULL).';
COMMENT ON COLUMN gold.channel_performance.response_rate_pct IS 'PERCENT 0-100: 100 * responses / total_interactions.';
COMMENT ON COLUMN gold.channel_performance.avg_response_time_hours IS 'Average response time in hours: round(sum(response_time_hours) / responses, 2) (half away from zero) over the interactions responded to; NULL when responses = 0.';
COMMENT ON COLUMN gold.channel_performance.avg_duration_minutes IS 'round(sum(duration_minutes) / total_interactions, 2) (half away from zero): mean length in minutes (e-mail and WhatsApp messages are 0).';

-- @select
-- Semi-joins instead of DISTINCT over a join (the interaction-deal links are many-to-many).
WITH converted AS (
  -- Interactions attributed to at least one Won deal: same account and agent, date in its window.
  SELECT i.channel, count(*) AS converted_interactions
  FROM silver.crm_interactions i
  WHERE EXISTS (
    SELECT 1 FROM silver.crm_deals d
    WHERE d.deal_stage = 'Won' AND d.account = i.account AND d.sales_agent = i.sales_agent
      AND i.interaction_date BETWEEN d.engage_date AND d.close_date
  )
  GROUP BY i.channel
), won AS (
  -- Won deals with at least one interaction of the channel attributed to them, each once.
  SELECT ch.channel, count(*) AS won_deals, sum(d.close_value) AS won_value
  FROM (SELECT DISTINCT channel FROM silver.crm_interactions) ch
  CROSS JOIN silver.crm_deals d
  WHERE d.deal_stage = 'Won'
    AND EXISTS (
      SELECT 1 FROM silver.crm_interactions i
      WHERE i.channel = ch.channel AND i.account = d.account AND i.sales_agent = d.sales_agent
        AND i.interaction_date BETWEEN d.engage_date AND d.close_date
    )
  GROUP BY ch.channel
), reached AS (
  SELECT channel, count(*) AS accounts_reached
  FROM (SELECT DISTINCT channel, account FROM silver.crm_interactions) pairs
  GROUP BY channel
), per_channel AS (
  SELECT
    channel,
    count(*) AS total_interactions,
    count(*) FILTER (WHERE outcome = 'positive') AS positive_interactions,
    count(*) FILTER (WHERE outcome = 'negative') AS negative_interactions,
    count(response_time_hours) AS responses,
    sum(response_time_hours) AS response_hours,
    sum(duration_minutes) AS duration
  FROM silver.crm_interactions
  GROUP BY channel
)
SELECT
  c.channel,
  c.total_interactions,
  r.accounts_reached,
  c.positive_interactions,
  c.negative_interactions,
  gold_state.pct(c.positive_interactions, c.total_interactions) AS positive_share_pct,
  gold_state.pct(c.negative_interactions, c.total_interactions) AS negative_share_pct,
  coalesce(v.converted_interactions, 0) AS converted_interactions,
  gold_state.pct(coalesce(v.converted_interactions, 0), c.total_interactions) AS conversion_rate_pct,
  coalesce(w.won_deals, 0) AS won_deals,
  gold_state.money_avg(w.won_value, coalesce(w.won_deals, 0)) AS avg_deal_value,
  c.responses,
  gold_state.pct(c.responses, c.total_interactions) AS response_rate_pct,
  gold_state.money_avg(c.response_hours, c.responses) AS avg_response_time_hours,
  gold_state.money_avg(c.duration, c.total_interactions) AS avg_duration_minutes
FROM per_channel c
JOIN reached r ON r.channel = c.channel
LEFT JOIN converted v ON v.channel = c.channel
LEFT JOIN won w ON w.channel = c.channel
