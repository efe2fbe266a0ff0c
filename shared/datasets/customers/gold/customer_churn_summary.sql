-- Churn by contract type and tenure band over the current state of every customer
-- (gold.customers): how many customers, how many churned where churn is known, average monthly
-- charges and total charges. Maintained from gold.customers' changed rows: an update that moves a
-- customer to another contract or band takes it out of the old group and into the new.

-- @ddl
CREATE TABLE gold.customer_churn_summary (
  contract              text             NOT NULL,
  tenure_band           text             NOT NULL,
  customers             bigint           NOT NULL,
  customers_churn_known bigint           NOT NULL,
  churned               bigint           NOT NULL,
  churn_rate            double precision,
  avg_monthly_charges   numeric(12,2)    NOT NULL,
  monthly_charges_sum   numeric(18,2)    NOT NULL,
  total_charges         numeric(18,2)    NOT NULL,
  PRIMARY KEY (contract, tenure_band)
);

COMMENT ON TABLE gold.customer_churn_summary IS 'One row per (contract, tenure_band) with at least one customer, over the current state of every customer (gold.customers). Exported to gold/customers/customer_churn_summary.parquet.';
COMMENT ON COLUMN gold.customer_churn_summary.contract IS 'Contract type (gold.customers.contract): Month-to-month, One year, Two year, or Unknown.';
COMMENT ON COLUMN gold.customer_churn_summary.tenure_band IS 'Tenure band in months (gold.customers.tenure_band): 0-12, 13-24, 25-48, 49-72, 73+.';
COMMENT ON COLUMN gold.customer_churn_summary.customers IS 'Number of customers currently in this group.';
COMMENT ON COLUMN gold.customer_churn_summary.customers_churn_known IS 'Customers of the group whose churn is known (churn IS NOT NULL: Telco rows; streamed versions carry no churn).';
COMMENT ON COLUMN gold.customer_churn_summary.churned IS 'Customers of the group with churn = true (known churners only).';
COMMENT ON COLUMN gold.customer_churn_summary.churn_rate IS 'Percent (0-100): 100 * churned / customers_churn_known; NULL when no churn is known in the group.';
COMMENT ON COLUMN gold.customer_churn_summary.avg_monthly_charges IS 'monthly_charges_sum / customers rounded to cents (half away from zero).';
COMMENT ON COLUMN gold.customer_churn_summary.monthly_charges_sum IS 'Sum of gold.customers.monthly_charges (cents) over the group.';
COMMENT ON COLUMN gold.customer_churn_summary.total_charges IS 'Sum of gold.customers.total_charges (cents; imputed ones included) over the group.';

-- @select
SELECT
  contract,
  tenure_band,
  count(*) AS customers,
  count(churn) AS customers_churn_known,
  count(*) FILTER (WHERE churn) AS churned,
  gold_state.pct(count(*) FILTER (WHERE churn), count(churn)) AS churn_rate,
  coalesce(gold_state.money_avg(sum(monthly_charges), count(*)), 0) AS avg_monthly_charges,
  sum(monthly_charges) AS monthly_charges_sum,
  sum(total_charges) AS total_charges
FROM gold.customers
GROUP BY contract, tenure_band
