package qg

import "time"

// The statements of the Que 0.x table (see que0Table) that operators and
// dashboards run: the overview by state and the jobs by id.

func (que0Table) overview(locked []int64) (string, []any) {
	return que0Overview, []any{deadQueuePrefix, locked}
}

func (que0Table) listJobs(queues, types []string, afterID int64, state string, limit int) (string, []any) {
	if state == string(JobExpired) { // given up, as the 2.x table says it
		state = string(JobDead)
	}
	return que0ListJobs, []any{queues, types, afterID, state, limit}
}

func (que0Table) findJob(id int64) (string, []any)    { return que0FindJob, []any{id} }
func (que0Table) deleteByID(id int64) (string, []any) { return que0DeleteByID, []any{id} }

func (que0Table) retryByID(id int64) (string, []any) {
	return que0RetryByID, []any{id, deadQueuePrefix}
}

func (que0Table) snoozeByID(id int64, delay time.Duration) (string, []any) {
	return que0SnoozeByID, []any{id, delay.Seconds()}
}

// cancelJob removes job id, or asks the session working it to stop (see
// que0CancelJob). A Que 2.x dialect would expire the queued job instead.
func (que0Table) cancelJob(id int64) (string, []any) { return que0CancelJob, []any{id} }

func (que0Table) scanJobInfo(row rowScanner, info *JobInfo) error {
	var args []byte
	err := row.Scan(&info.Queue, &info.Priority, runAtScanner{&info.RunAt}, &info.ID, &info.Type,
		&args, &info.ErrorCount, &info.LastError, &info.State, &info.WorkerPID)
	info.Args = args
	return err
}

// que0Overview is the overview statement of a Que 0.x table. It groups the
// rows by queue, class and the facts their state is made of (due, failed,
// held: job_id in $2, the locked ids), then folds the few groups into the
// counts, taking the dead-letter prefix ($1) off the queues: one cheap
// aggregate over the rows, which PostgreSQL may run in parallel, as the
// locks come as a parameter instead of from pg_locks. Ages are epoch
// differences, so that an infinite run_at gives an infinite age instead of
// an interval overflow.
const que0Overview = `/* qg:overview */ WITH groups AS (
  SELECT j.queue, j.job_class, j.run_at <= now() AS due, j.error_count > 0 AS failed,
    l.id IS NOT NULL AS held, count(*) AS n, min(j.run_at) AS oldest
  FROM que_jobs AS j LEFT JOIN unnest($2::bigint[]) AS l(id) ON l.id = j.job_id
  GROUP BY 1, 2, 3, 4, 5
), jobs AS (
  SELECT left(queue, length($1::text)) = $1::text AS dead, * FROM groups
)
SELECT CASE WHEN dead THEN substr(queue, length($1::text) + 1) ELSE queue END AS q, job_class,
  coalesce(sum(n) FILTER (WHERE NOT dead AND NOT held AND due), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE NOT dead AND NOT held AND NOT due), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE held), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE NOT dead AND failed), 0)::bigint,
  coalesce(sum(n) FILTER (WHERE dead), 0)::bigint,
  0,
  coalesce(extract(epoch FROM now()) - extract(epoch FROM
    min(oldest) FILTER (WHERE NOT dead AND NOT held AND due)), 0)::float8,
  0, 0
FROM jobs
GROUP BY q, job_class
ORDER BY q, job_class`

// que0JobInfo is every job of que_jobs with its state (see [JobState]) and
// the pid of the session holding its lock, if one does; the statements
// that read it filter it.
const que0JobInfo = `SELECT j.queue, j.priority, j.run_at, j.job_id, j.job_class, j.args::text,
  j.error_count, j.last_error,
  CASE WHEN left(j.queue, length('` + deadQueuePrefix + `')) = '` + deadQueuePrefix + `' THEN 'dead'
       WHEN locks.pid IS NOT NULL THEN 'running'
       WHEN j.run_at > now() AND j.error_count > 0 THEN 'retrying'
       WHEN j.run_at > now() THEN 'scheduled'
       ELSE 'ready' END AS state,
  coalesce(locks.pid, 0) AS pid
FROM que_jobs AS j
LEFT JOIN (
  SELECT (classid::bigint << 32) + objid::bigint AS job_id, pid
  FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 1 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS locks USING (job_id)`

