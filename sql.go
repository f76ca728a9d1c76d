package qg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// dialect is the seam between qg and one generation of Que's jobs table. Every
// statement that names a column of que_jobs lives in a dialect value, together
// with the two functions that know the table's key and row shape. A later
// table generation (Que 2.x, schema version 7) gets a value of its own; the
// Client, Job, Worker and WorkerPool never change for it.
type dialect struct {
	version string // the table comment Que uses as its schema version
	lockJob string // walk one queue and lock the first runnable free job
	// lockJobInTx is lockJob inside a job's transaction; it keeps the key
	// of the job it locked for lockedJobExists.
	lockJobInTx     string
	lockedJobExists string // is the job lockJobInTx locked still there
	jobExists       string // is the locked job still there (a fresh snapshot)
	unlockJob       string // release a job's session lock
	deleteJob       string // finish a job by removing it
	// deleteLockedJob removes the job of a Worker's commit pipeline, and
	// fails when it is not there.
	deleteLockedJob string
	deleteHeldJob   string // remove a batch job while the locker holds it
	failJob         string // record a failure and move run_at by a delay in seconds
	buryJob         string // give a job up: move it to a dead-letter queue
	insertJob       string // enqueue one job
	insertJobs      string // enqueue many jobs from column arrays, in order
	stats           string // per queue and class counts, with the jobs being worked
	overview        string // per queue and class counts by state (overview.go)

	installNotify string // the opt-in insert trigger that notifies listeners
	removeNotify  string // its removal

	// keyArgs gives the job's full primary key, in the order the statements
	// above take it ($1...).
	keyArgs func(j *Job) []any
	// keysArgs gives the full primary keys of jobs as the column arrays
	// jobsExist and deleteJobs take.
	keysArgs func(jobs []*Job) []any
	// insertArgs gives insertJob's parameters for a validated job.
	insertArgs func(j *Job) []any
	// insertManyArgs gives insertJobs' parameters for validated jobs.
	insertManyArgs func(jobs []*Job) []any
	// scanJob reads one row of lockJob or lockJobs into j.
	scanJob func(row rowScanner, j *Job) error

	lockJobs   string // walk one queue and lock up to $2 free runnable jobs, skipping $3
	jobsExist  string // which of the given keys are still there
	deleteJobs string // finish many jobs by removing them
	unlockJobs string // release many session locks

	// A batch job's lock is held by the locker's session (pid $7), not by
	// the session that records its failure: these two change the job only
	// while the locker's session still holds its lock.
	failHeldJob string // failJob for a batch job
	buryHeldJob string // buryJob for a batch job

	// The operator's statements (admin.go): each takes a job by job_id
	// alone, and those that change a job take its lock at transaction level
	// first, so they never touch a job a session is working.
	listJobs    string // a page of jobs after job_id $3, with state and worker
	findJob     string // one job by job_id, with state and worker
	deleteByID  string // delete job $1 unless a session holds it
	retryByID   string // make job $1 run now (back from its dead queue) unless held
	scanJobInfo func(row rowScanner, info *JobInfo) error
}

// que0Walk is the walk of lockJob: a recursive CTE that goes through one
// queue ($1) in key order, one row per step, and tries the session advisory
// lock of each job until one is granted. try-lock never waits on a job
// another session is working; the outer LIMIT of the statements that use it
// stops the walk at the first lock taken. The index scan passes over the
// jobs of $2, those the Client's own workers hold, without a step or a
// try-lock each: with many workers in one process most of the jobs at the
// head of a busy queue are theirs.
const que0Walk = `WITH RECURSIVE walk AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j FROM que_jobs AS j
    WHERE queue = $1::text AND run_at <= now() AND job_id <> ALL ($2::bigint[])
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS first_job
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j FROM que_jobs AS j
        WHERE queue = $1::text AND run_at <= now() AND job_id <> ALL ($2::bigint[])
          AND (priority, run_at, job_id) > (walk.priority, walk.run_at, walk.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM walk
      WHERE walk.job_id IS NOT NULL AND NOT walk.locked
      LIMIT 1
    ) AS next_job
  )
)
`

// que0WalkResult is the columns a walk returns, in scanJob's order.
const que0WalkResult = `SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error`

