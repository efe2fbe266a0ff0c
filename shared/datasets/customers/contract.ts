import { customersLatenessMinutes } from '../../config';
import type { Contract, Dedup } from '../../contracts/contract';

/**
 * Telco customers (seed 002): the Event Hubs stream (gzip JSON-lines batches written by the
 * `customersFromEventHub` consumer, or by `medallion produce customers --to bronze`) and the IBM
 * Telco churn CSV export, both under bronze `customers/`. The file name picks the reader
 * (`.csv` → CSV with a header, anything else → JSON lines; see resolveFormat in
 * shared/engine/compile.ts). Silver `customers` holds the current version of every customer:
 * latest `updated_at` wins, an older version arriving later never overwrites a newer one.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

/**
 * A yes/no column: Yes/No, Y/N, true/false, T/F, 1/0 (any case) and Telco's "No phone service" /
 * "No internet service" (= no). Missing or blank → `missing`; anything else → NULL (quarantined
 * by the column's `valid_*` expectation).
 */
function yesNo(col: string, missing: 'false' | 'NULL'): string {
  const v = `lower(${text(col)})`;
  return (
    `CASE WHEN ${text(col)} IS NULL THEN ${missing} ` +
    `WHEN ${v} IN ('yes', 'y', 'true', 't', '1', '1.0') THEN true ` +
    `WHEN ${v} IN ('no', 'n', 'false', 'f', '0', '0.0', 'no phone service', 'no internet service') THEN false END`
  );
}

/** Whole number of months; blank → 0; not a whole number → NULL. */
const TENURE = `CASE WHEN ${text('tenure')} IS NULL THEN 0 WHEN regexp_full_match(trim(tenure), '[+-]?[0-9]+(\\.0+)?') THEN try_cast(trim(tenure) AS INTEGER) END`;
const MONTHLY = `try_cast(${text('monthly_charges')} AS DOUBLE)`;

const dedup = {
  mode: 'latest',
  key: ['customer_id'],
  idColumn: 'customer_key',
  orderBy: 'updated_at',
  /**
   * Lateness window (minutes, CUSTOMERS_LATENESS_MINUTES, default 10): a record whose
   * updated_at is more than this behind the newest updated_at silver held before its file is
   * counted as late (ledger warning `late_records`); it is applied all the same.
   * Not (yet) part of the Dedup type: read by shared/db/silverLoad.ts.
   */
  lateAfterMinutes: () => customersLatenessMinutes(),
} satisfies Dedup & { lateAfterMinutes: () => number };

