-- Seed 000's top_customers (the Power BI table): the 50 accounts with the most Won revenue, read from
-- gold.customer_features, ranked 1-50 by total_revenue descending, ties by account name.

-- @ddl
CREATE TABLE gold.top_customers (
  account                     text             NOT NULL PRIMARY KEY,
  revenue_rank                integer          NOT NULL CHECK (revenue_rank BETWEEN 1 AND 50),
  in_account_master           boolean          NOT NULL,
  sector                      text,
  office_location             text,
  employees                   integer,
  total_revenue               numeric(18,2)    NOT NULL,
  revenue_share_pct           double precision NOT NULL,
  num_closed_won              bigint           NOT NULL,
  num_closed_lost             bigint           NOT NULL,
  num_open_deals              bigint           NOT NULL,
  win_rate                    double precision,
  avg_deal_value              numeric(18,2),
  total_interactions          bigint           NOT NULL,
  days_since_last_interaction integer,
  preferred_channel           text,
  lead_score                  double precision NOT NULL,
  lead_quality                text             NOT NULL
);

COMMENT ON TABLE gold.top_customers IS 'The top 50 accounts of gold.customer_features by total_revenue (accounts without Won revenue are not customers and never listed; fewer than 50 rows when fewer accounts have revenue). Exported to gold/crm_deals/top_customers.parquet.';
COMMENT ON COLUMN gold.top_customers.account IS 'Account name (gold.customer_features.account).';
COMMENT ON COLUMN gold.top_customers.revenue_rank IS '1-50: position by total_revenue descending, ties broken by account name ascending in byte order (COLLATE "C": upper-case names before lower-case ones, e.g. ''Zumgoity'' before ''dambase''), so every rank is unique (row_number).';
COMMENT ON COLUMN gold.top_customers.in_account_master IS 'gold.customer_features.in_account_master: false when only deals name the account (its attributes are then NULL).';
COMMENT ON COLUMN gold.top_customers.sector IS 'gold.customer_features.sector.';
COMMENT ON COLUMN gold.top_customers.office_location IS 'gold.customer_features.office_location.';
COMMENT ON COLUMN gold.top_customers.employees IS 'gold.customer_features.employees.';
COMMENT ON COLUMN gold.top_customers.total_revenue IS 'gold.customer_features.total_revenue: sum of close_value over the account''s Won deals, exact.';
COMMENT ON COLUMN gold.top_customers.revenue_share_pct IS 'PERCENT 0-100: 100 * (total_revenue / sum of total_revenue over ALL rows of gold.customer_features, not only the top 50).';
COMMENT ON COLUMN gold.top_customers.num_closed_won IS 'gold.customer_features.num_closed_won.';
COMMENT ON COLUMN gold.top_customers.num_closed_lost IS 'gold.customer_features.num_closed_lost.';
COMMENT ON COLUMN gold.top_customers.num_open_deals IS 'gold.customer_features.num_open_deals.';
COMMENT ON COLUMN gold.top_customers.win_rate IS 'gold.customer_features.win_rate: FRACTION 0-1, won / (won + lost).';
COMMENT ON COLUMN gold.top_customers.avg_deal_value IS 'gold.customer_features.avg_deal_value: mean Won deal value, rounded to cents.';
COMMENT ON COLUMN gold.top_customers.total_interactions IS 'gold.customer_features.total_interactions.';
COMMENT ON COLUMN gold.top_customers.days_since_last_interaction IS 'gold.customer_features.days_since_last_interaction (now = the newest date in the data).';
COMMENT ON COLUMN gold.top_customers.preferred_channel IS 'gold.customer_features.preferred_channel.';
COMMENT ON COLUMN gold.top_customers.lead_score IS 'gold.customer_features.lead_score (0-100).';
COMMENT ON COLUMN gold.top_customers.lead_quality IS 'gold.customer_features.lead_quality (hot, warm, cool, cold).';

-- @select
SELECT
  account,
  revenue_rank::integer AS revenue_rank,
  in_account_master, sector, office_location, employees, total_revenue,
  100 * (total_revenue::double precision / all_revenue::double precision) AS revenue_share_pct,
  num_closed_won, num_closed_lost, num_open_deals, win_rate, avg_deal_value, total_interactions,
  days_since_last_interaction, preferred_channel, lead_score, lead_quality
FROM (
  SELECT
    f.*,
    row_number() OVER (ORDER BY f.total_revenue DESC, f.account COLLATE "C") AS revenue_rank,
    sum(f.total_revenue) OVER () AS all_revenue
  FROM gold.customer_features f
) ranked
WHERE total_revenue > 0 AND revenue_rank <= 50
