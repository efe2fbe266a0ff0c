-- core.pd_deal_custom_fields: every custom field value of every deal (Pipedrive's custom_fields object), one row
-- each, named and typed from the deal fields endpoint (core.pd_deal_fields). A value whose field is
-- unknown (not extracted yet) keeps its row with a NULL name: nothing is dropped.
-- Keyed on the deal: after a file, only the deals it changed are recomputed (a change of the field
-- definitions recomputes the table in full).
-- @keyed: core.pd_deals (scope, deal_id)

-- @ddl
CREATE TABLE core.pd_deal_custom_fields (
  scope         text COLLATE "C" NOT NULL,
  deal_id       bigint NOT NULL,
  field_key     text COLLATE "C" NOT NULL,
  field_name    text,
  field_type    text,
  value         jsonb  NOT NULL,
  value_text    text,
  value_number  numeric,
  currency      text,
  value_date    date,
  option_labels text[],
  PRIMARY KEY (scope, deal_id, field_key)
);
CREATE INDEX pd_deal_custom_fields_field_idx ON core.pd_deal_custom_fields (scope, field_key);

COMMENT ON TABLE core.pd_deal_custom_fields IS 'Side table of core.pd_deals (seed 004 core schema): one row per (record, custom field) of each deal''s latest version, $.custom_fields.<field key> = value, never dropped: a value whose key is not in core.pd_deal_fields keeps its row with NULL field_name/field_type.';
COMMENT ON COLUMN core.pd_deal_custom_fields.scope IS 'Account (core.pd_deals.scope).';
COMMENT ON COLUMN core.pd_deal_custom_fields.deal_id IS 'The deal (core.pd_deals.deal_id).';
COMMENT ON COLUMN core.pd_deal_custom_fields.field_key IS 'The custom field''s key in $.custom_fields (40 hexadecimal characters; core.pd_deal_fields.field_key).';
COMMENT ON COLUMN core.pd_deal_custom_fields.field_name IS 'core.pd_deal_fields.name of the field (its current name, after renames); NULL when the field is unknown.';
COMMENT ON COLUMN core.pd_deal_custom_fields.field_type IS 'core.pd_deal_fields.field_type (varchar, double, monetary, enum, set, date, …); NULL when the field is unknown.';
COMMENT ON COLUMN core.pd_deal_custom_fields.value IS 'The value exactly as the API wrote it (JSON null when empty; numbers exact): enum an option id, set an array of option ids, monetary {value, currency}.';
COMMENT ON COLUMN core.pd_deal_custom_fields.value_text IS 'The value as text when it is a JSON string, number (its exact decimal) or boolean; NULL for null, arrays and objects.';
COMMENT ON COLUMN core.pd_deal_custom_fields.value_number IS 'An exact decimal: the value when it is a JSON number, or $.value of a monetary value {value, currency} when that is a number; NULL otherwise (a string is not read as a number).';
COMMENT ON COLUMN core.pd_deal_custom_fields.currency IS '$.currency of a monetary value (ISO 4217) when it is a string; NULL otherwise.';
COMMENT ON COLUMN core.pd_deal_custom_fields.value_date IS 'The value of a date field when it is a valid ''YYYY-MM-DD'' string; NULL otherwise.';
COMMENT ON COLUMN core.pd_deal_custom_fields.option_labels IS 'Labels of the options an enum (one id, a JSON number: a string is not read as one) or set (an array of ids, or a text of comma-separated ids as API v1 wrote sets) value names, in the value''s order, from core.pd_deal_fields.options (gold_state.jsonb_option_labels); NULL for other field types or when no option matches.';

-- @select
SELECT r.scope,
       r.deal_id,
       c.key AS field_key,
       f.name AS field_name,
       f.field_type,
       c.value,
       gold_state.jsonb_scalar_text(c.value) AS value_text,
       coalesce(gold_state.jsonb_numeric(c.value), CASE WHEN jsonb_typeof(c.value) = 'object' THEN gold_state.jsonb_numeric(c.value -> 'value') END) AS value_number,
       CASE WHEN jsonb_typeof(c.value) = 'object' THEN gold_state.jsonb_text(c.value -> 'currency') END AS currency,
       CASE WHEN f.field_type = 'date' THEN gold_state.jsonb_date(c.value) END AS value_date,
       CASE WHEN (f.field_type = 'set' AND jsonb_typeof(c.value) IN ('array', 'string')) OR (f.field_type = 'enum' AND jsonb_typeof(c.value) = 'number') THEN gold_state.jsonb_option_labels(c.value, f.options) END AS option_labels
FROM core.pd_deals r
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(r.custom_fields) = 'object' THEN r.custom_fields ELSE '{}'::jsonb END) AS c(key, value)
-- One definition per key (should two fields share a key, the active one, then the lowest id).
LEFT JOIN LATERAL (SELECT d.name, d.field_type, d.options FROM core.pd_deal_fields d
                   WHERE d.scope = r.scope AND d.field_key = c.key
                   ORDER BY d.is_active DESC NULLS LAST, d.field_id LIMIT 1) f ON true
