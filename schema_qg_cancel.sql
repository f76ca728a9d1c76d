-- qg's cancel requests for jobs being worked: the Worker holding a job named
-- here cancels its context and removes it instead of retrying it. Created by
-- qg.Migrate; idempotent.
CREATE TABLE IF NOT EXISTS qg_cancelled_jobs (
  job_id bigint PRIMARY KEY,
  cancelled_at timestamptz NOT NULL DEFAULT now()
);
