import { ddlOnce } from '../db/ddlOnce';

/**
 * Tables of the operations layer (health checks, replays), next to the run ledger in `ops`.
 * Created idempotently on first use by shared/ops/*.ts (not at platform start-up: nothing else
 * needs them).
 *
 * ops.dataset_expectations — per-dataset thresholds of the health checks; a dataset without a row
 * (or a NULL column) gets the default named in shared/ops/health.ts HEALTH_DEFAULTS:
 *   max_age_minutes      freshness: newest succeeded file of the dataset at most this old (default 1560 = 26 h)
 *   stuck_after_minutes  stuck runs: a run 'running' longer than this is stuck (default 60)
 *   max_quarantine_rate  quarantined / rows read over the last 24 h (default HEALTH_QUARANTINE_RATE, 0.05)
 *   max_count_variance   |latest day - 7-day median| / median of daily rows read (default 0.10)
 *   e.g. INSERT INTO ops.dataset_expectations (dataset, max_age_minutes) VALUES ('ecommerce_events', 2880)
 *        ON CONFLICT (dataset) DO UPDATE SET max_age_minutes = EXCLUDED.max_age_minutes;
 */
export const OPS_DDL = `
DO $$ BEGIN IF to_regnamespace('ops') IS NULL THEN CREATE SCHEMA ops; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
CREATE TABLE IF NOT EXISTS ops.dataset_expectations (
  dataset             text PRIMARY KEY,
  max_age_minutes     integer CHECK (max_age_minutes > 0),
  stuck_after_minutes integer CHECK (stuck_after_minutes > 0),
  max_quarantine_rate double precision CHECK (max_quarantine_rate BETWEEN 0 AND 1),
  max_count_variance  double precision CHECK (max_count_variance >= 0),
  note                text,
  updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.dataset_expectations IS 'Health-check thresholds per dataset; NULL (or no row) = the default: max_age_minutes 1560 (26 h), stuck_after_minutes 60, max_quarantine_rate HEALTH_QUARANTINE_RATE (0.05), max_count_variance 0.10.';

CREATE TABLE IF NOT EXISTS ops.health_checks (
  id         bigserial PRIMARY KEY,
  run_id     uuid             NOT NULL,
  checked_at timestamptz      NOT NULL,
  "check"    text             NOT NULL,
  dataset    text,
  target     text,
  status     text             NOT NULL CHECK (status IN ('pass', 'fail')),
  value      double precision,
  threshold  double precision,
  message    text             NOT NULL
);
CREATE INDEX IF NOT EXISTS health_checks_checked_idx ON ops.health_checks (checked_at DESC);
COMMENT ON TABLE ops.health_checks IS 'One row per health-check result (medallion health, the healthCheck timer function); run_id groups one run. Kept 90 days.';

CREATE TABLE IF NOT EXISTS ops.health_gold_keys (
  table_name  text        PRIMARY KEY,
  key_columns text[]      NOT NULL,
  seen_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.health_gold_keys IS 'Primary key of each gold table as the health check last saw it: a table whose primary key was dropped is still checked for duplicates on it.';

CREATE TABLE IF NOT EXISTS ops.replays (
  id                    bigserial   PRIMARY KEY,
  path                  text        NOT NULL,
  etag                  text        NOT NULL,
  dataset               text,
  replayed_at           timestamptz NOT NULL DEFAULT now(),
  previous_run_id       uuid,
  previous_status       text,
  previous_failure_kind text,
  previous_attempts     integer,
  previous_error        text,
  previous              jsonb       NOT NULL,
  outcome               text,
  run_id                uuid
);
CREATE INDEX IF NOT EXISTS replays_path_idx ON ops.replays (path, replayed_at DESC);
COMMENT ON TABLE ops.replays IS 'medallion replay: the failed/abandoned ledger row each replay removed (so the file version ran again from attempt 1), and the outcome of the new run.';
`;

const OPS_LOCK = 4_242_101;
/** Creates the ops tables of this module once per pool (serialized across processes by an advisory lock). */
export const ensureOpsSchema = ddlOnce(OPS_LOCK, OPS_DDL);
