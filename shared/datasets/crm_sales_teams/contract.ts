import type { Contract } from '../../contracts/contract';

/**
 * CRM sales teams (seed 000, Maven Analytics "CRM + Sales Opportunities" `sales_teams.csv`): one
 * row per sales agent with their manager and regional office, bronze `crm/sales_teams/` → silver
 * `crm_sales_teams`. A dimension: the latest export of each agent wins (an agent who changes
 * team is updated by the next export). crm_deals and crm_interactions reference `sales_agent`.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

const crmSalesTeams: Contract = {
  name: 'crm_sales_teams',
  description: 'CRM sales agents with their manager and regional office, current version of each: the latest export wins. Natural key: sales_agent.',
  bronzePrefix: 'crm/sales_teams/',
  format: { type: 'csv' },
  source: [{ name: 'sales_agent' }, { name: 'manager' }, { name: 'regional_office' }],
  typed: [
    {
      name: 'sales_agent',
      type: 'string',
      sql: text('sales_agent'),
      description: 'Sales agent (full name), trimmed: the natural key that crm_deals.sales_agent and crm_interactions.sales_agent reference.',
    },
    { name: 'manager', type: 'string', sql: text('manager'), description: "The agent's sales manager (full name), trimmed; NULL when blank." },
    { name: 'regional_office', type: 'string', sql: text('regional_office'), description: "The agent's regional office (Central, East or West in the export), trimmed; NULL when blank." },
    {
      name: 'snapshot_at',
      type: 'timestamp',
      sql: '{{run_started_at}}',
      from: null,
      description:
        'When the file this version came from was ingested (UTC). The exports carry no modification time, so each is a snapshot as of its load and the latest one wins (an OLDER export re-sent later becomes current again).',
    },
  ],
  expectations: [
    { name: 'valid_sales_agent', check: 'sales_agent IS NOT NULL', action: 'drop', description: 'The sales agent (the natural key) is present.' },
    { name: 'has_manager', check: 'manager IS NOT NULL', action: 'warn', description: 'The agent has a manager (kept either way; counted).' },
    { name: 'known_regional_office', check: "regional_office IN ('Central', 'East', 'West')", action: 'warn', description: 'The regional office is Central, East or West (kept either way; counted).' },
  ],
  dedup: { mode: 'latest', key: ['sales_agent'], idColumn: 'sales_agent_key', orderBy: 'snapshot_at' },
  derived: [],
  partitionBy: [],
  rangeColumn: 'snapshot_at',
};

export default crmSalesTeams;
