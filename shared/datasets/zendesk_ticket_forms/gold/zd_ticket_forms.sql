-- core.zd_ticket_forms: Zendesk ticket forms.
-- The latest version of each record of stg_zendesk.ticket_forms_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_ticket_forms (
  scope            text COLLATE "C" NOT NULL,
  form_id          bigint NOT NULL,
  name             text,
  is_active        boolean,
  is_default       boolean,
  position         bigint,
  ticket_field_ids bigint[],
  created_at       timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, form_id)
);

COMMENT ON TABLE core.zd_ticket_forms IS 'Dimension of the core star schema (seed 004): Zendesk ticket forms. One row per (scope, form_id): the latest version of each record in stg_zendesk.ticket_forms_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_ticket_forms.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_ticket_forms.form_id IS 'Zendesk ticket form id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_ticket_forms.name IS '$.name.';
COMMENT ON COLUMN core.zd_ticket_forms.is_active IS '$.active.';
COMMENT ON COLUMN core.zd_ticket_forms.is_default IS '$.default: the account''s default form.';
COMMENT ON COLUMN core.zd_ticket_forms.position IS '$.position.';
COMMENT ON COLUMN core.zd_ticket_forms.ticket_field_ids IS '$.ticket_field_ids: the fields on the form, in order (core.zd_ticket_fields).';
COMMENT ON COLUMN core.zd_ticket_forms.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_ticket_forms.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_ticket_forms.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_ticket_forms.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_ticket_forms.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS form_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_bool(s.record -> 'active') AS is_active,
       gold_state.jsonb_bool(s.record -> 'default') AS is_default,
       gold_state.jsonb_bigint(s.record -> 'position') AS position,
       gold_state.jsonb_bigint_array(s.record -> 'ticket_field_ids') AS ticket_field_ids,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.ticket_forms_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
