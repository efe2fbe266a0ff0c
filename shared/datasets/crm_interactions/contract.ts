import type { Contract } from '../../contracts/contract';

/**
 * CRM interactions (seed 000): the activity log of the sales team with each account (calls,
 * e-mails, WhatsApp messages, meetings) and how each went, bronze `crm/interactions/` → silver
 * `crm_interactions`. Append-only: an interaction is recorded once (the first occurrence of an
 * interaction_id wins; a re-exported one is a duplicate). The Maven CRM export has no such table:
 * shared/samples/crmInteractions.ts generates one, correlated with the real deals' outcomes. `account` and `sales_agent` reference the CRM dimensions: a value the
 * dimension does not hold (yet) is kept and counted as `unresolved_<column>`.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

const TIME_FORMATS = `['%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%d %H:%M:%S UTC']`;

const crmInteractions: Contract = {
  name: 'crm_interactions',
  description: 'CRM interactions with accounts (call, email, whatsapp, meeting) and their outcome, append-only. Natural key: interaction_id.',
  bronzePrefix: 'crm/interactions/',
  format: { type: 'csv' },
  source: [
    { name: 'interaction_id' },
    { name: 'account' },
    { name: 'sales_agent' },
    { name: 'channel' },
    { name: 'interaction_time' },
    { name: 'duration_minutes' },
    { name: 'outcome' },
    { name: 'response_time_hours' },
  ],
  typed: [
    { name: 'interaction_id', type: 'string', sql: text('interaction_id'), description: "Interaction identifier (e.g. 'INT0000001'), trimmed: the natural key." },
    {
      name: 'account',
      type: 'string',
      sql: text('account'),
      description: 'Account (company) the interaction was with, trimmed; references crm_accounts.account (a name not there is kept and counted as unresolved_account).',
    },
    {
      name: 'sales_agent',
      type: 'string',
      sql: text('sales_agent'),
      description: 'Sales agent who had the interaction, trimmed; references crm_sales_teams.sales_agent (an agent not there is kept and counted as unresolved_sales_agent).',
    },
    { name: 'channel', type: 'string', sql: `lower(${text('channel')})`, description: 'How: call, email, whatsapp or meeting (lower-cased, trimmed).' },
    {
      name: 'interaction_time',
      type: 'timestamp',
      sql: `try_strptime(${text('interaction_time')}, ${TIME_FORMATS})`,
      description: 'When the interaction started, UTC (source text YYYY-MM-DD HH:MM:SS, ISO-8601 also accepted).',
    },
    {
      name: 'duration_minutes',
      type: 'int',
      sql: `try_cast(${text('duration_minutes')} AS INTEGER)`,
      description: 'Length in whole minutes: the talk or meeting time for calls and meetings; 0 for e-mail and WhatsApp messages.',
    },
    { name: 'outcome', type: 'string', sql: `lower(${text('outcome')})`, description: "How it went, as the agent logged it: positive, neutral or negative (lower-cased)." },
    {
      name: 'response_time_hours',
      type: 'decimal(8,2)',
      sql: `try_cast(${text('response_time_hours')} AS DECIMAL(8,2))`,
      description: 'Hours from the interaction until the customer responded (to the hundredth of an hour); NULL when the customer did not respond.',
    },
  ],
  expectations: [
    { name: 'valid_interaction_id', check: 'interaction_id IS NOT NULL', action: 'drop', description: 'The interaction id (the natural key) is present.' },
    { name: 'valid_interaction_time', check: 'interaction_time IS NOT NULL', action: 'drop', description: 'interaction_time is present and parses as a time.' },
    { name: 'valid_account', check: 'account IS NOT NULL', action: 'drop', description: 'The interaction names an account.' },
    { name: 'valid_sales_agent', check: 'sales_agent IS NOT NULL', action: 'drop', description: 'The interaction names a sales agent.' },
    { name: 'valid_channel', check: "channel IN ('call', 'email', 'whatsapp', 'meeting')", action: 'drop', description: 'channel is call, email, whatsapp or meeting (a blank channel is quarantined).' },
    { name: 'valid_outcome', check: "outcome IN ('positive', 'neutral', 'negative')", action: 'drop', description: 'outcome is positive, neutral or negative.' },
    {
      name: 'valid_duration_minutes',
      check: 'duration_minutes BETWEEN 0 AND 1440',
      action: 'drop',
      description: 'duration_minutes is present and between 0 and 1,440 (one day).',
    },
    {
      name: 'valid_response_time_hours',
      check: 'response_time_hours IS NULL OR response_time_hours >= 0',
      action: 'drop',
      description: 'response_time_hours, when present, is not negative.',
    },
  ],
  references: [
    { column: 'account', dataset: 'crm_accounts', key: 'account' },
    { column: 'sales_agent', dataset: 'crm_sales_teams', key: 'sales_agent' },
  ],
  dedup: { mode: 'first', key: ['interaction_id'], idColumn: 'interaction_key' },
  derived: [{ name: 'interaction_date', type: 'date', sql: 'CAST(interaction_time AS DATE)', description: 'Date of interaction_time (UTC).' }],
  partitionBy: [],
  rangeColumn: 'interaction_time',
};

export default crmInteractions;
