-- Seed 000's customer_features: one row per account with its deal, interaction and scoring features,
-- for the AI sales agent and Power BI (the lead-scoring table). The accounts are every account of
-- silver.crm_accounts PLUS every account name that only deals or interactions mention (a deal or an
-- interaction is never dropped from gold because its account is not in the master yet: such a row
-- has in_account_master = false and NULL attributes until the account lands; the next refresh
-- fills them). Names match exactly as silver keeps them (trimmed, case kept).
-- "Now" is the newest date in the data: the greatest of the deals' close_date and engage_date and
-- the interactions' interaction_date, never the clock, so a replay gives the same table.
-- Population-wide parts (max revenue, max interactions, now) are computed inside the SELECT over
-- the whole population; the model joins three datasets, so it is recomputed (CRM data is small).

-- @ddl
CREATE TABLE gold.customer_features (
  account                     text             NOT NULL PRIMARY KEY,
  in_account_master           boolean          NOT NULL,
  sector                      text,
  year_established            integer,
  employees                   integer,
  annual_revenue_millions     numeric(12,2),
  office_location             text,
  subsidiary_of               text,
  total_deals                 bigint           NOT NULL,
  num_closed_won              bigint           NOT NULL,
  num_closed_lost             bigint           NOT NULL,
  num_open_deals              bigint           NOT NULL,
  total_revenue               numeric(18,2)    NOT NULL,
  avg_deal_value              numeric(18,2),
  win_rate                    double precision CHECK (win_rate BETWEEN 0 AND 1),
  conversion_rate             double precision CHECK (conversion_rate BETWEEN 0 AND 1),
  last_won_date               date,
  total_interactions          bigint           NOT NULL,
  num_calls                   bigint           NOT NULL,
  num_emails                  bigint           NOT NULL,
  num_whatsapp                bigint           NOT NULL,
  num_meetings                bigint           NOT NULL,
  num_positive_outcomes       bigint           NOT NULL,
  num_negative_outcomes       bigint           NOT NULL,
  num_responses               bigint           NOT NULL,
  avg_response_time_hours     numeric(10,2),
  last_interaction_date       date,
  days_since_last_interaction integer,
  preferred_channel           text             CHECK (preferred_channel IN ('call', 'email', 'meeting', 'whatsapp')),
  engagement_score            double precision NOT NULL CHECK (engagement_score BETWEEN 0 AND 10),
  lead_score                  double precision NOT NULL CHECK (lead_score BETWEEN 0 AND 100),
  lead_quality                text             NOT NULL CHECK (lead_quality IN ('hot', 'warm', 'cool', 'cold')),
  probability_to_convert      double precision CHECK (probability_to_convert BETWEEN 0 AND 1)
);
CREATE INDEX customer_features_lead_idx ON gold.customer_features (lead_quality, lead_score DESC);

