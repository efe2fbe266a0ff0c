-- Seed 000's sales_summary: daily sales metrics and trends, one row per close date with at least one
-- closed (Won or Lost) deal. Every deal counts, whether or not its account is in the account master.
-- Deals are updated in place (each pipeline export is a snapshot), so the model is recomputed.

-- @ddl
CREATE TABLE gold.sales_summary (
  close_date         date             NOT NULL PRIMARY KEY,
  day_name           text             NOT NULL,
  deals_closed       bigint           NOT NULL,
  deals_won          bigint           NOT NULL,
  deals_lost         bigint           NOT NULL,
  revenue            numeric(18,2)    NOT NULL,
  avg_won_deal_value numeric(18,2),
  win_rate_pct       double precision CHECK (win_rate_pct BETWEEN 0 AND 100),
  accounts_won       bigint           NOT NULL
);

COMMENT ON TABLE gold.sales_summary IS 'One row per close_date with at least one Won or Lost deal in silver.crm_deals (days without a closed deal have no row; open deals have no close date and count nowhere here). Exported to gold/crm_deals/sales_summary.parquet.';
COMMENT ON COLUMN gold.sales_summary.close_date IS 'The date deals were Won or Lost (silver.crm_deals.close_date).';
COMMENT ON COLUMN gold.sales_summary.day_name IS 'English day name of close_date: Monday ... Sunday.';
COMMENT ON COLUMN gold.sales_summary.deals_closed IS 'count(*) of deals closed that day: deal_stage Won or Lost (= deals_won + deals_lost).';
COMMENT ON COLUMN gold.sales_summary.deals_won IS 'count(*) of deals Won that day.';
COMMENT ON COLUMN gold.sales_summary.deals_lost IS 'count(*) of deals Lost that day.';
COMMENT ON COLUMN gold.sales_summary.revenue IS 'sum(close_value) over the deals Won that day, US dollars, exact; 0.00 when none was won (Lost deals carry close_value 0 and are not summed).';
COMMENT ON COLUMN gold.sales_summary.avg_won_deal_value IS 'round(revenue / deals_won, 2) (half away from zero); NULL when deals_won = 0.';
COMMENT ON COLUMN gold.sales_summary.win_rate_pct IS 'PERCENT 0-100: 100 * deals_won / deals_closed; NULL when deals_closed = 0 (never, since a row needs a closed deal).';
COMMENT ON COLUMN gold.sales_summary.accounts_won IS 'count(DISTINCT account) over the deals Won that day.';

-- @select
SELECT
  close_date,
  to_char(close_date, 'FMDay') AS day_name,
  count(*) AS deals_closed,
  count(*) FILTER (WHERE deal_stage = 'Won') AS deals_won,
  count(*) FILTER (WHERE deal_stage = 'Lost') AS deals_lost,
  coalesce(sum(close_value) FILTER (WHERE deal_stage = 'Won'), 0) AS revenue,
  gold_state.money_avg(sum(close_value) FILTER (WHERE deal_stage = 'Won'), count(*) FILTER (WHERE deal_stage = 'Won')) AS avg_won_deal_value,
  gold_state.pct(count(*) FILTER (WHERE deal_stage = 'Won'), count(*)) AS win_rate_pct,
  count(DISTINCT account) FILTER (WHERE deal_stage = 'Won') AS accounts_won
FROM silver.crm_deals
WHERE deal_stage IN ('Won', 'Lost') AND close_date IS NOT NULL
GROUP BY close_date
