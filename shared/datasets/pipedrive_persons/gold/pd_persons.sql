-- core.pd_persons: Pipedrive persons (contacts).
-- The latest version of each record of stg_pipedrive.persons_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_persons (
  scope            text COLLATE "C" NOT NULL,
  person_id        bigint NOT NULL,
  name             text,
  owner_id         bigint,
  org_id           bigint,
  primary_email    text,
  primary_phone    text,
  emails           jsonb,
  phones           jsonb,
  visible_to       bigint,
  is_deleted       boolean,
  add_time         timestamptz,
  custom_fields    jsonb,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, person_id)
);
CREATE INDEX pd_persons_org_id_idx ON core.pd_persons (scope, org_id);

COMMENT ON TABLE core.pd_persons IS 'Dimension of the core star schema (seed 004): Pipedrive persons (contacts). One row per (scope, person_id): the latest version of each record in stg_pipedrive.persons_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_persons.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_persons.person_id IS 'Pipedrive person id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_persons.name IS '$.name.';
COMMENT ON COLUMN core.pd_persons.owner_id IS '$.owner_id: the owning user (core.pd_users).';
COMMENT ON COLUMN core.pd_persons.org_id IS '$.org_id: the person''s organization (core.pd_organizations).';
COMMENT ON COLUMN core.pd_persons.primary_email IS '$.emails[?primary].value: the e-mail marked primary.';
COMMENT ON COLUMN core.pd_persons.primary_phone IS '$.phones[?primary].value: the phone number marked primary.';
COMMENT ON COLUMN core.pd_persons.emails IS '$.emails as the API wrote them, when an array ([{value, primary, label}]).';
COMMENT ON COLUMN core.pd_persons.phones IS '$.phones as the API wrote them, when an array ([{value, primary, label}]).';
COMMENT ON COLUMN core.pd_persons.visible_to IS '$.visible_to: visibility group.';
COMMENT ON COLUMN core.pd_persons.is_deleted IS '$.is_deleted: true once the record was deleted in Pipedrive (it stays here, flagged; Pipedrive lists deleted records for 30 days). false when $.is_deleted is absent or null; NULL when it is not a JSON boolean (the record stays readable in staging).';
COMMENT ON COLUMN core.pd_persons.add_time IS '$.add_time (RFC 3339): when the person was created.';
COMMENT ON COLUMN core.pd_persons.custom_fields IS '$.custom_fields as the API wrote it, when it is an object (keys are the 40-character field keys); named and typed per value in core.pd_person_custom_fields.';
COMMENT ON COLUMN core.pd_persons.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_persons.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_persons.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_persons.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS person_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_bigint(s.record -> 'owner_id') AS owner_id,
       gold_state.jsonb_bigint(s.record -> 'org_id') AS org_id,
       gold_state.jsonb_text(jsonb_path_query_first(s.record, '$.emails[*] ? (@.primary == true).value')) AS primary_email,
       gold_state.jsonb_text(jsonb_path_query_first(s.record, '$.phones[*] ? (@.primary == true).value')) AS primary_phone,
       gold_state.jsonb_array(s.record -> 'emails') AS emails,
       gold_state.jsonb_array(s.record -> 'phones') AS phones,
       gold_state.jsonb_bigint(s.record -> 'visible_to') AS visible_to,
       CASE WHEN coalesce(jsonb_typeof(s.record -> 'is_deleted'), 'null') = 'null' THEN false ELSE gold_state.jsonb_bool(s.record -> 'is_deleted') END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       gold_state.jsonb_object(s.record -> 'custom_fields') AS custom_fields,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.persons_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