const customers: Contract = {
  name: 'customers',
  description:
    'Telco customers, current version of each (latest updated_at wins), from the customers event stream and Telco churn CSV exports.',
  bronzePrefix: 'customers/',
  format: { type: 'jsonl' },
  source: [
    { name: 'customer_id', aliases: ['customerID', 'customerId'] },
    { name: 'gender', aliases: ['Gender'] },
    { name: 'senior_citizen', aliases: ['SeniorCitizen'] },
    { name: 'partner', aliases: ['Partner'] },
    { name: 'dependents', aliases: ['Dependents'] },
    { name: 'tenure', aliases: ['Tenure'] },
    { name: 'phone_service', aliases: ['PhoneService'] },
    { name: 'internet_service', aliases: ['InternetService'] },
    { name: 'contract', aliases: ['Contract'] },
    { name: 'monthly_charges', aliases: ['MonthlyCharges'] },
    { name: 'total_charges', aliases: ['TotalCharges'] },
    // Not in the Telco export: optional for CSV files (defaults below).
    { name: 'updated_at', aliases: ['updatedAt'], required: false },
    { name: 'first_name', aliases: ['firstName'], required: false },
    { name: 'last_name', aliases: ['lastName'], required: false },
    { name: 'email', aliases: ['Email', 'e_mail'], required: false },
    // Telco only: the churn label (unknown for streamed records).
    { name: 'churn', aliases: ['Churn'], required: false },
  ],
  typed: [
    { name: 'customer_id', type: 'string', sql: text('customer_id'), description: 'Customer identifier (Telco customerID), trimmed.' },
    {
      name: 'gender',
      type: 'string',
      sql: `CASE lower(${text('gender')}) WHEN 'female' THEN 'Female' WHEN 'f' THEN 'Female' WHEN 'male' THEN 'Male' WHEN 'm' THEN 'Male' ELSE coalesce(${text('gender')}, 'Unknown') END`,
      description: "Female or Male (F/M and any case accepted); 'Unknown' when missing; other values kept as sent.",
    },
    { name: 'senior_citizen', type: 'boolean', sql: yesNo('senior_citizen', 'false'), description: 'Senior citizen (Yes/No, 1/0, true/false); false when missing.' },
    { name: 'partner', type: 'boolean', sql: yesNo('partner', 'false'), description: 'Has a partner; false when missing.' },
    { name: 'dependents', type: 'boolean', sql: yesNo('dependents', 'false'), description: 'Has dependents; false when missing.' },
    { name: 'tenure', type: 'int', sql: TENURE, description: 'Months as a customer (whole number); 0 when missing.' },
    { name: 'phone_service', type: 'boolean', sql: yesNo('phone_service', 'false'), description: 'Has phone service; false when missing.' },
    {
      name: 'internet_service',
      type: 'string',
      sql: `CASE lower(${text('internet_service')}) WHEN 'dsl' THEN 'DSL' WHEN 'fiber optic' THEN 'Fiber optic' WHEN 'no' THEN 'No' ELSE coalesce(${text('internet_service')}, 'Unknown') END`,
      description: "Internet service: DSL, Fiber optic or No (any case accepted); 'Unknown' when missing.",
    },
    {
      name: 'contract',
      type: 'string',
      sql: `CASE lower(${text('contract')}) WHEN 'month-to-month' THEN 'Month-to-month' WHEN 'one year' THEN 'One year' WHEN 'two year' THEN 'Two year' ELSE coalesce(${text('contract')}, 'Unknown') END`,
      description: "Contract type: Month-to-month, One year or Two year (any case accepted); 'Unknown' when missing.",
    },
    { name: 'monthly_charges', type: 'double', sql: MONTHLY, description: 'Monthly charge amount (required: no sensible default).' },
    {
      name: 'total_charges',
      type: 'double',
      sql: `CASE WHEN ${text('total_charges')} IS NULL THEN round(${MONTHLY} * (${TENURE}), 2) ELSE try_cast(${text('total_charges')} AS DOUBLE) END`,
      description: 'Total charges; when missing or blank (e.g. Telco customers with tenure 0) monthly_charges × tenure, rounded to cents.',
    },
    {
      name: 'total_charges_imputed',
      type: 'boolean',
      sql: `${text('total_charges')} IS NULL`,
      description: 'true when total_charges was missing/blank and computed as monthly_charges × tenure.',
    },
    {
      name: 'updated_at',
      type: 'timestamp',
      sql:
        `CASE WHEN ${text('updated_at')} IS NULL THEN {{run_started_at}} ` +
        `WHEN regexp_full_match(trim(updated_at), '[0-9]{13}') THEN epoch_ms(CAST(trim(updated_at) AS BIGINT)) ` +
        `WHEN regexp_full_match(trim(updated_at), '[0-9]{9,10}(\\.[0-9]+)?') THEN CAST(to_timestamp(CAST(trim(updated_at) AS DOUBLE)) AS TIMESTAMP) ` +
        `ELSE CAST(try_cast(trim(updated_at) AS TIMESTAMPTZ) AS TIMESTAMP) END`,
      description:
        'When this version of the customer was current (UTC; ISO-8601 with or without offset, or epoch seconds/milliseconds). ' +
        'Missing (the Telco CSV has no such column): the ingestion time of the file, i.e. a CSV export is a snapshot as of its load.',
    },
    { name: 'first_name', type: 'string', sql: text('first_name'), description: 'First name; NULL when missing.', pii: true },
    { name: 'last_name', type: 'string', sql: text('last_name'), description: 'Last name; NULL when missing.', pii: true },
    {
      name: 'email',
      type: 'string',
      sql: `lower(${text('email')})`,
      description: 'E-mail address, trimmed and lower-cased, kept as sent (see email_valid); NULL when missing.',
      pii: true,
    },
    { name: 'churn', type: 'boolean', sql: yesNo('churn', 'NULL'), description: 'Churned (Telco Churn label); NULL when unknown (streamed records do not carry it).' },
  ],
  expectations: [
    { name: 'valid_customer_id', check: 'customer_id IS NOT NULL AND length(customer_id) <= 64', action: 'drop', description: 'customer_id is present (at most 64 characters).' },
    { name: 'valid_updated_at', check: 'updated_at IS NOT NULL', action: 'drop', description: 'updated_at, when given, parses as a timestamp.' },
    { name: 'valid_senior_citizen', check: 'senior_citizen IS NOT NULL', action: 'drop', description: 'senior_citizen is a yes/no value.' },
    { name: 'valid_partner', check: 'partner IS NOT NULL', action: 'drop', description: 'partner is a yes/no value.' },
    { name: 'valid_dependents', check: 'dependents IS NOT NULL', action: 'drop', description: 'dependents is a yes/no value.' },
    { name: 'valid_phone_service', check: 'phone_service IS NOT NULL', action: 'drop', description: 'phone_service is a yes/no value.' },
    { name: 'valid_tenure', check: 'tenure BETWEEN 0 AND 1200', action: 'drop', description: 'tenure is a whole number of months between 0 and 1200.' },
    {
      name: 'valid_monthly_charges',
      check: 'monthly_charges >= 0 AND monthly_charges < 100000',
      action: 'drop',
      description: 'monthly_charges is present and a number between 0 and 100,000.',
    },
    { name: 'valid_total_charges', check: 'total_charges >= 0', action: 'drop', description: 'total_charges, when given, is a non-negative number.' },
    {
      name: 'valid_email',
      check: "email IS NULL OR regexp_full_match(email, '[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}')",
      action: 'warn',
      description: 'The e-mail, when given, looks like an address (kept either way: a bad address must not lose the customer update; counted).',
    },
    {
      name: 'known_contract',
      check: "contract IN ('Month-to-month', 'One year', 'Two year')",
      action: 'warn',
      description: 'The contract type is one of the three Telco types (kept either way; counted).',
    },
  ],
  dedup,
  derived: [
    {
      name: 'email_valid',
      type: 'boolean',
      sql: "email IS NOT NULL AND regexp_full_match(email, '[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}')",
      description: 'true when the e-mail is present and looks like an address (same rule as the valid_email expectation).',
    },
    { name: 'year', type: 'int', sql: 'CAST(year(updated_at) AS INTEGER)', description: 'Year of updated_at (UTC); silver lake partition.' },
    { name: 'month', type: 'int', sql: 'CAST(month(updated_at) AS INTEGER)', description: 'Month 1-12 of updated_at (UTC); silver lake partition.' },
    { name: 'day', type: 'int', sql: 'CAST(day(updated_at) AS INTEGER)', description: 'Day of month of updated_at (UTC); silver lake partition.' },
    { name: 'hour', type: 'int', sql: 'CAST(hour(updated_at) AS INTEGER)', description: 'Hour 0-23 of updated_at (UTC); silver lake partition.' },
  ],
  partitionBy: ['year', 'month', 'day', 'hour'],
  rangeColumn: 'updated_at',
};

export default customers;