COMMENT ON TABLE gold.customer_features IS 'One row per account: every account of silver.crm_accounts plus every account name that only silver.crm_deals (non-blank account) or silver.crm_interactions mention (in_account_master = false). "Now" = the newest date in the data (greatest deal close_date / engage_date / interaction_date), never the clock. Recomputed whenever an input changes; exported to gold/crm_deals/customer_features.parquet.';
COMMENT ON COLUMN gold.customer_features.account IS 'Account (company) name exactly as silver keeps it (trimmed, case kept, e.g. ''dambase''): crm_accounts.account = crm_deals.account = crm_interactions.account. The key.';
COMMENT ON COLUMN gold.customer_features.in_account_master IS 'true when silver.crm_accounts holds the account; false when only deals or interactions name it (unknown to the CRM master so far, or its account file has not landed yet: the attributes below are then NULL).';
COMMENT ON COLUMN gold.customer_features.sector IS 'silver.crm_accounts.sector (industry, lower-case, ''technolgy'' corrected to ''technology''); NULL when not in the account master.';
COMMENT ON COLUMN gold.customer_features.year_established IS 'silver.crm_accounts.year_established; NULL when unknown or not in the account master.';
COMMENT ON COLUMN gold.customer_features.employees IS 'silver.crm_accounts.employees (number of employees); NULL when unknown or not in the account master.';
COMMENT ON COLUMN gold.customer_features.annual_revenue_millions IS 'silver.crm_accounts.revenue: the company''s annual revenue in MILLIONS of US dollars (1100.04 = USD 1,100,040,000), not deal revenue; NULL when unknown or not in the account master.';
COMMENT ON COLUMN gold.customer_features.office_location IS 'silver.crm_accounts.office_location (headquarters country as the export spells it); NULL when unknown or not in the account master.';
COMMENT ON COLUMN gold.customer_features.subsidiary_of IS 'silver.crm_accounts.subsidiary_of (parent company); NULL when the account is no subsidiary or not in the account master.';
COMMENT ON COLUMN gold.customer_features.total_deals IS 'count(*) of the account''s deals in silver.crm_deals, every stage (Prospecting, Engaging, Won, Lost); 0 when none.';
COMMENT ON COLUMN gold.customer_features.num_closed_won IS 'count(*) of the account''s deals with deal_stage = ''Won''.';
COMMENT ON COLUMN gold.customer_features.num_closed_lost IS 'count(*) of the account''s deals with deal_stage = ''Lost''.';
COMMENT ON COLUMN gold.customer_features.num_open_deals IS 'count(*) of the account''s deals with deal_stage IN (''Engaging'', ''Prospecting''). Open deals whose account the export left blank belong to no account and are counted nowhere here.';
COMMENT ON COLUMN gold.customer_features.total_revenue IS 'sum(close_value) over the account''s Won deals, US dollars, exact (numeric(18,2)); 0.00 when none.';
COMMENT ON COLUMN gold.customer_features.avg_deal_value IS 'round(total_revenue / num_closed_won, 2) (half away from zero): the mean value of a Won deal; NULL when num_closed_won = 0.';
COMMENT ON COLUMN gold.customer_features.win_rate IS 'FRACTION 0-1 (as seed 000''s table says, not a percentage): num_closed_won / (num_closed_won + num_closed_lost); NULL when both are 0.';
COMMENT ON COLUMN gold.customer_features.conversion_rate IS 'FRACTION 0-1: num_closed_won / total_deals (Won over ALL the account''s deals, open ones included); NULL when total_deals = 0.';
COMMENT ON COLUMN gold.customer_features.last_won_date IS 'max(close_date) over the account''s Won deals; NULL when none.';
COMMENT ON COLUMN gold.customer_features.total_interactions IS 'count(*) of the account''s interactions in silver.crm_interactions (every channel); 0 when none.';
COMMENT ON COLUMN gold.customer_features.num_calls IS 'count(*) of the account''s interactions with channel = ''call''.';
COMMENT ON COLUMN gold.customer_features.num_emails IS 'count(*) of the account''s interactions with channel = ''email''.';
COMMENT ON COLUMN gold.customer_features.num_whatsapp IS 'count(*) of the account''s interactions with channel = ''whatsapp''.';
COMMENT ON COLUMN gold.customer_features.num_meetings IS 'count(*) of the account''s interactions with channel = ''meeting''.';
COMMENT ON COLUMN gold.customer_features.num_positive_outcomes IS 'count(*) of the account''s interactions with outcome = ''positive''.';
COMMENT ON COLUMN gold.customer_features.num_negative_outcomes IS 'count(*) of the account''s interactions with outcome = ''negative''.';
COMMENT ON COLUMN gold.customer_features.num_responses IS 'count(*) of the account''s interactions the customer responded to (response_time_hours IS NOT NULL).';
COMMENT ON COLUMN gold.customer_features.avg_response_time_hours IS 'round(sum(response_time_hours) / num_responses, 2) (half away from zero) over the interactions the customer responded to; NULL when num_responses = 0.';
COMMENT ON COLUMN gold.customer_features.last_interaction_date IS 'max(interaction_date) over the account''s interactions (UTC date); NULL when none.';
COMMENT ON COLUMN gold.customer_features.days_since_last_interaction IS 'now - last_interaction_date in days, now = the newest date in the data (greatest deal close_date / engage_date / interaction_date over all of silver), never the clock; so >= 0. NULL when the account has no interaction.';
COMMENT ON COLUMN gold.customer_features.preferred_channel IS 'Recommended contact method: among the channels the account was reached through, the one with the most positive outcomes; ties broken by the most interactions on the channel, then alphabetically (call < email < meeting < whatsapp). So an account without any positive outcome gets its most used channel. NULL when the account has no interaction.';
COMMENT ON COLUMN gold.customer_features.engagement_score IS 'Seed 000''s engagement score on its stated 0-10 scale: 5 * num_positive_outcomes / total_interactions + 2 * num_calls / total_interactions + 3 * recency_score / 10, recency_score = 10 when days_since_last_interaction < 7, else 5. Reading: the seed writes ((positive share) * 5 + (call share) * 2 + recency_score * 3) / 10, which with recency_score in {5, 10} can only give 1.5-3.7 and contradicts its own 0-10 range; the weights 5 + 2 + 3 = 10 over shares in 0-1 give 0-10 once recency_score (the one term on a 0-10 scale) is the term divided by 10. 0 when the account has no interaction (no engagement). Double precision, evaluated left to right.';
COMMENT ON COLUMN gold.customer_features.lead_score IS '0-100, seed 000''s normalised weighted formula: 0.30 * revenue_score + 0.20 * interaction_score + 0.25 * (10 * engagement_score) + 0.25 * (100 * win_rate), revenue_score = 100 * (total_revenue / max total_revenue over all rows of this table) (0 when that max is 0), interaction_score = 100 * (total_interactions / max total_interactions over all rows) (0 when that max is 0), engagement_score scaled from 0-10 to 0-100 (x10), win_rate taken as 0 when NULL. Chosen over the seed''s other formula (total_revenue / 100000 * 30 + total_interactions * 2 + engagement_score * 25 + win_rate * 20), which is unbounded (it grows with revenue and interaction counts without limit), so the hot/warm/cool/cold thresholds would mean nothing; the weighted one is bounded by 100 and its weights sum to 1. Relative to the population: an account''s score moves when the top account''s revenue or interactions move. Double precision.';
COMMENT ON COLUMN gold.customer_features.lead_quality IS 'From lead_score: ''hot'' >= 80, ''warm'' >= 60, ''cool'' >= 40, else ''cold'' (lower-case, as seed 000''s query example filters lead_quality = ''hot'').';
COMMENT ON COLUMN gold.customer_features.probability_to_convert IS 'ML-based, 0-1: the mean, over the account''s open deals (Engaging or Prospecting), of the probability that the deal is won, from the lead-scoring logistic regression (trained on closed deals, the account''s history at engage date plus the deal''s own interactions in its first 14 days; see docs/ml.md for its holdout AUC and calibration). NULL when the account has no open deal or too few closed deals exist to train. Written by the lead_scoring step in the same transaction as this model, not by its SELECT.';

