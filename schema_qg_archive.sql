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
-- transaction. pg_locks is read once a statement: a job whose one-bigint
-- advisory lock (objsubid 1) some session of this database holds was being
-- worked. A trigger must never fail a delete of Ruby's, so a dropped
-- archive is skipped. Like que_jobs, qg_jobs_archive is found on the
-- search_path of the session that deletes.
CREATE OR REPLACE FUNCTION qg_archive_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
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
    ) THEN 'worked' ELSE 'deleted' END
  FROM qg_archived_jobs AS g;
  RETURN NULL;
END
$$;
