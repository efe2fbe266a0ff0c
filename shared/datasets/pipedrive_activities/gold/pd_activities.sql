-- core.pd_activities: Pipedrive activities (calls, meetings, e-mails, tasks).
-- The latest version of each record of stg_pipedrive.activities_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.pd_activities (
  scope            text COLLATE "C" NOT NULL,
  activity_id      bigint NOT NULL,
  subject          text,
  type             text,
  deal_id          bigint,
  person_id        bigint,
  org_id           bigint,
  owner_id         bigint,
  due_date         date,
  done             boolean,
  is_deleted       boolean,
  add_time         timestamptz,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, activity_id)
);
CREATE INDEX pd_activities_deal_id_idx ON core.pd_activities (scope, deal_id);
CREATE INDEX pd_activities_owner_id_idx ON core.pd_activities (scope, owner_id);

COMMENT ON TABLE core.pd_activities IS 'Fact of the core star schema (seed 004): Pipedrive activities (calls, meetings, e-mails, tasks). One row per (scope, activity_id): the latest version of each record in stg_pipedrive.activities_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.pd_activities.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.pd_activities.activity_id IS 'Pipedrive activity id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.pd_activities.subject IS '$.subject.';
COMMENT ON COLUMN core.pd_activities.type IS '$.type: the activity type key (call, meeting, email, task, …).';
COMMENT ON COLUMN core.pd_activities.deal_id IS '$.deal_id (core.pd_deals).';
COMMENT ON COLUMN core.pd_activities.person_id IS '$.person_id (core.pd_persons).';
COMMENT ON COLUMN core.pd_activities.org_id IS '$.org_id (core.pd_organizations).';
COMMENT ON COLUMN core.pd_activities.owner_id IS '$.owner_id: the user the activity is assigned to (core.pd_users).';
COMMENT ON COLUMN core.pd_activities.due_date IS '$.due_date (YYYY-MM-DD).';
COMMENT ON COLUMN core.pd_activities.done IS '$.done: the activity was marked done.';
COMMENT ON COLUMN core.pd_activities.is_deleted IS '$.is_deleted: true once the record was deleted in Pipedrive (it stays here, flagged; Pipedrive lists deleted records for 30 days). false when $.is_deleted is absent or null; NULL when it is not a JSON boolean (the record stays readable in staging).';
COMMENT ON COLUMN core.pd_activities.add_time IS '$.add_time (RFC 3339): when the activity was created.';
COMMENT ON COLUMN core.pd_activities.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.update_time). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.pd_activities.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.pd_activities.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.pd_activities.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS activity_id,
       gold_state.jsonb_text(s.record -> 'subject') AS subject,
       gold_state.jsonb_text(s.record -> 'type') AS type,
       gold_state.jsonb_bigint(s.record -> 'deal_id') AS deal_id,
       gold_state.jsonb_bigint(s.record -> 'person_id') AS person_id,
       gold_state.jsonb_bigint(s.record -> 'org_id') AS org_id,
       gold_state.jsonb_bigint(s.record -> 'owner_id') AS owner_id,
       gold_state.jsonb_date(s.record -> 'due_date') AS due_date,
       gold_state.jsonb_bool(s.record -> 'done') AS done,
       CASE WHEN coalesce(jsonb_typeof(s.record -> 'is_deleted'), 'null') = 'null' THEN false ELSE gold_state.jsonb_bool(s.record -> 'is_deleted') END AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'add_time') AS add_time,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_pipedrive.activities_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
