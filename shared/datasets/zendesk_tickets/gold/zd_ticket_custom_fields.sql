-- core.zd_ticket_custom_fields: every custom field value of every ticket (Zendesk's custom_fields
-- array), one row each, named and typed from the ticket fields endpoint (core.zd_ticket_fields).
-- A value whose field is unknown (not extracted yet, or deleted) keeps its row, with a NULL title.
-- Keyed on the ticket: after a file, only the tickets it changed are recomputed (a change of the
-- ticket fields recomputes the table in full).
-- @keyed: core.zd_tickets (scope, ticket_id)

-- @ddl
CREATE TABLE core.zd_ticket_custom_fields (
  scope         text COLLATE "C" NOT NULL,
  ticket_id     bigint NOT NULL,
  field_id      bigint NOT NULL,
  field_title   text,
  field_type    text,
  value         jsonb  NOT NULL,
  value_text    text,
  value_number  numeric,
  value_boolean boolean,
  value_date    date,
  PRIMARY KEY (scope, ticket_id, field_id)
);
CREATE INDEX zd_ticket_custom_fields_field_idx ON core.zd_ticket_custom_fields (scope, field_id);

COMMENT ON TABLE core.zd_ticket_custom_fields IS 'Side table of core.zd_tickets (seed 004 core schema): one row per (ticket, custom field) of each ticket''s latest version, $.custom_fields[*] = {id, value}, never dropped: a value whose field is not in core.zd_ticket_fields keeps its row with NULL field_title/field_type. When a ticket repeats a field id, its first entry is kept; an entry without an integer id names no field and is left out (it stays in core.zd_tickets.custom_fields).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.scope IS 'Account (core.zd_tickets.scope).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.ticket_id IS 'The ticket (core.zd_tickets.ticket_id).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_id IS '$.custom_fields[*].id: the ticket field (core.zd_ticket_fields.field_id).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_title IS 'core.zd_ticket_fields.title of the field (its name as agents see it); NULL when the field is unknown.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_type IS 'core.zd_ticket_fields.type of the field (text, tagger, checkbox, integer, decimal, date, …); NULL when the field is unknown.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value IS '$.custom_fields[*].value exactly as the API wrote it (JSON null when empty; numbers exact, ids beyond 2^53 included).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_text IS 'The value as text when it is a JSON string, number (its exact decimal) or boolean; NULL for null, arrays (multiselect) and objects.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_number IS 'The value as an exact decimal when it is a JSON number, or, for an integer or decimal field, a JSON string holding a decimal (gold_state.text_numeric: Zendesk writes those fields'' values as strings); NULL otherwise.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_boolean IS 'The value of a checkbox field (JSON true/false); NULL otherwise.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_date IS 'The value of a date field when it is a valid ''YYYY-MM-DD'' string; NULL otherwise.';

-- @select
SELECT DISTINCT ON (t.scope, t.ticket_id, gold_state.jsonb_bigint(f.item -> 'id'))
       t.scope,
       t.ticket_id,
       gold_state.jsonb_bigint(f.item -> 'id') AS field_id,
       d.title AS field_title,
       d.type AS field_type,
       coalesce(f.item -> 'value', 'null'::jsonb) AS value,
       gold_state.jsonb_scalar_text(f.item -> 'value') AS value_text,
       coalesce(gold_state.jsonb_numeric(f.item -> 'value'), CASE WHEN d.type IN ('integer', 'decimal') THEN gold_state.text_numeric(gold_state.jsonb_text(f.item -> 'value')) END) AS value_number,
       CASE WHEN d.type = 'checkbox' THEN gold_state.jsonb_bool(f.item -> 'value') END AS value_boolean,
       CASE WHEN d.type = 'date' THEN gold_state.jsonb_date(f.item -> 'value') END AS value_date
FROM core.zd_tickets t
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.custom_fields) = 'array' THEN t.custom_fields ELSE '[]'::jsonb END) WITH ORDINALITY AS f(item, n)
LEFT JOIN core.zd_ticket_fields d ON d.scope = t.scope AND d.field_id = gold_state.jsonb_bigint(f.item -> 'id')
WHERE gold_state.jsonb_bigint(f.item -> 'id') IS NOT NULL
ORDER BY t.scope, t.ticket_id, gold_state.jsonb_bigint(f.item -> 'id'), f.n
