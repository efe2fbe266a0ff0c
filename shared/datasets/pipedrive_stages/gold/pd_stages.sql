-- core.pd_stages: Pipedrive pipeline stages.
-- The latest version of each record of stg_pipedrive.stages_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_stages (
  scope               text COLLATE "C" NOT NULL,
  stage_id            bigint NOT NULL,
  pipeline_id         bigint,
  name                text,
  order_nr            bigint,
  deal_probability    bigint,
  is_deal_rot_enabled boolean,
  days_to_rotten      bigint,
  is_deleted          boolean,
  add_time            timestamptz,
  updated_at          timestamptz,
  extracted_at        timestamptz NOT NULL,
  source_blob_path    text COLLATE "C" NOT NULL,
  source_line_no      bigint NOT NULL,
  PRIMARY KEY (scope, stage_id)
);
CREATE INDEX pd_stages_pipeline_id_idx ON core.pd_stages (scope, pipeline_id);

COMMENT ON TABLE core.pd_stages IS 'Dimension of the core star schema (seed 004): Pipedrive pipeline stages. One row per (scope, stage_id): the latest version of each record in stg_pipedrive.stages_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_stages.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_stages.stage_id IS 'Pipedrive stage id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_stages.pipeline_id IS '$.pipeline_id: the pipeline of the stage (core.pd_pipelines).';
COMMENT ON COLUMN core.pd_stages.name IS '$.name.';
COMMENT ON COLUMN core.pd_stages.order_nr IS '$.order_nr: position within its pipeline.';
COMMENT ON COLUMN core.pd_stages.deal_probability IS '$.deal_probability: PERCENT 0-100, the win probability of a deal in this stage.';
COMMENT ON COLUMN core.pd_stages.is_deal_rot_enabled IS '$.is_deal_rot_enabled: deals rot after days_to_rotten days without activity.';
COMMENT ON COLUMN core.pd_stages.days_to_rotten IS '$.days_to_rotten: days without activity after which a deal rots; NULL when rotting is off.';
COMMENT ON COLUMN core.pd_stages.is_deleted IS '$.is_deleted: true once the record was deleted in Pipedrive (it stays here, flagged; Pipedrive lists deleted records for 30 days). false when $.is_deleted is absent or null; NULL when it is not a JSON boolean (the record stays readable in staging).';
COMMENT ON COLUMN core.pd_stages.add_time IS '$.add_time (RFC 3339): when the stage was created.';
COMMENT ON COLUMN core.pd_stages.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_stages.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_stages.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_stages.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS stage_id,
       gold_state.jsonb_bigint(s.record -> 'pipeline_id') AS pipeline_id,
       gold_state.jsonb_text(s.record -> 'name') AS name,
       gold_state.jsonb_bigint(s.record -> 'order_nr') AS order_nr,
       gold_state.jsonb_bigint(s.record -> 'deal_probability') AS deal_probability,
       gold_state.jsonb_bool(s.record -> 'is_deal_rot_enabled') AS is_deal_rot_enabled,
       gold_state.jsonb_bigint(s.record -> 'days_to_rotten') AS days_to_rotten,
       CASE WHEN coalesce(jsonb_typeof(s.record -> 'is_deleted'), 'null') = 'null' THEN false ELSE gold_state.jsonb_bool(s.record -> 'is_deleted') END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.stages_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
