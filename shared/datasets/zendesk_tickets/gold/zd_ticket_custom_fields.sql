-- core.zd_ticket_custom_fields: every entry of every ticket's custom_fields array (Zendesk), one row
-- each, named and typed from the ticket fields endpoint (core.zd_ticket_fields). Nothing is dropped:
-- a value whose field is unknown (not extracted yet, or deleted) keeps its row with a NULL title; an
-- entry whose id is not an integer keeps its row with a NULL field_id; a repeated field id keeps
-- every entry, the later ones flagged.
-- Keyed on the ticket: after a file, only the tickets it changed are recomputed (a change of the
-- ticket fields recomputes the table in full).
-- @keyed: core.zd_tickets (scope, ticket_id)

-- @ddl
CREATE TABLE core.zd_ticket_custom_fields (
  scope         text COLLATE "C" NOT NULL,
  ticket_id     bigint NOT NULL,
  position      integer NOT NULL,
  field_id      bigint,
  is_repeat     boolean NOT NULL,
  field_title   text,
  field_type    text,
  value         jsonb  NOT NULL,
  value_text    text,
  value_number  numeric,
  value_boolean boolean,
  value_date    date,
  PRIMARY KEY (scope, ticket_id, position)
);
CREATE INDEX zd_ticket_custom_fields_field_idx ON core.zd_ticket_custom_fields (scope, field_id);

COMMENT ON TABLE core.zd_ticket_custom_fields IS 'Side table of core.zd_tickets (seed 004 core schema): one row per entry of $.custom_fields (an array of {id, value}) of each ticket''s latest version, never dropped: a value whose field is not in core.zd_ticket_fields keeps its row with NULL field_title/field_type, an entry without an integer id (or that is no object) keeps its row with a NULL field_id, and a field id the ticket repeats keeps every entry (is_repeat true on the later ones). One value per ticket and field: WHERE NOT is_repeat AND field_id IS NOT NULL.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.scope IS 'Account (core.zd_tickets.scope).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.ticket_id IS 'The ticket (core.zd_tickets.ticket_id).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.position IS 'Position of the entry in $.custom_fields (1-based): with scope and ticket_id, the key; core.zd_tickets.custom_fields -> (position - 1) is the entry as the API wrote it.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_id IS '$.custom_fields[position].id: the ticket field (core.zd_ticket_fields.field_id); NULL when the entry has no JSON integer id (the entry stays readable in core.zd_tickets.custom_fields).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.is_repeat IS 'true when an earlier entry of the same ticket has the same field_id (the API should not repeat one; the first is the one to read).';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_title IS 'core.zd_ticket_fields.title of the field (its name as agents see it); NULL when the field is unknown.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.field_type IS 'core.zd_ticket_fields.type of the field (text, tagger, checkbox, integer, decimal, date, …); NULL when the field is unknown.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value IS '$.custom_fields[position].value exactly as the API wrote it (JSON null when empty or absent; numbers exact, ids beyond 2^53 included); for an entry that is not an object, the entry itself.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_text IS 'The value as text when it is a JSON string, number (its exact decimal) or boolean; NULL for null, arrays (multiselect) and objects.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_number IS 'The value as an exact decimal when it is a JSON number, or, for an integer or decimal field, a JSON string holding a decimal (gold_state.text_numeric: Zendesk writes those fields'' values as strings); NULL otherwise.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_boolean IS 'The value of a checkbox field (JSON true/false); NULL otherwise.';
COMMENT ON COLUMN core.zd_ticket_custom_fields.value_date IS 'The value of a date field when it is a valid ''YYYY-MM-DD'' string; NULL otherwise.';

-- @select
SELECT t.scope,
       t.ticket_id,
       f.n::integer AS position,
       f.field_id,
       (f.field_id IS NOT NULL AND row_number() OVER (PARTITION BY t.scope, t.ticket_id, f.field_id ORDER BY f.n) > 1) AS is_repeat,
       d.title AS field_title,
       d.type AS field_type,
       f.value,
       gold_state.jsonb_scalar_text(f.value) AS value_text,
       coalesce(gold_state.jsonb_numeric(f.value), CASE WHEN d.type IN ('integer', 'decimal') THEN gold_state.text_numeric(gold_state.jsonb_text(f.value)) END) AS value_number,
       CASE WHEN d.type = 'checkbox' THEN gold_state.jsonb_bool(f.value) END AS value_boolean,
       CASE WHEN d.type = 'date' THEN gold_state.jsonb_date(f.value) END AS value_date
FROM core.zd_tickets t
CROSS JOIN LATERAL (
  SELECT e.n,
         gold_state.jsonb_bigint(e.item -> 'id') AS field_id,
         CASE WHEN jsonb_typeof(e.item) = 'object' THEN coalesce(e.item -> 'value', 'null'::jsonb) ELSE e.item END AS value
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.custom_fields) = 'array' THEN t.custom_fields ELSE '[]'::jsonb END) WITH ORDINALITY AS e(item, n)
) f
LEFT JOIN core.zd_ticket_fields d ON d.scope = t.scope AND d.field_id = f.field_id
