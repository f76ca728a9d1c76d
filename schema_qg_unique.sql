-- Unique jobs (Job.Unique, Job.UniqueKey, Job.UniqueFor). One row per key
-- (a SHA-256 of the caller's key, or of queue, job class and args) that a
-- job holds: the key is taken while expires_at is NULL (its job is still in
-- que_jobs) or in the future (UniqueFor after the job finished). que_jobs
-- itself is never altered: the trigger functions below, attached to its
-- deletes, give-ups and truncation by qg.EnableUniqueJobs (never by
-- Migrate), release the keys whoever finishes the job, Ruby workers
-- included.
CREATE TABLE IF NOT EXISTS qg_unique (
  key        text        PRIMARY KEY,
  job_id     bigint      NOT NULL,
  hold       interval    NOT NULL DEFAULT '0',
  expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS qg_unique_job_id ON qg_unique (job_id);
CREATE INDEX IF NOT EXISTS qg_unique_expires_at ON qg_unique (expires_at)
  WHERE expires_at IS NOT NULL;

-- Release the key of a job that left que_jobs (deleted: worked by a Go or
-- Ruby worker, or by hand) or was given up (moved to its dead-letter
-- queue): a key held for no time is freed at once, any other expires after
-- its hold. It runs for every deleted job, so the usual case (no key) costs
-- one index probe. A trigger must never fail a delete of Ruby's, so a
-- missing qg_unique is skipped. Like que_jobs, qg_unique is found on the
-- search_path of the session that deletes.
CREATE OR REPLACE FUNCTION qg_unique_release() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  released bigint := CASE TG_OP WHEN 'DELETE' THEN OLD.job_id ELSE NEW.job_id END;
BEGIN
  IF to_regclass('qg_unique') IS NULL THEN
    RETURN NULL; -- checked apart: a statement naming it would fail to parse
  END IF;
  IF EXISTS (SELECT 1 FROM qg_unique WHERE job_id = released AND expires_at IS NULL) THEN
    DELETE FROM qg_unique WHERE job_id = released AND hold = '0' AND expires_at IS NULL;
    UPDATE qg_unique SET expires_at = clock_timestamp() + hold
    WHERE job_id = released AND expires_at IS NULL;
  END IF;
  RETURN NULL;
END
$$;

-- After TRUNCATE que_jobs: every job is gone.
CREATE OR REPLACE FUNCTION qg_unique_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('qg_unique') IS NULL THEN
    RETURN NULL;
  END IF;
  DELETE FROM qg_unique WHERE hold = '0' AND expires_at IS NULL;
  UPDATE qg_unique SET expires_at = clock_timestamp() + hold WHERE expires_at IS NULL;
  RETURN NULL;
END
$$;
