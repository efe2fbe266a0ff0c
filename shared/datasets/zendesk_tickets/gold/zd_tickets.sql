-- core.zd_tickets: Zendesk tickets.
-- The latest version of each record of stg_zendesk.tickets_raw (by update time, then by extraction run, file and line), typed.
-- Maintained by the 'latest' strategy: a run's staged rows name the records to recompute.

-- @ddl
CREATE TABLE core.zd_tickets (
  scope            text COLLATE "C" NOT NULL,
  ticket_id        bigint NOT NULL,
  subject          text,
  status           text,
  priority         text,
  type             text,
  requester_id     bigint,
  assignee_id      bigint,
  organization_id  bigint,
  group_id         bigint,
  ticket_form_id   bigint,
  tags             text[],
  is_deleted       boolean NOT NULL,
  created_at       timestamptz,
  custom_fields    jsonb,
  updated_at       timestamptz,
  extracted_at     timestamptz NOT NULL,
  source_blob_path text COLLATE "C" NOT NULL,
  source_line_no   bigint NOT NULL,
  PRIMARY KEY (scope, ticket_id)
);
CREATE INDEX zd_tickets_status_idx ON core.zd_tickets (scope, status);
CREATE INDEX zd_tickets_organization_id_idx ON core.zd_tickets (scope, organization_id);
CREATE INDEX zd_tickets_group_id_idx ON core.zd_tickets (scope, group_id);
CREATE INDEX zd_tickets_requester_id_idx ON core.zd_tickets (scope, requester_id);

COMMENT ON TABLE core.zd_tickets IS 'Fact of the core star schema (seed 004): Zendesk tickets. One row per (scope, ticket_id): the latest version of each record in stg_zendesk.tickets_raw, typed from its JSONB; a value that is missing, JSON null or of another type is NULL here and stays readable in staging (source_blob_path, source_line_no). Deleted records stay, flagged.';
COMMENT ON COLUMN core.zd_tickets.scope IS 'Account the record belongs to (the scope= folder of its bronze path: the API base URL''s subdomain); part of the business key.';
COMMENT ON COLUMN core.zd_tickets.ticket_id IS 'Zendesk ticket id in the source ($.id); with scope, the business key.';
COMMENT ON COLUMN core.zd_tickets.subject IS '$.subject.';
COMMENT ON COLUMN core.zd_tickets.status IS '$.status: new, open, pending, hold, solved, closed, or deleted.';
COMMENT ON COLUMN core.zd_tickets.priority IS '$.priority: low, normal, high, urgent; NULL when unset.';
COMMENT ON COLUMN core.zd_tickets.type IS '$.type: question, incident, problem, task; NULL when unset.';
COMMENT ON COLUMN core.zd_tickets.requester_id IS '$.requester_id (core.zd_users).';
COMMENT ON COLUMN core.zd_tickets.assignee_id IS '$.assignee_id: the agent assigned (core.zd_users).';
COMMENT ON COLUMN core.zd_tickets.organization_id IS '$.organization_id (core.zd_organizations).';
COMMENT ON COLUMN core.zd_tickets.group_id IS '$.group_id (core.zd_groups).';
COMMENT ON COLUMN core.zd_tickets.ticket_form_id IS '$.ticket_form_id (core.zd_ticket_forms).';
COMMENT ON COLUMN core.zd_tickets.tags IS '$.tags.';
COMMENT ON COLUMN core.zd_tickets.is_deleted IS '$.status = ''deleted'': the ticket was deleted (the incremental export lists deleted tickets; it stays here, flagged).';
COMMENT ON COLUMN core.zd_tickets.created_at IS '$.created_at (ISO 8601).';
COMMENT ON COLUMN core.zd_tickets.custom_fields IS '$.custom_fields as the API wrote them, when an array ([{id, value}]); named and typed per value in core.zd_ticket_custom_fields.';
COMMENT ON COLUMN core.zd_tickets.updated_at IS 'When the source last changed the record (UTC; staging''s updated_at, from $.updated_at). Each row is the record''s version with the newest updated_at; on a tie, the one extracted last (then the later file and line).';
COMMENT ON COLUMN core.zd_tickets.extracted_at IS 'Start of the extraction run that read this version (staging extracted_at).';
COMMENT ON COLUMN core.zd_tickets.source_blob_path IS 'Bronze file this version was read from (staging blob_path): its raw JSON is the line source_line_no of that file, and the row of stg with the same (scope, blob_path, line_no).';
COMMENT ON COLUMN core.zd_tickets.source_line_no IS 'Line of that file (1-based).';

-- @select
SELECT DISTINCT ON (s.scope, s.record_id)
       s.scope,
       s.record_id AS ticket_id,
       gold_state.jsonb_text(s.record -> 'subject') AS subject,
       gold_state.jsonb_text(s.record -> 'status') AS status,
       gold_state.jsonb_text(s.record -> 'priority') AS priority,
       gold_state.jsonb_text(s.record -> 'type') AS type,
       gold_state.jsonb_bigint(s.record -> 'requester_id') AS requester_id,
       gold_state.jsonb_bigint(s.record -> 'assignee_id') AS assignee_id,
       gold_state.jsonb_bigint(s.record -> 'organization_id') AS organization_id,
       gold_state.jsonb_bigint(s.record -> 'group_id') AS group_id,
       gold_state.jsonb_bigint(s.record -> 'ticket_form_id') AS ticket_form_id,
       gold_state.jsonb_text_array(s.record -> 'tags') AS tags,
       coalesce(gold_state.jsonb_text(s.record -> 'status') = 'deleted', false) AS is_deleted,
       gold_state.jsonb_timestamptz(s.record -> 'created_at') AS created_at,
       gold_state.jsonb_array(s.record -> 'custom_fields') AS custom_fields,
       s.updated_at AT TIME ZONE 'UTC' AS updated_at,
       s.extracted_at,
       s.blob_path AS source_blob_path,
       s.line_no AS source_line_no
FROM stg_zendesk.tickets_raw s
ORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.extracted_at DESC, s.blob_path DESC, s.line_no DESC
