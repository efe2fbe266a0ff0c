-- core.zd_groups: Zendesk groups (agent teams).
-- The latest version of each record of stg_zendesk.groups_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_groups (
  scope            text COLLATE "C" NOT NULL,
  group_id         bigint NOT NULL,
  name             text,
  description      text,
  is_default       boolean,
  is_public        boolean,
  is_deleted       boolean,
  created_at       timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, group_id)
);

COMMENT ON TABLE core.zd_groups IS 'Dimension of the core star schema (seed 004): Zendesk groups (agent teams). One row per (scope, group_id): the latest version of each record in stg_zendesk.groups_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_groups.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_groups.group_id IS 'Zendesk group id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_groups.name IS '$.name.';
COMMENT ON COLUMN core.zd_groups.description IS '$.description.';
COMMENT ON COLUMN core.zd_groups.is_default IS '$.default: the account''s default group.';
COMMENT ON COLUMN core.zd_groups.is_public IS '$.is_public.';
COMMENT ON COLUMN core.zd_groups.is_deleted IS '$.deleted: the group was deleted (it stays here, flagged). false when $.deleted is absent or null; NULL when it is not a JSON boolean (the record stays readable in staging).';
COMMENT ON COLUMN core.zd_groups.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_groups.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_groups.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_groups.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_groups.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS group_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_text(s.record -> 'description') AS description,
       gold_state.jsonb_bool(s.record -> 'default') AS is_default,
       gold_state.jsonb_bool(s.record -> 'is_public') AS is_public,
       CASE WHEN coalesce(jsonb_typeof(s.record -> 'deleted'), 'null') = 'null' THEN false ELSE gold_state.jsonb_bool(s.record -> 'deleted') END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.groups_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
