-- Churn by contract type and tenure band over the current state of every customer
-- (gold.customers): how many customers, how many churned where churn is known, average monthly
-- charges and total charges. Kept up to date with additive deltas: each customer's current
-- contribution is remembered in gold_state.customer_churn_summary__members, so an update that
-- moves a customer to another contract or band takes it out of the old group and into the new.
-- @after: customers

-- @ddl
CREATE TABLE IF NOT EXISTS gold.customer_churn_summary (
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
CREATE TABLE IF NOT EXISTS gold_state.customer_churn_summary__members (
  customer_id     text          NOT NULL PRIMARY KEY,
  contract        text          NOT NULL,
  tenure_band     text          NOT NULL,
  churn           boolean,
  monthly_charges numeric(10,2) NOT NULL,
  total_charges   numeric(14,2) NOT NULL
);
COMMENT ON TABLE gold_state.customer_churn_summary__members IS 'What each customer currently contributes to gold.customer_churn_summary (its group and amounts as last counted).';

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

-- @full
TRUNCATE gold.customer_churn_summary, gold_state.customer_churn_summary__members;
INSERT INTO gold_state.customer_churn_summary__members (customer_id, contract, tenure_band, churn, monthly_charges, total_charges)
SELECT customer_id, contract, tenure_band, churn, monthly_charges, total_charges FROM gold.customers;
INSERT INTO gold.customer_churn_summary (
  contract, tenure_band, customers, customers_churn_known, churned, churn_rate, avg_monthly_charges, monthly_charges_sum, total_charges)
SELECT
  contract, tenure_band, count(*), count(churn), count(*) FILTER (WHERE churn),
  gold_state.pct(count(*) FILTER (WHERE churn), count(churn)),
  gold_state.money_avg(sum(monthly_charges), count(*)), sum(monthly_charges), sum(total_charges)
FROM gold_state.customer_churn_summary__members
GROUP BY contract, tenure_band;

-- @incremental
-- Customers the run changed: take their last counted contribution out, put the current one in.
CREATE TEMP TABLE customer_churn_summary__ids AS SELECT DISTINCT customer_id FROM run_rows;
ANALYZE customer_churn_summary__ids;
CREATE TEMP TABLE customer_churn_summary__delta AS
SELECT contract, tenure_band, sum(n) AS customers, sum(known) AS known, sum(churned) AS churned,
       sum(monthly_charges) AS monthly_charges, sum(total_charges) AS total_charges
FROM (
  SELECT m.contract, m.tenure_band, -1 AS n, CASE WHEN m.churn IS NULL THEN 0 ELSE -1 END AS known,
         CASE WHEN m.churn THEN -1 ELSE 0 END AS churned, -m.monthly_charges AS monthly_charges, -m.total_charges AS total_charges
  FROM gold_state.customer_churn_summary__members m JOIN customer_churn_summary__ids i USING (customer_id)
  UNION ALL
  SELECT c.contract, c.tenure_band, 1, CASE WHEN c.churn IS NULL THEN 0 ELSE 1 END,
         CASE WHEN c.churn THEN 1 ELSE 0 END, c.monthly_charges, c.total_charges
  FROM gold.customers c JOIN customer_churn_summary__ids i USING (customer_id)
) d
GROUP BY contract, tenure_band;

INSERT INTO gold.customer_churn_summary AS t (
  contract, tenure_band, customers, customers_churn_known, churned, churn_rate, avg_monthly_charges, monthly_charges_sum, total_charges)
SELECT contract, tenure_band, customers, known, churned, gold_state.pct(churned, known),
       coalesce(gold_state.money_avg(monthly_charges, customers), 0), monthly_charges, total_charges
FROM customer_churn_summary__delta
ON CONFLICT (contract, tenure_band) DO UPDATE SET
  customers = t.customers + EXCLUDED.customers,
  customers_churn_known = t.customers_churn_known + EXCLUDED.customers_churn_known,
  churned = t.churned + EXCLUDED.churned,
  churn_rate = gold_state.pct(t.churned + EXCLUDED.churned, t.customers_churn_known + EXCLUDED.customers_churn_known),
  avg_monthly_charges = coalesce(gold_state.money_avg(t.monthly_charges_sum + EXCLUDED.monthly_charges_sum, t.customers + EXCLUDED.customers), 0),
  monthly_charges_sum = t.monthly_charges_sum + EXCLUDED.monthly_charges_sum,
  total_charges = t.total_charges + EXCLUDED.total_charges;
DELETE FROM gold.customer_churn_summary WHERE customers = 0;

DELETE FROM gold_state.customer_churn_summary__members m USING customer_churn_summary__ids i WHERE m.customer_id = i.customer_id;
INSERT INTO gold_state.customer_churn_summary__members (customer_id, contract, tenure_band, churn, monthly_charges, total_charges)
SELECT c.customer_id, c.contract, c.tenure_band, c.churn, c.monthly_charges, c.total_charges
FROM gold.customers c JOIN customer_churn_summary__ids i USING (customer_id);
