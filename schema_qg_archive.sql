-- The archive of finished jobs (EnableArchive): every column of que_jobs,
-- when the job left it, and how: 'worked' when a worker (Go or Ruby) held
-- the job's lock as it deleted it, 'deleted' otherwise (by hand, say).
-- Migrate creates the table and the trigger function; only EnableArchive
-- puts the trigger on que_jobs.
CREATE TABLE IF NOT EXISTS qg_jobs_archive (
  priority    smallint    NOT NULL,
  run_at      timestamptz NOT NULL,
  job_id      bigint      NOT NULL,
  job_class   text        NOT NULL,
  args        json        NOT NULL,
  error_count integer     NOT NULL,
  last_error  text,
  queue       text        NOT NULL,
  finished_at timestamptz NOT NULL,
  outcome     text        NOT NULL
);
CREATE INDEX IF NOT EXISTS qg_jobs_archive_finished_at ON qg_jobs_archive (finished_at);
CREATE INDEX IF NOT EXISTS qg_jobs_archive_job_id ON qg_jobs_archive (job_id);

-- Copy the rows a DELETE statement removed from que_jobs, in the deleting
-- transaction. pg_locks is read once a statement: a job was worked when
-- its one-bigint advisory lock (objsubid 1) is held by the deleting
-- session (a Go or Ruby worker deletes on the session that locked it), or
-- by the session the transaction-local setting qg.lock_holder names (a
-- batch job deletes in its own transaction while the pool's locker holds
-- its lock). A job an operator deletes while a worker runs it is
-- "deleted": its run did not finish it.
--
-- A trigger must never fail a delete of Ruby's: a dropped archive is
-- skipped, and the function runs as its owner with a pinned search_path
-- (see qg_unique_release), so a role granted only que_jobs needs no grant
-- on qg_jobs_archive.
CREATE OR REPLACE FUNCTION qg_archive_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF to_regclass('qg_jobs_archive') IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO qg_jobs_archive (priority, run_at, job_id, job_class, args, error_count,
    last_error, queue, finished_at, outcome)
  SELECT g.priority, g.run_at, g.job_id, g.job_class, g.args, g.error_count,
    g.last_error, g.queue, clock_timestamp(),
    CASE WHEN g.job_id IN (
      SELECT (l.classid::bigint << 32) + l.objid::bigint
      FROM pg_locks AS l
      WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND (l.pid = pg_backend_pid()
             OR l.pid::text = coalesce(nullif(current_setting('qg.lock_holder', true), ''), '-'))
    ) THEN 'worked' ELSE 'deleted' END
  FROM qg_archived_jobs AS g;
  RETURN NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION qg_archive_jobs() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE EXECUTE ON FUNCTION qg_archive_jobs() FROM PUBLIC;