-- @select
WITH deal_totals AS (
  SELECT
    account,
    count(*) AS total_deals,
    count(*) FILTER (WHERE deal_stage = 'Won') AS won,
    count(*) FILTER (WHERE deal_stage = 'Lost') AS lost,
    count(*) FILTER (WHERE deal_stage IN ('Engaging', 'Prospecting')) AS open,
    coalesce(sum(close_value) FILTER (WHERE deal_stage = 'Won'), 0) AS revenue,
    max(close_date) FILTER (WHERE deal_stage = 'Won') AS last_won_date
  FROM silver.crm_deals
  WHERE account IS NOT NULL
  GROUP BY account
), touch_totals AS (
  SELECT
    account,
    count(*) AS total,
    count(*) FILTER (WHERE channel = 'call') AS calls,
    count(*) FILTER (WHERE channel = 'email') AS emails,
    count(*) FILTER (WHERE channel = 'whatsapp') AS whatsapp,
    count(*) FILTER (WHERE channel = 'meeting') AS meetings,
    count(*) FILTER (WHERE outcome = 'positive') AS positives,
    count(*) FILTER (WHERE outcome = 'negative') AS negatives,
    count(response_time_hours) AS responses,
    sum(response_time_hours) AS response_hours,
    max(interaction_date) AS last_date
  FROM silver.crm_interactions
  GROUP BY account
), preferred AS (
  SELECT DISTINCT ON (account) account, channel
  FROM (
    SELECT account, channel, count(*) FILTER (WHERE outcome = 'positive') AS positives, count(*) AS n
    FROM silver.crm_interactions
    GROUP BY account, channel
  ) per_channel
  ORDER BY account, positives DESC, n DESC, channel COLLATE "C"
), clock AS (
  SELECT max(d) AS now_date
  FROM (
    SELECT max(close_date) AS d FROM silver.crm_deals
    UNION ALL SELECT max(engage_date) FROM silver.crm_deals
    UNION ALL SELECT max(interaction_date) FROM silver.crm_interactions
  ) newest
), names AS (
  SELECT account FROM silver.crm_accounts
  UNION SELECT account FROM deal_totals
  UNION SELECT account FROM touch_totals
), features AS (
  SELECT
    n.account,
    a.account IS NOT NULL AS in_account_master,
    a.sector,
    a.year_established,
    a.employees,
    a.revenue AS annual_revenue_millions,
    a.office_location,
    a.subsidiary_of,
    coalesce(d.total_deals, 0) AS total_deals,
    coalesce(d.won, 0) AS num_closed_won,
    coalesce(d.lost, 0) AS num_closed_lost,
    coalesce(d.open, 0) AS num_open_deals,
    coalesce(d.revenue, 0) AS total_revenue,
    gold_state.money_avg(d.revenue, coalesce(d.won, 0)) AS avg_deal_value,
    CASE WHEN d.won + d.lost > 0 THEN d.won::double precision / (d.won + d.lost) END AS win_rate,
    CASE WHEN d.total_deals > 0 THEN d.won::double precision / d.total_deals END AS conversion_rate,
    d.last_won_date,
    coalesce(t.total, 0) AS total_interactions,
    coalesce(t.calls, 0) AS num_calls,
    coalesce(t.emails, 0) AS num_emails,
    coalesce(t.whatsapp, 0) AS num_whatsapp,
    coalesce(t.meetings, 0) AS num_meetings,
    coalesce(t.positives, 0) AS num_positive_outcomes,
    coalesce(t.negatives, 0) AS num_negative_outcomes,
    coalesce(t.responses, 0) AS num_responses,
    gold_state.money_avg(t.response_hours, coalesce(t.responses, 0)) AS avg_response_time_hours,
    t.last_date AS last_interaction_date,
    k.now_date - t.last_date AS days_since_last_interaction,
    p.channel AS preferred_channel,
    CASE WHEN t.total > 0
      THEN 5 * t.positives::double precision / t.total
         + 2 * t.calls::double precision / t.total
         + CASE WHEN k.now_date - t.last_date < 7 THEN 3::double precision ELSE 1.5::double precision END
      ELSE 0::double precision
    END AS engagement_score
  FROM names n
  CROSS JOIN clock k
  LEFT JOIN silver.crm_accounts a ON a.account = n.account
  LEFT JOIN deal_totals d ON d.account = n.account
  LEFT JOIN touch_totals t ON t.account = n.account
  LEFT JOIN preferred p ON p.account = n.account
), population AS (
  SELECT f.*, max(f.total_revenue) OVER () AS max_revenue, max(f.total_interactions) OVER () AS max_interactions
  FROM features f
), scored AS (
  SELECT
    pp.*,
    0.30::double precision * CASE WHEN pp.max_revenue > 0 THEN 100 * (pp.total_revenue::double precision / pp.max_revenue::double precision) ELSE 0 END
      + 0.20::double precision * CASE WHEN pp.max_interactions > 0 THEN 100 * (pp.total_interactions::double precision / pp.max_interactions) ELSE 0 END
      + 0.25::double precision * (10 * pp.engagement_score)
      + 0.25::double precision * (100 * coalesce(pp.win_rate, 0)) AS lead_score
  FROM population pp
)
SELECT
  account, in_account_master, sector, year_established, employees, annual_revenue_millions, office_location, subsidiary_of,
  total_deals, num_closed_won, num_closed_lost, num_open_deals, total_revenue, avg_deal_value, win_rate, conversion_rate, last_won_date,
  total_interactions, num_calls, num_emails, num_whatsapp, num_meetings, num_positive_outcomes, num_negative_outcomes,
  num_responses, avg_response_time_hours, last_interaction_date, days_since_last_interaction, preferred_channel,
  engagement_score,
  lead_score,
  CASE WHEN lead_score >= 80 THEN 'hot' WHEN lead_score >= 60 THEN 'warm' WHEN lead_score >= 40 THEN 'cool' ELSE 'cold' END AS lead_quality
FROM scored
