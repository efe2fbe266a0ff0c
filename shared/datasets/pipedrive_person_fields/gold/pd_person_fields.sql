-- core.pd_person_fields: Pipedrive person fields (standard and custom): names and types the custom_fields of core.pd_persons.
-- The latest version of each record of stg_pipedrive.person_fields_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_person_fields (
  scope            text COLLATE "C" NOT NULL,
  field_id         bigint NOT NULL,
  field_key        text,
  name             text,
  field_type       text,
  options          jsonb,
  is_custom        boolean,
  is_active        boolean,
  add_time         timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, field_id)
);

COMMENT ON TABLE core.pd_person_fields IS 'Dimension of the core star schema (seed 004): Pipedrive person fields (standard and custom): names and types the custom_fields of core.pd_persons. One row per (scope, field_id): the latest version of each record in stg_pipedrive.person_fields_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_person_fields.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_person_fields.field_id IS 'Pipedrive person field id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_person_fields.field_key IS '$.key: the field''s key: a record''s own key for standard fields (title, value, …), a 40-character hash for custom fields (the keys of core.pd_persons.custom_fields).';
COMMENT ON COLUMN core.pd_person_fields.name IS '$.name: the field''s name as users see it (renamable; the key stays).';
COMMENT ON COLUMN core.pd_person_fields.field_type IS '$.field_type: varchar, text, double, monetary, enum, set, date, daterange, time, user, org, people, phone, address, …';
COMMENT ON COLUMN core.pd_person_fields.options IS '$.options of enum and set fields as the API wrote them, when an array ([{id, label}]); NULL for other types.';
COMMENT ON COLUMN core.pd_person_fields.is_custom IS '$.edit_flag: true for custom fields (users can edit or delete them), false for standard ones.';
COMMENT ON COLUMN core.pd_person_fields.is_active IS '$.active_flag: false once the field was deleted (it stays here, flagged).';
COMMENT ON COLUMN core.pd_person_fields.add_time IS '$.add_time (''YYYY-MM-DD HH:MM:SS'', UTC): when the field was created.';
COMMENT ON COLUMN core.pd_person_fields.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_person_fields.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_person_fields.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_person_fields.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS field_id,
       gold_state.jsonb_text(s.record -> 'key') AS field_key,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_text(s.record -> 'field_type') AS field_type,
       gold_state.jsonb_array(s.record -> 'options') AS options,
       gold_state.jsonb_bool(s.record -> 'edit_flag') AS is_custom,
       gold_state.jsonb_bool(s.record -> 'active_flag') AS is_active,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.person_fields_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