// que0 is the Ruby Que 0.x table, schema version 3. Its only index is the
// primary key (queue, priority, run_at, job_id), so every statement on one job
// names the whole key.
//
// Each statement opens with a comment naming it. PrepareStatements prepares
// a statement under its own text, and PostgreSQL cuts a statement name to 63
// bytes: the comment keeps those first bytes distinct, so two statements can
// never be mistaken for each other. It also names them in pg_stat_activity.
var que0 = &dialect{
	version: "3",

	// Lock the first free runnable job of a queue (see que0Walk).
	lockJob: "/* qg:lock_job */ " + que0Walk + que0WalkResult + `
FROM walk
WHERE locked
LIMIT 1`,

	// The walk of lockJob run as the first statement of a job's transaction:
	// it also keeps the locked job's key in a transaction-local setting, so
	// that lockedJobExists, sent in the same pipeline, can re-check the job
	// without waiting for the walk's answer first.
	lockJobInTx: "/* qg:lock_job_in_tx */ " + que0Walk + que0WalkResult + `,
  set_config('qg.locked_job', json_build_array(queue, priority, run_at, job_id)::text, true)
FROM walk
WHERE locked
LIMIT 1`,

	// Is the job whose key lockJobInTx kept still there? False when the walk
	// locked nothing (the setting is then unset, or empty). The second column
	// says whether the answer can be trusted: only at READ COMMITTED does
	// this statement take a snapshot newer than the walk's; at REPEATABLE
	// READ or SERIALIZABLE (a default_transaction_isolation of the database,
	// the role or the connection) it sees the walk's.
	lockedJobExists: `/* qg:locked_job_exists */ SELECT EXISTS (SELECT 1 FROM que_jobs,
  (SELECT nullif(current_setting('qg.locked_job', true), '')::json AS k) AS locked
WHERE queue = k->>0 AND priority = (k->>1)::smallint
  AND run_at = (k->>2)::timestamptz AND job_id = (k->>3)::bigint),
  current_setting('transaction_isolation') = 'read committed'`,

	// The batch walk goes on past locked rows until $2 are locked, and
	// skips the jobs this session already holds ($3): a session's advisory
	// locks are re-entrant, so without that it would lock them again.
	lockJobs: `/* qg:lock_jobs */ WITH RECURSIVE walk AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j FROM que_jobs AS j
    WHERE queue = $1::text AND run_at <= now() AND job_id <> ALL ($3::bigint[])
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS first_job
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j FROM que_jobs AS j
        WHERE queue = $1::text AND run_at <= now() AND job_id <> ALL ($3::bigint[])
          AND (priority, run_at, job_id) > (walk.priority, walk.run_at, walk.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM walk
      WHERE walk.job_id IS NOT NULL
      LIMIT 1
    ) AS next_job
  )
)
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
FROM walk
WHERE locked
LIMIT $2`,

	jobsExist: `/* qg:jobs_exist */ SELECT job_id FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (
  SELECT q, p, r::timestamptz, id FROM unnest($1::text[], $2::smallint[], $3::text[], $4::bigint[]) AS k (q, p, r, id))`,

	deleteJobs: `/* qg:delete_jobs */ DELETE FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (
  SELECT q, p, r::timestamptz, id FROM unnest($1::text[], $2::smallint[], $3::text[], $4::bigint[]) AS k (q, p, r, id))`,

	unlockJobs: `/* qg:unlock_jobs */ SELECT id FROM unnest($1::bigint[]) AS id WHERE NOT pg_advisory_unlock(id)`,

	jobExists: `/* qg:job_exists */ SELECT EXISTS (SELECT 1 FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4)`,

	unlockJob: `/* qg:unlock_job */ SELECT pg_advisory_unlock($1)`,

	deleteJob: `/* qg:delete_job */ DELETE FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4`,

	// The delete of a Worker's commit pipeline, which COMMIT follows
	// unconditionally: when the job is not there (someone deleted it while
	// it ran) the statement fails, the transaction aborts, and the job's
	// work rolls back with it. The cast of a non-constant text fails only
	// then, at run time.
	deleteLockedJob: `/* qg:delete_locked_job */ WITH deleted AS (
  DELETE FROM que_jobs
  WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4
  RETURNING 1)
SELECT CASE count(*) WHEN 1 THEN 1
  ELSE ('` + vanishedMarker + `, rows deleted: ' || count(*))::int END
FROM deleted`,

	// The delete of a batch job, whose transaction runs on a session without
	// the lock: it deletes only while the locker's session ($5) holds it.
	// It names the locker's session in qg.lock_holder for the archive
	// trigger, which then archives the job as worked.
	deleteHeldJob: `/* qg:delete_held_job */ WITH holder AS (
  SELECT set_config('qg.lock_holder', $5::int::text, true) AS pid)
DELETE FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + heldBy("$5") + `
  AND EXISTS (SELECT FROM holder)
`,

	failJob: `/* qg:fail_job */ UPDATE que_jobs
SET error_count = error_count + 1,
    run_at = now() + make_interval(secs => $5::double precision),
    last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4
RETURNING error_count, run_at`,

	buryJob: `/* qg:bury_job */ UPDATE que_jobs
SET queue = $5::text, error_count = error_count + 1, last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4`,

	failHeldJob: `/* qg:fail_held_job */ UPDATE que_jobs
SET error_count = error_count + 1,
    run_at = now() + make_interval(secs => $5::double precision),
    last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + heldBy("$7") + `
RETURNING error_count, run_at`,

	buryHeldJob: `/* qg:bury_held_job */ UPDATE que_jobs
SET queue = $5::text, error_count = error_count + 1, last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + heldBy("$7") + `
RETURNING job_id`,

	insertJob: `/* qg:insert_job */ INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES ($1::text, coalesce($2::smallint, 100), coalesce($3::timestamptz, now()), $4::text, $5::json)
RETURNING job_id, priority, run_at`,

	// One array per column, unnested in step and inserted in order. A zero
	// priority and an empty run_at take the defaults, as in insertJob.
	insertJobs: `/* qg:insert_jobs */ INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
SELECT queue, coalesce(nullif(priority, 0), 100), coalesce(nullif(run_at, '')::timestamptz, now()),
  job_class, args::json
FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[])
  WITH ORDINALITY AS batch (queue, priority, run_at, job_class, args, n)
