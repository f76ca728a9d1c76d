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
-- Which row holds the key: another producer may give a different row the
-- same job_id (Que 0.x's key is the whole primary key), and its delete must
-- not free the key. NULL in keys taken before these columns existed.
ALTER TABLE qg_unique ADD COLUMN IF NOT EXISTS queue text;
ALTER TABLE qg_unique ADD COLUMN IF NOT EXISTS job_class text;
ALTER TABLE qg_unique ADD COLUMN IF NOT EXISTS args_md5 text;
CREATE INDEX IF NOT EXISTS qg_unique_job_id ON qg_unique (job_id);
CREATE INDEX IF NOT EXISTS qg_unique_expires_at ON qg_unique (expires_at)
  WHERE expires_at IS NOT NULL;

-- Release the key of a job that left que_jobs (deleted: worked by a Go or
-- Ruby worker, or by hand) or was given up (moved to its dead-letter
-- queue): a key held for no time is freed at once, any other expires after
-- its hold. Only the row that took the key frees it: same job_id, queue,
-- class and args (OLD is the row as it was, in its live queue). It runs for
-- every deleted job, so the usual case (no key) costs one index probe.
--
-- A trigger must never fail a delete of Ruby's: a missing qg_unique is
-- skipped, and the functions run as their owner (SECURITY DEFINER, the
-- role that migrated) with a search_path pinned below to the schema of
-- qg_unique, so a role granted only que_jobs (a Ruby application's) needs
-- no grant on qg_unique and cannot redirect the function.
CREATE OR REPLACE FUNCTION qg_unique_release() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF to_regclass('qg_unique') IS NULL THEN
    RETURN NULL; -- checked apart: a statement naming it would fail to parse
  END IF;
  IF EXISTS (SELECT 1 FROM qg_unique WHERE job_id = OLD.job_id AND expires_at IS NULL) THEN
    DELETE FROM qg_unique AS u
    WHERE u.job_id = OLD.job_id AND u.hold = '0' AND u.expires_at IS NULL
      AND (u.queue IS NULL OR (u.queue = OLD.queue AND u.job_class = OLD.job_class
                               AND u.args_md5 = md5(OLD.args::text)));
    UPDATE qg_unique AS u SET expires_at = clock_timestamp() + u.hold
    WHERE u.job_id = OLD.job_id AND u.expires_at IS NULL
      AND (u.queue IS NULL OR (u.queue = OLD.queue AND u.job_class = OLD.job_class
                               AND u.args_md5 = md5(OLD.args::text)));
  END IF;
  RETURN NULL;
END
$$;

-- After TRUNCATE que_jobs: every job is gone.
CREATE OR REPLACE FUNCTION qg_unique_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF to_regclass('qg_unique') IS NULL THEN
    RETURN NULL;
  END IF;
  DELETE FROM qg_unique WHERE hold = '0' AND expires_at IS NULL;
  UPDATE qg_unique SET expires_at = clock_timestamp() + hold WHERE expires_at IS NULL;
  RETURN NULL;
END
$$;

-- Pin the functions' search_path to the schema the side tables are in
-- (pg_catalog is searched first anyway; pg_temp last, so no temporary
-- table can stand in for qg_unique). A trigger needs no EXECUTE right to
-- fire, so no one needs to call them directly.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION qg_unique_release() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION qg_unique_truncated() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE EXECUTE ON FUNCTION qg_unique_release(), qg_unique_truncated() FROM PUBLIC;
