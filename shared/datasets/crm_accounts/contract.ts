import type { Contract } from '../../contracts/contract';

/**
 * CRM accounts (seed 000, Maven Analytics "CRM + Sales Opportunities" `accounts.csv`): one row per
 * company, bronze `crm/accounts/` → silver `crm_accounts`. A dimension: each export is the whole
 * table as of its load, so silver keeps the latest version of each account (a re-sent file with
 * corrections replaces the rows it carries). Deals and interactions reference `account`.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

/** Sectors the CRM uses (after the typo fix); another one is kept and counted. */
const SECTORS = ['employment', 'entertainment', 'finance', 'marketing', 'medical', 'retail', 'services', 'software', 'technology', 'telecommunications'];

const crmAccounts: Contract = {
  name: 'crm_accounts',
  description:
    'CRM accounts (companies), current version of each: the latest export wins (snapshot_at = when its file was ingested). Natural key: account.',
  bronzePrefix: 'crm/accounts/',
  format: { type: 'csv' },
  source: [
    { name: 'account' },
    { name: 'sector' },
    { name: 'year_established' },
    { name: 'revenue' },
    { name: 'employees' },
    { name: 'office_location' },
    { name: 'subsidiary_of', required: false },
  ],
  typed: [
    {
      name: 'account',
      type: 'string',
      sql: text('account'),
      description: "Company name as the CRM spells it, trimmed (case kept, e.g. 'dambase'): the natural key that crm_deals.account and crm_interactions.account reference.",
    },
    {
      name: 'sector',
      type: 'string',
      sql: `CASE lower(${text('sector')}) WHEN 'technolgy' THEN 'technology' ELSE lower(${text('sector')}) END`,
      description: "Industry, lower-cased; the export's misspelling 'technolgy' is corrected to 'technology'. NULL when blank.",
    },
    {
      name: 'year_established',
      type: 'int',
      sql: `try_cast(${text('year_established')} AS INTEGER)`,
      onInvalid: 'warn',
      description: 'Year the company was established; NULL when blank or not a whole number (counted as invalid_year_established, the account is kept).',
    },
    {
      name: 'revenue',
      type: 'decimal(12,2)',
      sql: `try_cast(${text('revenue')} AS DECIMAL(12,2))`,
      onInvalid: 'warn',
      description:
        'Annual revenue in MILLIONS of US dollars (the CRM data dictionary), exact to the cent of a million: 1100.04 = USD 1,100,040,000. NULL when blank or not a number (counted as invalid_revenue, the account is kept).',
    },
    {
      name: 'employees',
      type: 'int',
      sql: `try_cast(${text('employees')} AS INTEGER)`,
      onInvalid: 'warn',
      description: 'Number of employees; NULL when blank or not a whole number (counted as invalid_employees, the account is kept).',
    },
    {
      name: 'office_location',
      type: 'string',
      sql: text('office_location'),
      description: "Headquarters country as sent, trimmed (the export's own spellings are kept, e.g. 'Philipines'); NULL when blank.",
    },
    {
      name: 'subsidiary_of',
      type: 'string',
      sql: text('subsidiary_of'),
      description: 'Parent company (an account name) when the account is a subsidiary; NULL when it is not (blank) or the column is absent.',
    },
    {
      name: 'snapshot_at',
      type: 'timestamp',
      sql: '{{run_started_at}}',
      from: null,
      description:
        'When the file this version came from was ingested (UTC). The CRM exports carry no modification time, so each export is a snapshot as of its load and the latest one wins; re-sending an OLDER export after a newer one therefore makes it current again.',
    },
  ],
  expectations: [
    { name: 'valid_account', check: 'account IS NOT NULL', action: 'drop', description: 'The account name (the natural key) is present.' },
    { name: 'known_sector', check: `sector IN (${SECTORS.map((s) => `'${s}'`).join(', ')})`, action: 'warn', description: 'The sector is one the CRM uses (kept either way; counted).' },
    {
      name: 'plausible_year_established',
      check: 'year_established IS NULL OR year_established BETWEEN 1800 AND year(snapshot_at)',
      action: 'warn',
      description: 'The year established, when known, lies between 1800 and the year of the export (kept either way; counted).',
    },
    { name: 'non_negative_revenue', check: 'revenue IS NULL OR revenue >= 0', action: 'warn', description: 'Revenue, when known, is not negative (kept either way; counted).' },
    { name: 'non_negative_employees', check: 'employees IS NULL OR employees >= 0', action: 'warn', description: 'The employee count, when known, is not negative (kept either way; counted).' },
  ],
  dedup: { mode: 'latest', key: ['account'], idColumn: 'account_key', orderBy: 'snapshot_at' },
  derived: [],
  partitionBy: [],
  rangeColumn: 'snapshot_at',
};

export default crmAccounts;