ORDER BY n
RETURNING job_id, priority, run_at`,

	// pg_locks is cluster-wide: only granted one-bigint advisory locks
	// (objsubid 1) of this database are job locks.
	stats: `/* qg:stats */ SELECT queue, job_class,
  count(*) AS count,
  count(locks.job_id) AS count_working,
  count(*) FILTER (WHERE error_count > 0) AS count_errored,
  max(error_count) AS highest_error_count,
  min(run_at) AS oldest_run_at
FROM que_jobs
LEFT JOIN (
  SELECT (classid::bigint << 32) + objid::bigint AS job_id
  FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 1 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS locks USING (job_id)
GROUP BY queue, job_class
ORDER BY queue, job_class`,

	overview: que0Overview,

	// The trigger notifies on notifyChannel with the queue's name for each
	// job runnable now. A payload must stay under 8,000 bytes, so a queue
	// with a longer name is left to polling rather than failing the insert.
	installNotify: `/* qg:install_notify */ CREATE OR REPLACE FUNCTION qg_notify_que_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.run_at <= now() AND octet_length(NEW.queue) < 7000 THEN
    PERFORM pg_notify('` + notifyChannel + `', NEW.queue);
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS qg_notify_que_jobs ON que_jobs;
CREATE TRIGGER qg_notify_que_jobs AFTER INSERT ON que_jobs
  FOR EACH ROW EXECUTE FUNCTION qg_notify_que_jobs();`,

	removeNotify: `/* qg:remove_notify */ DROP TRIGGER IF EXISTS qg_notify_que_jobs ON que_jobs;
DROP FUNCTION IF EXISTS qg_notify_que_jobs();`,

	listJobs: `/* qg:list_jobs */ SELECT * FROM (` + que0JobInfo + `) AS info
WHERE (cardinality($1::text[]) = 0 OR queue = ANY ($1::text[]))
  AND (cardinality($2::text[]) = 0 OR job_class = ANY ($2::text[]))
  AND job_id > $3::bigint AND ($4::text = '' OR state = $4::text)
ORDER BY job_id
LIMIT $5::int`,

	findJob: `/* qg:find_job */ SELECT * FROM (` + que0JobInfo + `) AS info WHERE job_id = $1::bigint`,

	// The job's lock, tried at transaction level in the statement's own
	// transaction, keeps every worker off it until the delete commits; a
	// job a session holds is left alone. No row: no such job.
	deleteByID: `/* qg:delete_by_id */ WITH tried AS (
  SELECT queue, priority, run_at, job_id, pg_try_advisory_xact_lock(job_id) AS free
  FROM que_jobs WHERE job_id = $1::bigint
), deleted AS (
  DELETE FROM que_jobs AS j USING tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING j.job_id
)
SELECT t.free, EXISTS (SELECT 1 FROM deleted) FROM tried AS t`,

	// retryByID moves job $1 to run now, and out of its dead-letter queue
	// (prefix $2) when it was given up; as deleteByID, never a held job.
	retryByID: `/* qg:retry_by_id */ WITH tried AS (
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
SELECT t.free, EXISTS (SELECT 1 FROM retried) FROM tried AS t`,

	scanJobInfo: func(row rowScanner, info *JobInfo) error {
		var args []byte
		err := row.Scan(&info.Queue, &info.Priority, runAtScanner{&info.RunAt}, &info.ID, &info.Type,
			&args, &info.ErrorCount, &info.LastError, &info.State, &info.WorkerPID)
		info.Args = args
		return err
	},

	keyArgs: func(j *Job) []any {
		return []any{j.Queue, j.Priority, runAtValue(j.RunAt), j.ID}
	},
	insertArgs: func(j *Job) []any {
		var priority, runAt any // NULL: the column's default
		if j.Priority != 0 {
			priority = j.Priority
		}
		if !j.RunAt.IsZero() {
			runAt = runAtValue(j.RunAt)
		}
		return []any{j.Queue, priority, runAt, j.Type, jobArgs(j)}
	},
	keysArgs: func(jobs []*Job) []any {
		queues := make([]string, len(jobs))
		priorities := make([]int16, len(jobs))
		runAts := make([]string, len(jobs))
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			queues[i], priorities[i], runAts[i], ids[i] = j.Queue, j.Priority, formatRunAt(j.RunAt), j.ID
		}
		return []any{queues, priorities, runAts, ids}
	},
	insertManyArgs: func(jobs []*Job) []any {
		queues, priorities, runAts, types, args := batchColumns(jobs)
		return []any{queues, priorities, runAts, types, args}
	},
	scanJob: func(row rowScanner, j *Job) error {
		return row.Scan(&j.Queue, &j.Priority, runAtScanner{&j.RunAt}, &j.ID, &j.Type,
			&j.Args, &j.ErrorCount, &j.LastError)
	},
}

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

// heldBy ends the WHERE clause of a statement on job $4 that must change
// it only while the session whose pid is the parameter pid holds the job's
// advisory lock (one bigint key: objsubid 1, its halves in classid and
// objid).
func heldBy(pid string) string {
	return `
  AND EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = ` + pid + `::int
      AND (classid::bigint << 32) + objid::bigint = $4)`
}

// vanishedMarker starts the message of deleteLockedJob's failure, by which
// qg knows it.
const vanishedMarker = "qg: job vanished before its delete"

// notifyChannel is the channel the notify trigger sends on.
const notifyChannel = "qg_que_jobs"

// statements lists every statement of the dialect, for PrepareStatements.
func (d *dialect) statements() []string {
	return []string{d.lockJob, d.lockJobInTx, d.lockedJobExists, d.jobExists, d.unlockJob, d.deleteJob, d.deleteLockedJob, d.deleteHeldJob,
		d.failJob, d.buryJob, d.failHeldJob, d.buryHeldJob, d.insertJob, d.insertJobs, d.stats,
		d.lockJobs, d.jobsExist, d.deleteJobs, d.unlockJobs}
}

// PrepareStatements prepares qg's statements on conn, for use in a pool's
// after-connect hook (stdlib.OptionAfterConnect). It is an optimisation, never
// a requirement: each statement is prepared under its own SQL text as name, so
// qg sends the same text on every connection and pgx uses the prepared
// statement where there is one and its statement cache elsewhere.
func PrepareStatements(conn *pgx.Conn) error {
	ctx := context.Background()
	for _, stmt := range que0.statements() {
		if _, err := conn.Prepare(ctx, stmt, stmt); err != nil {
			return fmt.Errorf("qg: prepare statements: %w", err)
		}
	}
	return nil
}
