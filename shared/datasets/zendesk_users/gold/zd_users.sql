-- core.zd_users: Zendesk users (end users, agents, admins).
-- The latest version of each record of stg_zendesk.users_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_users (
  scope            text COLLATE "C" NOT NULL,
  user_id          bigint NOT NULL,
  name             text,
  email            text,
  role             text,
  organization_id  bigint,
  is_active        boolean,
  is_suspended     boolean,
  time_zone        text,
  created_at       timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, user_id)
);
CREATE INDEX zd_users_organization_id_idx ON core.zd_users (scope, organization_id);

COMMENT ON TABLE core.zd_users IS 'Dimension of the core star schema (seed 004): Zendesk users (end users, agents, admins). One row per (scope, user_id): the latest version of each record in stg_zendesk.users_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_users.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_users.user_id IS 'Zendesk user id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_users.name IS '$.name.';
COMMENT ON COLUMN core.zd_users.email IS '$.email: primary e-mail address.';
COMMENT ON COLUMN core.zd_users.role IS '$.role: end-user, agent or admin.';
COMMENT ON COLUMN core.zd_users.organization_id IS '$.organization_id (core.zd_organizations).';
COMMENT ON COLUMN core.zd_users.is_active IS '$.active: false once the user was deleted (deleted users stay, flagged).';
COMMENT ON COLUMN core.zd_users.is_suspended IS '$.suspended.';
COMMENT ON COLUMN core.zd_users.time_zone IS '$.time_zone.';
COMMENT ON COLUMN core.zd_users.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_users.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_users.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_users.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_users.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS user_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_text(s.record -> 'email') AS email,
       gold_state.jsonb_text(s.record -> 'role') AS role,
       gold_state.jsonb_bigint(s.record -> 'organization_id') AS organization_id,
       gold_state.jsonb_bool(s.record -> 'active') AS is_active,
       gold_state.jsonb_bool(s.record -> 'suspended') AS is_suspended,
       gold_state.jsonb_text(s.record -> 'time_zone') AS time_zone,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.users_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
