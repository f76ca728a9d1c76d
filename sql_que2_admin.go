package qg

import "database/sql"

// The operator's statements on the Ruby Que 2.x table (see sql_que0_admin.go
// for the 0.x ones and admin.go for their use). A given-up job is expired
// there, in its own queue, and a finished one (Ruby's finish) is kept.

// JobFinished is the state of a Que 2.x job whose finished_at is set (Ruby
// Que 2's finish keeps the row); no worker takes it again.
const JobFinished JobState = "finished"

// JobOtherVersion is the state of a free Que 2.x row of another
// job_schema_version than 2 (rows Que 1.x wrote): neither Ruby Que 2 nor
// qg's workers take it, so it is not ready however due it is (see
// [Client.ForJobSchemaVersion] to drain such rows).
const JobOtherVersion JobState = "other_version"

func (que2Table) overview(locked []int64) (string, []any) { return que2Overview, []any{locked} }

func (que2Table) listJobs(queues, types []string, afterID int64, state string, limit int) (string, []any) {
	if state == string(JobDead) { // given up, as the 0.x table says it
		state = string(JobExpired)
	}
	return que2ListJobs, []any{queues, types, afterID, state, limit}
}

func (que2Table) findJob(id int64) (string, []any)    { return que2FindJob, []any{id} }
func (que2Table) deleteByID(id int64) (string, []any) { return que2DeleteByID, []any{id} }
func (que2Table) retryByID(id int64) (string, []any)  { return que2RetryByID, []any{id} }

func (que2Table) scanJobInfo(row rowScanner, info *JobInfo) error {
	var args, kwargs, data []byte
	var expired, finished sql.NullTime
	err := row.Scan(&info.Queue, &info.Priority, runAtScanner{&info.RunAt}, &info.ID, &info.Type,
		&args, &info.ErrorCount, &info.LastError, &info.State, &info.WorkerPID,
		&kwargs, &data, &info.LastErrorBacktrace, &expired, &finished, &info.JobSchemaVersion)
	info.Args, info.Kwargs, info.Data, info.Tags = args, kwargs, data, dataTags(data)
	if expired.Valid {
		info.ExpiredAt = &expired.Time
	}
	if finished.Valid {
		info.FinishedAt = &finished.Time
	}
	return err
}

// que2Locks are the job locks of this database, by id (see que0Stats).
const que2Locks = `SELECT (classid::bigint << 32) + objid::bigint AS id, pid
  FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 1 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// que2Overview counts the rows per queue and class by state as
// que0Overview does (the locked ids are $1): ready and scheduled count the
// free rows Que 2 works (job_schema_version 2), other version the free
// rows of another version, expired and finished the rows Que 2 ended.
const que2Overview = `/* qg:que2_overview */ WITH groups AS (
  SELECT j.queue, j.job_class, j.run_at <= now() AS due, j.error_count > 0 AS failed,
    l.id IS NOT NULL AS held, j.expired_at IS NOT NULL AS expired,
    j.finished_at IS NOT NULL AND j.expired_at IS NULL AS finished, j.job_schema_version = 2 AS current,
    count(*) AS n, min(j.run_at) AS oldest
  FROM public.que_jobs AS j LEFT JOIN unnest($1::bigint[]) AS l(id) ON l.id = j.id
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), jobs AS (
  SELECT *, NOT held AND NOT expired AND NOT finished AS free FROM groups
)
SELECT queue, job_class,
  coalesce(sum(n) FILTER (WHERE free AND current AND due), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE free AND current AND NOT due), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE held), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE NOT expired AND NOT finished AND failed), 0)::bigint,
  0,
  coalesce(sum(n) FILTER (WHERE expired), 0)::bigint,
  coalesce(extract(epoch FROM now()) - extract(epoch FROM
    min(oldest) FILTER (WHERE free AND current AND due)), 0)::float8,
  coalesce(sum(n) FILTER (WHERE finished), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE free AND NOT current), 0)::bigint
FROM jobs
GROUP BY queue, job_class
ORDER BY queue, job_class`

// que2JobInfo is every row with its state and the pid of the session
// holding its lock, then the columns 0.x has not.
const que2JobInfo = `SELECT j.queue, j.priority, j.run_at, j.id, j.job_class, j.args::text,
  j.error_count, j.last_error_message,
  CASE WHEN j.expired_at IS NOT NULL THEN 'expired'
       WHEN j.finished_at IS NOT NULL THEN 'finished'
       WHEN locks.pid IS NOT NULL THEN 'running'
       WHEN j.job_schema_version <> 2 THEN 'other_version'
       WHEN j.run_at > now() AND j.error_count > 0 THEN 'retrying'
       WHEN j.run_at > now() THEN 'scheduled'
       ELSE 'ready' END AS state,
  coalesce(locks.pid, 0) AS pid,
  j.kwargs::text, j.data::text, j.last_error_backtrace, j.expired_at, j.finished_at, j.job_schema_version
FROM public.que_jobs AS j
LEFT JOIN (` + que2Locks + `) AS locks USING (id)`

const (
	// que2ListJobs is a page of jobs after id $3, with state and worker.
	que2ListJobs = `/* qg:que2_list_jobs */ SELECT * FROM (` + que2JobInfo + `) AS info
WHERE (cardinality($1::text[]) = 0 OR queue = ANY ($1::text[]))
  AND (cardinality($2::text[]) = 0 OR job_class = ANY ($2::text[]))
  AND id > $3::bigint AND ($4::text = '' OR state = $4::text)
ORDER BY id
LIMIT $5::int`

	// que2FindJob is one job by id, with state and worker.
	que2FindJob = `/* qg:que2_find_job */ SELECT * FROM (` + que2JobInfo + `) AS info WHERE id = $1::bigint`

	// que2DeleteByID deletes job $1 unless a session holds it (its lock is
	// tried at transaction level first, as in que0DeleteByID).
	// The deletion is real even with the archive on (qg.delete, see
	// que2InstallArchive): tried's row, and its set_config, come first.
	que2DeleteByID = `/* qg:que2_delete_by_id */ WITH tried AS (
  SELECT id, pg_try_advisory_xact_lock(id) AS free, set_config('qg.delete', 'real', true)
  FROM public.que_jobs WHERE id = $1::bigint
), deleted AS (
  DELETE FROM public.que_jobs AS j USING tried AS t WHERE t.free AND j.id = t.id
  RETURNING j.id
)
SELECT t.free, EXISTS (SELECT 1 FROM deleted) FROM tried AS t`

	// que2RetryByID makes job $1 run now, no longer expired, unless a
	// session holds it; a finished job stays finished.
	que2RetryByID = `/* qg:que2_retry_by_id */ WITH tried AS (
  SELECT id, pg_try_advisory_xact_lock(id) AS free FROM public.que_jobs WHERE id = $1::bigint
), retried AS (
  UPDATE public.que_jobs AS j SET expired_at = NULL, run_at = now()
  FROM tried AS t WHERE t.free AND j.id = t.id AND j.finished_at IS NULL
  RETURNING j.id
)
SELECT t.free, EXISTS (SELECT 1 FROM retried) FROM tried AS t`
)
