-- core.pd_deals: Pipedrive deals.
-- The latest version of each record of stg_pipedrive.deals_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_deals (
  scope               text COLLATE "C" NOT NULL,
  deal_id             bigint NOT NULL,
  title               text,
  value               numeric,
  currency            text,
  status              text,
  stage_id            bigint,
  pipeline_id         bigint,
  person_id           bigint,
  org_id              bigint,
  owner_id            bigint,
  probability         numeric,
  expected_close_date date,
  close_time          timestamptz,
  won_time            timestamptz,
  lost_time           timestamptz,
  lost_reason         text,
  is_deleted          boolean,
  add_time            timestamptz,
  custom_fields       jsonb,
  updated_at          timestamptz,
  extracted_at        timestamptz NOT NULL,
  source_blob_path    text COLLATE "C" NOT NULL,
  source_line_no      bigint NOT NULL,
  PRIMARY KEY (scope, deal_id)
);
CREATE INDEX pd_deals_stage_id_idx ON core.pd_deals (scope, stage_id);
CREATE INDEX pd_deals_org_id_idx ON core.pd_deals (scope, org_id);
CREATE INDEX pd_deals_owner_id_idx ON core.pd_deals (scope, owner_id);
CREATE INDEX pd_deals_status_idx ON core.pd_deals (scope, status);

COMMENT ON TABLE core.pd_deals IS 'Fact of the core star schema (seed 004): Pipedrive deals. One row per (scope, deal_id): the latest version of each record in stg_pipedrive.deals_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_deals.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_deals.deal_id IS 'Pipedrive deal id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_deals.title IS '$.title.';
COMMENT ON COLUMN core.pd_deals.value IS '$.value: the deal''s value in its currency, exact as the API wrote it.';
COMMENT ON COLUMN core.pd_deals.currency IS '$.currency: ISO 4217 code of value.';
COMMENT ON COLUMN core.pd_deals.status IS '$.status: open, won, lost or deleted.';
COMMENT ON COLUMN core.pd_deals.stage_id IS '$.stage_id (core.pd_stages).';
COMMENT ON COLUMN core.pd_deals.pipeline_id IS '$.pipeline_id (core.pd_pipelines).';
COMMENT ON COLUMN core.pd_deals.person_id IS '$.person_id: the contact (core.pd_persons).';
COMMENT ON COLUMN core.pd_deals.org_id IS '$.org_id: the customer organization (core.pd_organizations).';
COMMENT ON COLUMN core.pd_deals.owner_id IS '$.owner_id: the owning user (core.pd_users).';
COMMENT ON COLUMN core.pd_deals.probability IS '$.probability: PERCENT 0-100 set on the deal; NULL when unset (the stage''s deal_probability applies).';
COMMENT ON COLUMN core.pd_deals.expected_close_date IS '$.expected_close_date (YYYY-MM-DD).';
COMMENT ON COLUMN core.pd_deals.close_time IS '$.close_time: when the deal was won or lost.';
COMMENT ON COLUMN core.pd_deals.won_time IS '$.won_time.';
COMMENT ON COLUMN core.pd_deals.lost_time IS '$.lost_time.';
COMMENT ON COLUMN core.pd_deals.lost_reason IS '$.lost_reason.';
COMMENT ON COLUMN core.pd_deals.is_deleted IS 'true once the deal was deleted in Pipedrive ($.is_deleted true, or $.status = ''deleted''); it stays here, flagged. false when $.is_deleted is false, absent or null; NULL when it is not a JSON boolean and the status is not deleted (the record stays readable in staging).';
COMMENT ON COLUMN core.pd_deals.add_time IS '$.add_time (RFC 3339): when the deal was created.';
COMMENT ON COLUMN core.pd_deals.custom_fields IS '$.custom_fields as the API wrote it, when it is an object (keys are the 40-character field keys); named and typed per value in core.pd_deal_custom_fields.';
COMMENT ON COLUMN core.pd_deals.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_deals.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_deals.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_deals.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS deal_id,
       gold_state.jsonb_text(s.record -> 'title') AS title,
       gold_state.jsonb_numeric(s.record -> 'value') AS value,
       gold_state.jsonb_text(s.record -> 'currency') AS currency,
       gold_state.jsonb_text(s.record -> 'status') AS status,
       gold_state.jsonb_bigint(s.record -> 'stage_id') AS stage_id,
       gold_state.jsonb_bigint(s.record -> 'pipeline_id') AS pipeline_id,
       gold_state.jsonb_bigint(s.record -> 'person_id') AS person_id,
       gold_state.jsonb_bigint(s.record -> 'org_id') AS org_id,
       gold_state.jsonb_bigint(s.record -> 'owner_id') AS owner_id,
       gold_state.jsonb_numeric(s.record -> 'probability') AS probability,
       gold_state.jsonb_date(s.record -> 'expected_close_date') AS expected_close_date,
       gold_state.jsonb_timestamptz(s.record -> 'close_time') AS close_time,
       gold_state.jsonb_timestamptz(s.record -> 'won_time') AS won_time,
       gold_state.jsonb_timestamptz(s.record -> 'lost_time') AS lost_time,
       gold_state.jsonb_text(s.record -> 'lost_reason') AS lost_reason,
       CASE WHEN gold_state.jsonb_bool(s.record -> 'is_deleted') OR gold_state.jsonb_text(s.record -> 'status') = 'deleted' THEN true
            WHEN coalesce(jsonb_typeof(s.record -> 'is_deleted'), 'null') = 'null' OR NOT gold_state.jsonb_bool(s.record -> 'is_deleted') THEN false END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       gold_state.jsonb_object(s.record -> 'custom_fields') AS custom_fields,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.deals_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
