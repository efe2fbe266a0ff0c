-- core.pd_users: Pipedrive users (sales people, deal and activity owners).
-- The latest version of each record of stg_pipedrive.users_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_users (
  scope            text COLLATE "C" NOT NULL,
  user_id          bigint NOT NULL,
  name             text,
  email            text,
  is_active        boolean,
  is_admin         boolean,
  role_id          bigint,
  timezone_name    text,
  created_at       timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, user_id)
);

COMMENT ON TABLE core.pd_users IS 'Dimension of the core star schema (seed 004): Pipedrive users (sales people, deal and activity owners). One row per (scope, user_id): the latest version of each record in stg_pipedrive.users_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_users.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_users.user_id IS 'Pipedrive user id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_users.name IS '$.name: the user''s full name.';
COMMENT ON COLUMN core.pd_users.email IS '$.email: login e-mail address.';
COMMENT ON COLUMN core.pd_users.is_active IS '$.active_flag: false once the user was deactivated (deactivated users stay, flagged).';
COMMENT ON COLUMN core.pd_users.is_admin IS '$.is_admin: company administrator.';
COMMENT ON COLUMN core.pd_users.role_id IS '$.role_id: the user''s role (visibility group).';
COMMENT ON COLUMN core.pd_users.timezone_name IS '$.timezone_name: IANA time zone of the user.';
COMMENT ON COLUMN core.pd_users.created_at IS '$.created (''YYYY-MM-DD HH:MM:SS'', UTC): when the user was added.';
COMMENT ON COLUMN core.pd_users.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.modified). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_users.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_users.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_users.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS user_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_text(s.record -> 'email') AS email,
       gold_state.jsonb_bool(s.record -> 'active_flag') AS is_active,
       gold_state.jsonb_bool(s.record -> 'is_admin') AS is_admin,
       gold_state.jsonb_bigint(s.record -> 'role_id') AS role_id,
       gold_state.jsonb_text(s.record -> 'timezone_name') AS timezone_name,
       gold_state.jsonb_timestamptz(s.record -> 'created') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.users_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
