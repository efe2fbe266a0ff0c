import { ddlOnce } from '../db/ddlOnce';

/**
 * Bookkeeping of the API extractors, next to the file ledger in `ops`. Created idempotently on
 * first use by shared/sources/ (the way shared/ops/schema.ts creates its tables: nothing else
 * needs them at platform start-up).
 *
 * ops.extract_runs — one row per (source, scope, entity, run_id): what one extraction read and
 *   wrote. run_id is the timestamp in the bronze paths (run_id=YYYYMMDDTHHMMSSmmmZ), `parts` the
 *   bronze files it wrote (appended as each is uploaded), so a run killed half-way still names
 *   the files it left.
 * ops.extract_watermarks — one row per (source, scope, entity): the newest record time up to
 *   which everything is in bronze. An incremental run asks from `watermark - EXTRACT_OVERLAP_MINUTES`.
 *   It only moves forward, and only in the transaction that records the bronze files holding the
 *   data it covers.
 */
export const EXTRACT_DDL = `
DO $$ BEGIN IF to_regnamespace('ops') IS NULL THEN CREATE SCHEMA ops; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
CREATE TABLE IF NOT EXISTS ops.extract_runs (
  source           text        NOT NULL CHECK (source IN ('pipedrive', 'zendesk')),
  scope            text        NOT NULL,
  entity           text        NOT NULL,
  run_id           text        NOT NULL CHECK (run_id ~ '^[0-9]{8}T[0-9]{9}Z$'),
  mode             text        NOT NULL CHECK (mode IN ('incremental', 'full', 'since', 'snapshot')),
  status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
  failure_kind     text        CHECK (failure_kind IN ('auth', 'rate_limited', 'transient', 'bad_response', 'interrupted')),
  window_start     timestamptz,
  watermark_before timestamptz,
  watermark_after  timestamptz,
  records          bigint      NOT NULL DEFAULT 0,
  bytes            bigint      NOT NULL DEFAULT 0,
  pages            integer     NOT NULL DEFAULT 0,
  requests         integer     NOT NULL DEFAULT 0,
  retries          integer     NOT NULL DEFAULT 0,
  parts            jsonb       NOT NULL DEFAULT '[]',
  started_at       timestamptz NOT NULL,
  heartbeat_at     timestamptz NOT NULL,
  finished_at      timestamptz,
  host             text,
  pid              integer,
  error            text,
  PRIMARY KEY (source, scope, entity, run_id),
  CONSTRAINT extract_failure_has_kind CHECK (status <> 'failed' OR failure_kind IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS extract_runs_started_idx ON ops.extract_runs (source, scope, entity, started_at DESC);
CREATE INDEX IF NOT EXISTS extract_runs_running_idx ON ops.extract_runs (source, scope, entity) WHERE status = 'running';
ALTER TABLE ops.extract_runs ADD COLUMN IF NOT EXISTS landed_at timestamptz;
COMMENT ON COLUMN ops.extract_runs.landed_at IS 'When the extract_count_variance check found every line of the run''s parts staged or quarantined (NULL: not yet; such a run is judged by every health run until it is).';
COMMENT ON TABLE ops.extract_runs IS 'API extraction runs (medallion extract, the extractPipedrive / extractZendesk timers): one row per source, scope, entity and run; parts lists the bronze files the run wrote.';
COMMENT ON COLUMN ops.extract_runs.scope IS 'The account the data belongs to: the first label of the API host (acme.pipedrive.com -> acme); the scope= folder of the bronze paths.';
COMMENT ON COLUMN ops.extract_runs.run_id IS 'UTC start of the run, YYYYMMDDTHHMMSSmmmZ: the run_id= folder of the bronze paths.';
COMMENT ON COLUMN ops.extract_runs.mode IS 'incremental (from the watermark minus the overlap), full (--full: from the beginning), since (--since: from a given time) or snapshot (entities read whole every run).';
COMMENT ON COLUMN ops.extract_runs.status IS 'running, succeeded, failed (see failure_kind) or abandoned (a run that stopped without saying so: killed, or its host went away).';
COMMENT ON COLUMN ops.extract_runs.failure_kind IS 'auth (401/403: fix the credentials), rate_limited (429s or too long a Retry-After), transient (5xx/network after retries), bad_response (an answer the extractor cannot use), interrupted (asked to stop).';
COMMENT ON COLUMN ops.extract_runs.window_start IS 'The record time the run asked from (NULL: from the beginning).';
COMMENT ON COLUMN ops.extract_runs.watermark_before IS 'The watermark when the run started.';
COMMENT ON COLUMN ops.extract_runs.watermark_after IS 'The watermark this run left (equal to watermark_before when it could not move it).';
COMMENT ON COLUMN ops.extract_runs.records IS 'Records written to bronze (lines of its parts).';
COMMENT ON COLUMN ops.extract_runs.bytes IS 'Uncompressed bytes written to bronze.';
COMMENT ON COLUMN ops.extract_runs.pages IS 'API answers with records read.';
COMMENT ON COLUMN ops.extract_runs.requests IS 'HTTP requests sent, retries included.';
COMMENT ON COLUMN ops.extract_runs.retries IS 'Requests repeated after a 429, a 5xx or a network failure.';
COMMENT ON COLUMN ops.extract_runs.parts IS 'Bronze paths written by the run, in order, as each was uploaded.';
COMMENT ON COLUMN ops.extract_runs.heartbeat_at IS 'Last sign of life of a running run; a run silent for long is marked abandoned by the next run of the entity.';
COMMENT ON COLUMN ops.extract_runs.host IS 'Host name of the process running it (with pid: a dead process on the same host is recognised at once).';

CREATE TABLE IF NOT EXISTS ops.extract_watermarks (
  source                text        NOT NULL CHECK (source IN ('pipedrive', 'zendesk')),
  scope                 text        NOT NULL,
  entity                text        NOT NULL,
  watermark             timestamptz,
  run_id                text,
  updated_at            timestamptz NOT NULL,
  last_succeeded_at     timestamptz,
  last_succeeded_run_id text,
  PRIMARY KEY (source, scope, entity)
);
COMMENT ON TABLE ops.extract_watermarks IS 'Per source, scope and entity: the record time up to which every change is in bronze. Moves forward only, in the transaction that records the bronze parts holding the data.';
COMMENT ON COLUMN ops.extract_watermarks.watermark IS 'Every record changed before this time (by the entity''s update time) is in bronze; the next incremental run reads from it minus EXTRACT_OVERLAP_MINUTES. NULL: nothing extracted yet.';
COMMENT ON COLUMN ops.extract_watermarks.run_id IS 'The run that last moved the watermark.';
COMMENT ON COLUMN ops.extract_watermarks.last_succeeded_at IS 'End of the last run that read the entity to its end (freshness of the entity, even when nothing changed).';
COMMENT ON COLUMN ops.extract_watermarks.last_succeeded_run_id IS 'That run.';
`;

const EXTRACT_LOCK = 4_242_201;
/** Creates the extraction tables once per pool (serialised across processes by an advisory lock). */
export const ensureExtractSchema = ddlOnce(EXTRACT_LOCK, EXTRACT_DDL);
