-- core.zd_organizations: Zendesk organizations (customer companies).
-- The latest version of each record of stg_zendesk.organizations_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_organizations (
  scope               text COLLATE "C" NOT NULL,
  organization_id     bigint NOT NULL,
  name                text,
  domain_names        text[],
  group_id            bigint,
  tags                text[],
  organization_fields jsonb,
  is_deleted          boolean NOT NULL,
  deleted_at          timestamptz,
  created_at          timestamptz,
  updated_at          timestamptz,
  extracted_at        timestamptz NOT NULL,
  source_blob_path    text COLLATE "C" NOT NULL,
  source_line_no      bigint NOT NULL,
  PRIMARY KEY (scope, organization_id)
);

COMMENT ON TABLE core.zd_organizations IS 'Dimension of the core star schema (seed 004): Zendesk organizations (customer companies). One row per (scope, organization_id): the latest version of each record in stg_zendesk.organizations_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_organizations.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_organizations.organization_id IS 'Zendesk organization id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_organizations.name IS '$.name.';
COMMENT ON COLUMN core.zd_organizations.domain_names IS '$.domain_names: e-mail domains that map users to the organization.';
COMMENT ON COLUMN core.zd_organizations.group_id IS '$.group_id: the group new tickets of the organization go to (core.zd_groups).';
COMMENT ON COLUMN core.zd_organizations.tags IS '$.tags.';
COMMENT ON COLUMN core.zd_organizations.organization_fields IS '$.organization_fields as the API wrote them, when an object (custom organization fields by key).';
COMMENT ON COLUMN core.zd_organizations.is_deleted IS '$.deleted_at is set: the organization was deleted (it stays here, flagged).';
COMMENT ON COLUMN core.zd_organizations.deleted_at IS '$.deleted_at.';
COMMENT ON COLUMN core.zd_organizations.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_organizations.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_organizations.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_organizations.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_organizations.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS organization_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_text_array(s.record -> 'domain_names') AS domain_names,
       gold_state.jsonb_bigint(s.record -> 'group_id') AS group_id,
       gold_state.jsonb_text_array(s.record -> 'tags') AS tags,
       gold_state.jsonb_object(s.record -> 'organization_fields') AS organization_fields,
       (s.record -> 'deleted_at' IS NOT NULL AND s.record -> 'deleted_at' <> 'null'::jsonb) AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'deleted_at') AS deleted_at,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.organizations_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