const (
	// que0ListJobs is a page of jobs after job_id $3, with state and worker.
	que0ListJobs = `/* qg:list_jobs */ SELECT * FROM (` + que0JobInfo + `) AS info
WHERE (cardinality($1::text[]) = 0 OR queue = ANY ($1::text[]))
  AND (cardinality($2::text[]) = 0 OR job_class = ANY ($2::text[]))
  AND job_id > $3::bigint AND ($4::text = '' OR state = $4::text)
ORDER BY job_id
LIMIT $5::int`

	// que0FindJob is one job by job_id, with state and worker.
	que0FindJob = `/* qg:find_job */ SELECT * FROM (` + que0JobInfo + `) AS info WHERE job_id = $1::bigint`

	// que0DeleteByID deletes job $1. The job's lock, tried at transaction
	// level in the statement's own transaction, keeps every worker off it
	// until the delete commits; a job a session holds is left alone. No
	// row: no such job.
	que0DeleteByID = `/* qg:delete_by_id */ WITH tried AS (
  SELECT queue, priority, run_at, job_id, pg_try_advisory_xact_lock(job_id) AS free
  FROM que_jobs WHERE job_id = $1::bigint
), deleted AS (
  DELETE FROM que_jobs AS j USING tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING j.job_id
)
SELECT t.free, EXISTS (SELECT 1 FROM deleted) FROM tried AS t`

	// que0RetryByID moves job $1 to run now, and out of its dead-letter
	// queue (prefix $2) when it was given up; as que0DeleteByID, never a
	// held job.
	que0RetryByID = `/* qg:retry_by_id */ WITH tried AS (
  SELECT queue, priority, run_at, job_id, pg_try_advisory_xact_lock(job_id) AS free
  FROM que_jobs WHERE job_id = $1::bigint
), retried AS (
  UPDATE que_jobs AS j
  SET queue = CASE WHEN left(j.queue, length($2::text)) = $2::text
                   THEN substr(j.queue, length($2::text) + 1) ELSE j.queue END,
      run_at = now()
  FROM tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING j.job_id
)
SELECT t.free, EXISTS (SELECT 1 FROM retried) FROM tried AS t`

	// que0SnoozeByID moves job $1's run_at to now() + $2 seconds; as
	// que0DeleteByID, never a held job.
	que0SnoozeByID = `/* qg:snooze_by_id */ WITH tried AS (
  SELECT queue, priority, run_at, job_id, pg_try_advisory_xact_lock(job_id) AS free
  FROM que_jobs WHERE job_id = $1::bigint
), snoozed AS (
  UPDATE que_jobs AS j
  SET run_at = now() + make_interval(secs => $2::double precision)
  FROM tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING j.job_id
)
SELECT t.free, EXISTS (SELECT 1 FROM snoozed) FROM tried AS t`
)

// que0CancelJob removes job $1 when no session holds it; otherwise it
// records a cancel request and notifies the holders. It answers whether the
// job was free, and whether it was removed. Requests older than a day are
// dropped on the way: their jobs are long finished.
const que0CancelJob = `/* qg:cancel_job */ WITH tried AS (
  SELECT queue, priority, run_at, job_id, pg_try_advisory_xact_lock(job_id) AS free
  FROM que_jobs WHERE job_id = $1::bigint
), deleted AS (
  DELETE FROM que_jobs AS j USING tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING j.job_id
), requested AS (
  INSERT INTO qg_cancelled_jobs (job_id) SELECT job_id FROM tried WHERE NOT free
  ON CONFLICT (job_id) DO UPDATE SET cancelled_at = now()
  RETURNING job_id
), notified AS (
  SELECT pg_notify('` + cancelChannel + `', job_id::text) FROM requested
), expired AS (
  DELETE FROM qg_cancelled_jobs WHERE cancelled_at < now() - interval '1 day'
)
SELECT t.free, EXISTS (SELECT 1 FROM deleted), (SELECT count(*) FROM notified) FROM tried AS t`
