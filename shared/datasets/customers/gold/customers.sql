-- Current state of every customer (one row per customer_id), typed for analysis: the silver row
-- of the customer's latest version (latest updated_at wins; silver never lets an older version
-- overwrite a newer one), with money as numeric cents and a tenure band.
-- Personal data (first_name, last_name, email; pii in the contract) is masked unless the
-- transaction's setting medallion.gold_show_pii is 'true' (GOLD_SHOW_PII=true); the setting is
-- read when a row is written, so switching it takes effect for every row at the next full rebuild.

-- @ddl
CREATE TABLE gold.customers (
  customer_id           text          NOT NULL PRIMARY KEY,
  gender                text          NOT NULL,
  senior_citizen        boolean       NOT NULL,
  partner               boolean       NOT NULL,
  dependents            boolean       NOT NULL,
  tenure                integer       NOT NULL,
  tenure_band           text          NOT NULL,
  phone_service         boolean       NOT NULL,
  internet_service      text          NOT NULL,
  contract              text          NOT NULL,
  monthly_charges       numeric(10,2) NOT NULL,
  total_charges         numeric(14,2) NOT NULL,
  total_charges_imputed boolean       NOT NULL,
  churn                 boolean,
  first_name            text,
  last_name             text,
  email                 text,
  email_valid           boolean       NOT NULL,
  updated_at            timestamptz   NOT NULL,
  source_file           text          NOT NULL,
  ingested_at           timestamptz   NOT NULL
);
CREATE INDEX customers_group_idx ON gold.customers (contract, tenure_band);
CREATE INDEX customers_updated_idx ON gold.customers (updated_at);

-- Helpers shared by the customers models (gold_state: not exported).
CREATE OR REPLACE FUNCTION gold_state.customers__tenure_band(tenure integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN tenure <= 12 THEN '0-12' WHEN tenure <= 24 THEN '13-24' WHEN tenure <= 48 THEN '25-48'
              WHEN tenure <= 72 THEN '49-72' ELSE '73+' END
$$;
CREATE OR REPLACE FUNCTION gold_state.customers__show_pii() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT lower(coalesce(current_setting('medallion.gold_show_pii', true), '')) IN ('true', 'on', '1')
$$;
CREATE OR REPLACE FUNCTION gold_state.customers__email(email text, valid boolean) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN email IS NULL OR NOT valid THEN NULL
              WHEN gold_state.customers__show_pii() THEN email
              ELSE left(split_part(email, '@', 1), 1) || '***@' || split_part(email, '@', 2) END
$$;
CREATE OR REPLACE FUNCTION gold_state.customers__name(name text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN name IS NULL THEN NULL WHEN gold_state.customers__show_pii() THEN name ELSE left(name, 1) || '.' END
$$;

COMMENT ON TABLE gold.customers IS 'Current state per customer: the silver row of the latest version (by updated_at) of each customer_id, typed; personal data masked unless GOLD_SHOW_PII=true. Exported to gold/customers/customers.parquet.';
COMMENT ON COLUMN gold.customers.customer_id IS 'Customer identifier (silver customer_id).';
COMMENT ON COLUMN gold.customers.gender IS 'silver gender: Female, Male, or Unknown when the record had none.';
COMMENT ON COLUMN gold.customers.senior_citizen IS 'silver senior_citizen (Yes/No, 1/0, true/false normalised; false when missing).';
COMMENT ON COLUMN gold.customers.partner IS 'silver partner (normalised yes/no; false when missing).';
COMMENT ON COLUMN gold.customers.dependents IS 'silver dependents (normalised yes/no; false when missing).';
COMMENT ON COLUMN gold.customers.tenure IS 'Months as a customer (silver tenure; 0 when missing).';
COMMENT ON COLUMN gold.customers.tenure_band IS 'Tenure band in months: 0-12, 13-24, 25-48, 49-72, 73+ (tenure 0 is in 0-12).';
COMMENT ON COLUMN gold.customers.phone_service IS 'silver phone_service (normalised yes/no; false when missing).';
COMMENT ON COLUMN gold.customers.internet_service IS 'silver internet_service: DSL, Fiber optic, No, or Unknown when missing.';
COMMENT ON COLUMN gold.customers.contract IS 'silver contract: Month-to-month, One year, Two year, or Unknown when missing.';
COMMENT ON COLUMN gold.customers.monthly_charges IS 'silver monthly_charges rounded to cents.';
COMMENT ON COLUMN gold.customers.total_charges IS 'silver total_charges rounded to cents; when the record had none (e.g. Telco TotalCharges blank for tenure 0) it is monthly_charges × tenure.';
COMMENT ON COLUMN gold.customers.total_charges_imputed IS 'true when total_charges was missing/blank in the record and computed as monthly_charges × tenure.';
COMMENT ON COLUMN gold.customers.churn IS 'Churned (Telco Churn label); NULL when unknown: streamed versions do not carry it, so a streamed update of a Telco customer makes it unknown.';
COMMENT ON COLUMN gold.customers.first_name IS 'PII. First name; masked to its initial and a dot (e.g. "A.") unless GOLD_SHOW_PII=true; NULL when unknown.';
COMMENT ON COLUMN gold.customers.last_name IS 'PII. Last name; masked to its initial and a dot unless GOLD_SHOW_PII=true; NULL when unknown.';
COMMENT ON COLUMN gold.customers.email IS 'PII. E-mail address when valid (see email_valid), masked as first character of the local part + "***@" + domain (e.g. "a***@example.com") unless GOLD_SHOW_PII=true; NULL when missing or invalid.';
COMMENT ON COLUMN gold.customers.email_valid IS 'true when the record had an e-mail that looks like an address (silver email_valid); invalid addresses stay in silver only.';
COMMENT ON COLUMN gold.customers.updated_at IS 'When this version became current (silver updated_at, UTC); for Telco CSV rows, the ingestion time of the file.';
COMMENT ON COLUMN gold.customers.source_file IS 'Bronze file of this version (silver source_file).';
COMMENT ON COLUMN gold.customers.ingested_at IS 'When that file was ingested (silver ingested_at).';

-- @select
SELECT
  customer_id, gender, senior_citizen, partner, dependents, tenure,
  gold_state.customers__tenure_band(tenure) AS tenure_band,
  phone_service, internet_service, contract,
  round(monthly_charges::numeric, 2) AS monthly_charges,
  round(total_charges::numeric, 2) AS total_charges,
  total_charges_imputed, churn,
  gold_state.customers__name(first_name) AS first_name,
  gold_state.customers__name(last_name) AS last_name,
  gold_state.customers__email(email, email_valid) AS email,
  email_valid, updated_at, source_file, ingested_at
FROM silver.customers
