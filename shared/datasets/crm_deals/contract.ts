import type { Contract } from '../../contracts/contract';

/**
 * CRM deals (seed 000, Maven Analytics "CRM + Sales Opportunities" `sales_pipeline.csv`): one row
 * per sales opportunity, bronze `crm/sales_pipeline/` → silver `crm_deals`. A deal moves through
 * Prospecting → Engaging → Won / Lost, and each pipeline export is a snapshot of every deal: silver
 * keeps the latest version of each opportunity (a later export updates its stage, dates and value).
 *
 * The real export's defects, handled here: the product 'GTXPro' (1,480 rows) is products.csv's
 * 'GTX Pro'; `account` is blank on 1,425 open deals (allowed while the deal is open, NULL in
 * silver); `engage_date` is blank for Prospecting deals; `close_date` / `close_value` are blank
 * for open deals. `account`, `product` and `sales_agent` reference the CRM dimensions: a value the
 * dimension does not hold (yet) is kept and counted as `unresolved_<column>`.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

/** ISO date (YYYY-MM-DD) → DATE; NULL when it does not parse. */
const date = (col: string) => `CAST(try_strptime(${text(col)}, '%Y-%m-%d') AS DATE)`;

const STAGES = ['Prospecting', 'Engaging', 'Won', 'Lost'];

const crmDeals: Contract = {
  name: 'crm_deals',
  description:
    'CRM sales opportunities (deals), current version of each: the latest pipeline export wins (snapshot_at = when its file was ingested). Natural key: opportunity_id.',
  bronzePrefix: 'crm/sales_pipeline/',
  format: { type: 'csv' },
  source: [
    { name: 'opportunity_id' },
    { name: 'sales_agent' },
    { name: 'product' },
    { name: 'account' },
    { name: 'deal_stage' },
    { name: 'engage_date' },
    { name: 'close_date' },
    { name: 'close_value' },
  ],
  typed: [
    { name: 'opportunity_id', type: 'string', sql: text('opportunity_id'), description: "Opportunity identifier (8 characters, e.g. '1C1I7A6R'), trimmed: the natural key." },
    {
      name: 'sales_agent',
      type: 'string',
      sql: text('sales_agent'),
      description: 'Sales agent who owns the deal, trimmed; references crm_sales_teams.sales_agent (an agent not there is kept and counted as unresolved_sales_agent).',
    },
    {
      name: 'product',
      type: 'string',
      sql: `CASE ${text('product')} WHEN 'GTXPro' THEN 'GTX Pro' ELSE ${text('product')} END`,
      description:
        "Product sold, trimmed, in products.csv's spelling: the pipeline export's 'GTXPro' is normalised to 'GTX Pro'. References crm_products.product (a product not there is kept and counted as unresolved_product).",
    },
    {
      name: 'account',
      type: 'string',
      sql: text('account'),
      description:
        'Customer company, trimmed; NULL when blank, which is allowed only while the deal is open (Prospecting or Engaging: the account is not known yet). References crm_accounts.account (an account not there is kept and counted as unresolved_account).',
    },
    {
      name: 'deal_stage',
      type: 'string',
      sql: `CASE lower(${text('deal_stage')}) WHEN 'prospecting' THEN 'Prospecting' WHEN 'engaging' THEN 'Engaging' WHEN 'won' THEN 'Won' WHEN 'lost' THEN 'Lost' ELSE ${text('deal_stage')} END`,
      description: 'Pipeline stage: Prospecting, Engaging (open) or Won, Lost (closed); any case accepted, written capitalised.',
    },
    {
      name: 'engage_date',
      type: 'date',
      sql: date('engage_date'),
      description: 'Date the deal entered the Engaging stage (YYYY-MM-DD); NULL only for Prospecting deals (not engaged yet).',
    },
    {
      name: 'close_date',
      type: 'date',
      sql: date('close_date'),
      description: 'Date the deal was Won or Lost (YYYY-MM-DD); NULL exactly while the deal is open (Prospecting, Engaging).',
    },
    {
      name: 'close_value',
      type: 'decimal(14,2)',
      sql: `try_cast(${text('close_value')} AS DECIMAL(14,2))`,
      description: 'Revenue from the deal in US dollars, exact: the amount won for Won deals, 0 for Lost deals (as the CRM records them); NULL exactly while the deal is open.',
    },
    {
      name: 'snapshot_at',
      type: 'timestamp',
      sql: '{{run_started_at}}',
      from: null,
      description:
        'When the pipeline export this version came from was ingested (UTC). The export carries no modification time, so each export is a snapshot as of its load and the latest one wins: a later export moves a deal to its new stage (re-sending an OLDER export after a newer one makes it current again).',
    },
  ],
  expectations: [
    { name: 'valid_opportunity_id', check: 'opportunity_id IS NOT NULL', action: 'drop', description: 'The opportunity id (the natural key) is present.' },
    { name: 'valid_deal_stage', check: `deal_stage IN (${STAGES.map((s) => `'${s}'`).join(', ')})`, action: 'drop', description: 'deal_stage is Prospecting, Engaging, Won or Lost.' },
    { name: 'valid_sales_agent', check: 'sales_agent IS NOT NULL', action: 'drop', description: 'The deal has a sales agent.' },
    { name: 'valid_product', check: 'product IS NOT NULL', action: 'drop', description: 'The deal names a product.' },
    {
      name: 'account_when_closed',
      check: "account IS NOT NULL OR deal_stage IN ('Prospecting', 'Engaging')",
      action: 'drop',
      description: 'The account may be blank only while the deal is open (Prospecting, Engaging); a Won or Lost deal without one is quarantined.',
    },
    {
      name: 'engage_date_when_engaged',
      check: "engage_date IS NOT NULL OR deal_stage = 'Prospecting'",
      action: 'drop',
      description: 'engage_date is present unless the deal is still Prospecting.',
    },
    {
      name: 'close_when_closed',
      check: "deal_stage NOT IN ('Won', 'Lost') OR (close_date IS NOT NULL AND close_value IS NOT NULL)",
      action: 'drop',
      description: 'A Won or Lost deal has a close_date and a close_value.',
    },
    {
      name: 'open_not_closed',
      check: "deal_stage IN ('Won', 'Lost') OR (close_date IS NULL AND close_value IS NULL)",
      action: 'drop',
      description: 'An open deal (Prospecting, Engaging) has neither a close_date nor a close_value.',
    },
    { name: 'non_negative_close_value', check: 'close_value IS NULL OR close_value >= 0', action: 'drop', description: 'close_value, when present, is not negative.' },
    {
      name: 'close_after_engage',
      check: 'close_date IS NULL OR engage_date IS NULL OR close_date >= engage_date',
      action: 'warn',
      description: 'The deal did not close before it was engaged (kept either way; counted).',
    },
  ],
  references: [
    { column: 'account', dataset: 'crm_accounts', key: 'account' },
    { column: 'product', dataset: 'crm_products', key: 'product' },
    { column: 'sales_agent', dataset: 'crm_sales_teams', key: 'sales_agent' },
  ],
  dedup: { mode: 'latest', key: ['opportunity_id'], idColumn: 'deal_key', orderBy: 'snapshot_at' },
  derived: [],
  partitionBy: [],
  rangeColumn: 'snapshot_at',
};

export default crmDeals;
