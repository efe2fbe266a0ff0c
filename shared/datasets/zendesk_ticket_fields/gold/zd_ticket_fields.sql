-- core.zd_ticket_fields: Zendesk ticket fields (system and custom): names the values in core.zd_ticket_custom_fields.
-- The latest version of each record of stg_zendesk.ticket_fields_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_ticket_fields (
  scope            text COLLATE "C" NOT NULL,
  field_id         bigint NOT NULL,
  type             text,
  title            text,
  is_active        boolean,
  is_required      boolean,
  position         bigint,
  created_at       timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, field_id)
);

COMMENT ON TABLE core.zd_ticket_fields IS 'Dimension of the core star schema (seed 004): Zendesk ticket fields (system and custom): names the values in core.zd_ticket_custom_fields. One row per (scope, field_id): the latest version of each record in stg_zendesk.ticket_fields_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_ticket_fields.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_ticket_fields.field_id IS 'Zendesk ticket field id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_ticket_fields.type IS '$.type: text, tagger, checkbox, integer, decimal, date, … (how values are written).';
COMMENT ON COLUMN core.zd_ticket_fields.title IS '$.title: the field''s name as agents see it.';
COMMENT ON COLUMN core.zd_ticket_fields.is_active IS '$.active: false once the field was deactivated or deleted.';
COMMENT ON COLUMN core.zd_ticket_fields.is_required IS '$.required.';
COMMENT ON COLUMN core.zd_ticket_fields.position IS '$.position: order on the ticket form.';
COMMENT ON COLUMN core.zd_ticket_fields.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_ticket_fields.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_ticket_fields.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_ticket_fields.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_ticket_fields.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS field_id,
       gold_state.jsonb_text(s.record -> 'type') AS type,
       gold_state.jsonb_text(s.record -> 'title') AS title,
       gold_state.jsonb_bool(s.record -> 'active') AS is_active,
       gold_state.jsonb_bool(s.record -> 'required') AS is_required,
       gold_state.jsonb_bigint(s.record -> 'position') AS position,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.ticket_fields_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
