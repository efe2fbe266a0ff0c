-- core.pd_organizations: Pipedrive organizations (customer companies).
-- The latest version of each record of stg_pipedrive.organizations_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_organizations (
  scope            text COLLATE "C" NOT NULL,
  org_id           bigint NOT NULL,
  name             text,
  owner_id         bigint,
  address          text,
  country          text,
  visible_to       bigint,
  is_deleted       boolean,
  add_time         timestamptz,
  custom_fields    jsonb,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, org_id)
);
CREATE INDEX pd_organizations_owner_id_idx ON core.pd_organizations (scope, owner_id);

COMMENT ON TABLE core.pd_organizations IS 'Dimension of the core star schema (seed 004): Pipedrive organizations (customer companies). One row per (scope, org_id): the latest version of each record in stg_pipedrive.organizations_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_organizations.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_organizations.org_id IS 'Pipedrive organization id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_organizations.name IS '$.name.';
COMMENT ON COLUMN core.pd_organizations.owner_id IS '$.owner_id: the owning user (core.pd_users).';
COMMENT ON COLUMN core.pd_organizations.address IS '$.address.value (API v2 writes the address as an object; v1 as text): the full address as entered.';
COMMENT ON COLUMN core.pd_organizations.country IS '$.address.country.';
COMMENT ON COLUMN core.pd_organizations.visible_to IS '$.visible_to: visibility group (1 owner, 3 entire company, 5/7 in Premium plans).';
COMMENT ON COLUMN core.pd_organizations.is_deleted IS '$.is_deleted: true once the record was deleted in Pipedrive (it stays here, flagged; Pipedrive lists deleted records for 30 days). false when $.is_deleted is absent or null; NULL when it is not a JSON boolean (the record stays readable in staging).';
COMMENT ON COLUMN core.pd_organizations.add_time IS '$.add_time (RFC 3339): when the organization was created.';
COMMENT ON COLUMN core.pd_organizations.custom_fields IS '$.custom_fields as the API wrote it, when it is an object (keys are the 40-character field keys); named and typed per value in core.pd_organization_custom_fields.';
COMMENT ON COLUMN core.pd_organizations.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_organizations.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_organizations.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_organizations.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS org_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_bigint(s.record -> 'owner_id') AS owner_id,
       coalesce(gold_state.jsonb_text(s.record -> 'address' -> 'value'), gold_state.jsonb_text(s.record -> 'address')) AS address,
       gold_state.jsonb_text(s.record -> 'address' -> 'country') AS country,
       gold_state.jsonb_bigint(s.record -> 'visible_to') AS visible_to,
       CASE WHEN coalesce(jsonb_typeof(s.record -> 'is_deleted'), 'null') = 'null' THEN false ELSE gold_state.jsonb_bool(s.record -> 'is_deleted') END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       gold_state.jsonb_object(s.record -> 'custom_fields') AS custom_fields,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.organizations_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
