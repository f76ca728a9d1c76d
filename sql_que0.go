package qg

import (
	"fmt"
	"math"
	"time"
)

// que0Table is the Ruby Que 0.x table, schema version 3 (schema.sql). Its
// only index is the primary key (queue, priority, run_at, job_id), so every
// statement on one job names the whole key, and a failure or a give-up,
// which change run_at or queue, move the job's key (see Job.saveFields).
//
// Each statement opens with a comment naming it. PrepareStatements prepares
// a statement under its own text, and PostgreSQL cuts a statement name to 63
// bytes: the comment keeps those first bytes distinct, so two statements can
// never be mistaken for each other. It also names them in pg_stat_activity.
type que0Table struct{}

// que0 is the dialect of the Ruby Que 0.x table.
var que0 dialect = que0Table{}

func init() { registerDialect(que0) }

func (que0Table) name() string    { return "Ruby Que 0.x" }
func (que0Table) version() string { return "3" }

func (que0Table) statements() []string {
	return []string{que0LockJob, que0LockJobInTx, que0LockedJobExists, que0JobExists, que0DeleteJob,
		que0DeleteLockedJob, que0DeleteHeldJob, que0FailJob, que0BuryJob, que0FailHeldJob, que0BuryHeldJob,
		que0SnoozeJob, que0SnoozeHeldJob,
		que0InsertJob, que0InsertJobs, que0Stats, que0LockJobs, que0JobsExist, que0DeleteJobs}
}

// que0Walk is the walk of the lock statements (walkSQL) through one queue
// ($1) of the 0.x table, in its key order, passing over the jobs of the
// parameter skip.
func que0Walk(skip string, firstOnly bool) string {
	return walkSQL("que_jobs", "job_id", "queue = $1::text AND run_at <= now()", skip, firstOnly) +
		`SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error`
}

var (
	// que0LockJob locks the first free runnable job of a queue.
	que0LockJob = "/* qg:lock_job */ " + que0Walk("$2", true) + `
FROM walk
WHERE locked
LIMIT 1`

	// que0LockJobInTx is the walk of lockJob run as the first statement of
	// a job's transaction: it also keeps the locked job's key in a
	// transaction-local setting, so that que0LockedJobExists, sent in the
	// same pipeline, can re-check the job without waiting for the walk's
	// answer first.
	que0LockJobInTx = "/* qg:lock_job_in_tx */ " + que0Walk("$2", true) + `,
  set_config('qg.locked_job', json_build_array(queue, priority, run_at, job_id)::text, true)
FROM walk
WHERE locked
LIMIT 1`

	// que0LockJobs is the batch walk: it goes on past locked rows until $2
	// are locked.
	que0LockJobs = "/* qg:lock_jobs */ " + que0Walk("$3", false) + `
FROM walk
WHERE locked
LIMIT $2`
)

const (
	// Is the job whose key lockJobInTx kept still there? False when the walk
	// locked nothing (the setting is then unset, or empty). The second column
	// says whether the answer can be trusted: only at READ COMMITTED does
	// this statement take a snapshot newer than the walk's; at REPEATABLE
	// READ or SERIALIZABLE (a default_transaction_isolation of the database,
	// the role or the connection) it sees the walk's.
	que0LockedJobExists = `/* qg:locked_job_exists */ SELECT EXISTS (SELECT 1 FROM que_jobs,
  (SELECT nullif(current_setting('qg.locked_job', true), '')::json AS k) AS locked
WHERE queue = k->>0 AND priority = (k->>1)::smallint
  AND run_at = (k->>2)::timestamptz AND job_id = (k->>3)::bigint),
  current_setting('transaction_isolation') = 'read committed'`

	// The full keys keys gives, as rows. The run_at go as timestamps ($3),
	// never as text, which could not carry a run_at before the common era
	// nor an old local offset with seconds; $5 names an infinite run_at
	// ('' for a finite one).
	que0Keys = `
  SELECT q, p, CASE WHEN inf = '' THEN r ELSE inf::timestamptz END, id
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[], $5::text[]) AS k (q, p, r, id, inf)`

	// Which of the given keys are still there.
	que0JobsExist = `/* qg:jobs_exist */ SELECT job_id FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (` + que0Keys + `)`

	// Finish many jobs by removing them.
	que0DeleteJobs = `/* qg:delete_jobs */ DELETE FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (` + que0Keys + `)`

	// Is the locked job still there (a fresh snapshot)?
	que0JobExists = `/* qg:job_exists */ SELECT EXISTS (SELECT 1 FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4)`

	// Finish a job by removing it.
	que0DeleteJob = `/* qg:delete_job */ DELETE FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4`

	// The delete of a Worker's commit pipeline, which COMMIT follows
	// unconditionally: when the job is not there (someone deleted it while
	// it ran) the statement fails, the transaction aborts, and the job's
	// work rolls back with it. The cast of a non-constant text fails only
	// then, at run time.
	que0DeleteLockedJob = `/* qg:delete_locked_job */ WITH deleted AS (
  DELETE FROM que_jobs
  WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4
  RETURNING 1)
SELECT CASE count(*) WHEN 1 THEN 1
  ELSE ('` + vanishedMarker + `, rows deleted: ' || count(*))::int END
FROM deleted`

	// Record a failure ($6) and move run_at by a delay in seconds ($5).
	que0FailJob = `/* qg:fail_job */ UPDATE que_jobs
SET error_count = least(error_count::bigint + 1, 2147483647)::int,
    run_at = now() + make_interval(secs => $5::double precision),
    last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4
RETURNING error_count, run_at`

	// Put a job off by $5 seconds, no failure counted.
	que0SnoozeJob = `/* qg:snooze_job */ UPDATE que_jobs
SET run_at = now() + make_interval(secs => $5::double precision)
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4
RETURNING error_count, run_at`

	// Give a job up: move it to its dead-letter queue ($5).
	que0BuryJob = `/* qg:bury_job */ UPDATE que_jobs
SET queue = $5::text, error_count = least(error_count::bigint + 1, 2147483647)::int, last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4`

	// Enqueue one job; NULL priority and run_at take the defaults.
	que0InsertJob = `/* qg:insert_job */ INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES ($1::text, coalesce($2::smallint, 100), coalesce($3::timestamptz, now()), $4::text, $5::json)
RETURNING job_id, priority, run_at`

	// One array per column, unnested in step and inserted in order. A zero
	// priority takes the default, as in insertJob; run_at goes as a
	// timestamp, and kind says 'now' for the default or names an infinity.
	que0InsertJobs = `/* qg:insert_jobs */ INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
SELECT queue, coalesce(nullif(priority, 0), 100),
  CASE kind WHEN '' THEN run_at WHEN 'now' THEN now() ELSE kind::timestamptz END,
  job_class, args::json
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
  WITH ORDINALITY AS batch (queue, priority, run_at, job_class, args, kind, n)
ORDER BY n
RETURNING job_id, priority, run_at`

	// pg_locks is cluster-wide: only granted one-bigint advisory locks
	// (objsubid 1) of this database are job locks.
	que0Stats = `/* qg:stats */ SELECT queue, job_class,
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
ORDER BY queue, job_class`
)

var (
	// The delete of a batch job, whose transaction runs on a session without
	// the lock: it deletes only while the locker's session ($5) holds it.
	// It names the locker's session in qg.lock_holder for the archive
	// trigger, which then archives the job as worked.
	que0DeleteHeldJob = `/* qg:delete_held_job */ WITH holder AS (
  SELECT set_config('qg.lock_holder', $5::int::text, true) AS pid)
DELETE FROM que_jobs
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + que0HeldBy("$5") + `
  AND EXISTS (SELECT FROM holder)
`

	// A batch job's lock is held by the locker's session (pid $7), not by
	// the session that records its failure: these two change the job only
	// while the locker's session still holds its lock.
	que0FailHeldJob = `/* qg:fail_held_job */ UPDATE que_jobs
SET error_count = least(error_count::bigint + 1, 2147483647)::int,
    run_at = now() + make_interval(secs => $5::double precision),
    last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + que0HeldBy("$7") + `
RETURNING error_count, run_at`

	que0SnoozeHeldJob = `/* qg:snooze_held_job */ UPDATE que_jobs
SET run_at = now() + make_interval(secs => $5::double precision)
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + que0HeldBy("$6") + `
RETURNING error_count, run_at`

	que0BuryHeldJob = `/* qg:bury_held_job */ UPDATE que_jobs
SET queue = $5::text, error_count = least(error_count::bigint + 1, 2147483647)::int, last_error = $6::text
WHERE queue = $1 AND priority = $2 AND run_at = $3 AND job_id = $4` + que0HeldBy("$7") + `
RETURNING job_id`
)

// que0HeldBy ends the WHERE clause of a statement on job $4 that must
// change it only while the session whose pid is the parameter pid holds the
// job's advisory lock (one bigint key: objsubid 1, its halves in classid and
// objid).
func que0HeldBy(pid string) string {
	return `
  AND EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = ` + pid + `::int
      AND (classid::bigint << 32) + objid::bigint = $4)`
}

// key is the job's full primary key, $1 to $4 of the statements on one job.
func (que0Table) key(j *Job) []any {
	return []any{j.Queue, j.Priority, runAtValue(j.RunAt), j.ID}
}

// keys is the full primary keys of jobs as the column arrays jobsExist and
// deleteJobs unnest.
func (que0Table) keys(jobs []*Job) []any {
	queues := make([]string, len(jobs))
	priorities := make([]int16, len(jobs))
	runAts := make([]time.Time, len(jobs))
	infinite := make([]string, len(jobs))
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		runAts[i], infinite[i] = splitRunAt(j.RunAt)
		queues[i], priorities[i], ids[i] = j.Queue, j.Priority, j.ID
	}
	return []any{queues, priorities, runAts, ids, infinite}
}

func (que0Table) lockJob(queue string, skip []int64) (string, []any) {
	return que0LockJob, []any{queue, skip}
}

func (que0Table) lockJobInTx(queue string, skip []int64) (string, []any) {
	return que0LockJobInTx, []any{queue, skip}
}

func (que0Table) lockedJobExists() string { return que0LockedJobExists }

func (que0Table) lockJobs(queue string, limit int, skip []int64) (string, []any) {
	return que0LockJobs, []any{queue, limit, skip}
}

func (que0Table) scanJob(row rowScanner, j *Job) error {
	return row.Scan(&j.Queue, &j.Priority, runAtScanner{&j.RunAt}, &j.ID, &j.Type,
		&j.Args, &j.ErrorCount, &j.LastError)
}

func (d que0Table) jobExists(j *Job) (string, []any) { return que0JobExists, d.key(j) }

func (d que0Table) jobsExist(jobs []*Job) (string, []any) { return que0JobsExist, d.keys(jobs) }

func (d que0Table) deleteJob(j *Job, holder uint32) (string, []any) {
	if holder != 0 {
		return que0DeleteHeldJob, append(d.key(j), int64(holder))
	}
	return que0DeleteJob, d.key(j)
}

func (d que0Table) deleteLockedJob(j *Job) (string, []any) { return que0DeleteLockedJob, d.key(j) }

func (d que0Table) deleteJobs(jobs []*Job) (string, []any) { return que0DeleteJobs, d.keys(jobs) }

func (d que0Table) failJob(j *Job, delay time.Duration, msg string, holder uint32) (string, []any) {
	args := append(d.key(j), delay.Seconds(), cleanText(msg))
	if holder != 0 {
		return que0FailHeldJob, append(args, int64(holder))
	}
	return que0FailJob, args
}

func (d que0Table) snoozeJob(j *Job, delay time.Duration, holder uint32) (string, []any) {
	args := append(d.key(j), delay.Seconds())
	if holder != 0 {
		return que0SnoozeHeldJob, append(args, int64(holder))
	}
	return que0SnoozeJob, args
}

// giveUpJob moves the job to its dead-letter queue ([DeadQueue]).
func (d que0Table) giveUpJob(j *Job, msg string, holder uint32) (string, []any, jobFields) {
	f := j.fields()
	f.queue, f.errorCount = DeadQueue(j.Queue), min(f.errorCount, math.MaxInt32-1)+1 // as the row: never past the largest
	args := append(d.key(j), f.queue, cleanText(msg))
	if holder != 0 {
		return que0BuryHeldJob, append(args, int64(holder)), f
	}
	return que0BuryJob, args, f
}

func (que0Table) insertJob(j *Job) (string, []any) {
	var priority, runAt any // NULL: the column's default
	if j.Priority != 0 {
		priority = j.Priority
	}
	if !j.RunAt.IsZero() {
		runAt = runAtValue(j.RunAt)
	}
	return que0InsertJob, []any{j.Queue, priority, runAt, j.Type, jobArgs(j)}
}

func (que0Table) insertJobs(jobs []*Job) (string, []any) {
	queues, priorities, runAts, types, args, kinds := batchColumns(jobs)
	return que0InsertJobs, []any{queues, priorities, runAts, types, args, kinds}
}

func (que0Table) stats() string { return que0Stats }

// tableStats: a 0.x row is either in stats or in a dead-letter queue,
// which stats counts too.
func (que0Table) tableStats() string { return `/* qg:table_stats */ SELECT 0, 0, 0, 0` }

// checkJob refuses the fields of Que 2.x, which this table cannot store.
func (que0Table) checkJob(j *Job) error {
	if len(j.Kwargs) > 0 || len(j.Tags) > 0 || len(j.Data) > 0 {
		return fmt.Errorf("%w: %s job: this que_jobs is Ruby Que 0.x's (schema version 3)", ErrNeedsQue2, j.Type)
	}
	return nil
}

func (que0Table) queueName(queue string) string { return queue }
func (que0Table) maxErrors(configured int) int  { return configured }
func (que0Table) listenChannel() string         { return notifyChannel }

// notifySource: the trigger InstallNotifyTrigger puts on que_jobs.
func (que0Table) notifySource() string { return que0NotifySource }

const que0NotifySource = `/* qg:notify_source */ SELECT EXISTS (SELECT 1 FROM pg_trigger
WHERE tgrelid = 'que_jobs'::regclass AND tgname = 'qg_notify_que_jobs' AND tgenabled <> 'D')`

// wakes: the notify trigger's payload is the queue's name.
func (que0Table) wakes(payload, queue string) bool { return payload == queue }

// batchColumns turns jobs into the column arrays insertJobs unnests. A
// run_at goes as a timestamp; kinds says "now" for a zero one and names an
// infinite one ("" for the others).
func batchColumns(jobs []*Job) (queues []string, priorities []int16, runAts []time.Time, types, args, kinds []string) {
	for _, j := range jobs {
		runAt, kind := splitRunAt(j.RunAt)
		if j.RunAt.IsZero() {
			kind = "now"
		}
		queues = append(queues, j.Queue)
		priorities = append(priorities, j.Priority)
		runAts = append(runAts, runAt)
		kinds = append(kinds, kind)
		types = append(types, j.Type)
		args = append(args, jobArgs(j))
	}
	return queues, priorities, runAts, types, args, kinds
}

func (que0Table) insertUnique(j *Job, key string, hold time.Duration) (string, []any) {
	_, args := que0Table{}.insertJob(j)
	return que0InsertUnique, append(args, key, max(hold, 0).Seconds())
}

// que0InsertUnique takes the job's key ($6) and inserts the job with the
// same job_id, or returns the job holding the key: one row, or none when
// the snapshot missed a concurrent change of the key (run again). fresh
// waits for an uncommitted insert of the key; reclaimed takes an expired
// key with a row lock; neither locks a key that is taken. The key is held
// for $7 seconds after the job leaves que_jobs.
const que0InsertUnique = `/* qg:insert_unique */ WITH armed AS (
  SELECT count(*) = 3 AS ok FROM pg_trigger
  WHERE tgrelid = 'que_jobs'::regclass AND tgenabled <> 'D'
    AND tgname IN ('qg_unique_deleted', 'qg_unique_buried', 'qg_unique_truncated')
), fresh AS (
  INSERT INTO qg_unique (key, job_id, hold, queue, job_class, args_md5)
  SELECT $6::text, nextval(pg_get_serial_sequence('que_jobs', 'job_id')::regclass),
    make_interval(secs => $7::double precision), $1::text, $4::text, md5($5::json::text)
  FROM armed WHERE ok
  ON CONFLICT (key) DO NOTHING
  RETURNING job_id
), reclaimed AS (
  UPDATE qg_unique
  SET job_id = nextval(pg_get_serial_sequence('que_jobs', 'job_id')::regclass),
    hold = make_interval(secs => $7::double precision), expires_at = NULL,
    queue = $1::text, job_class = $4::text, args_md5 = md5($5::json::text)
  WHERE key = $6::text AND expires_at <= statement_timestamp()
    AND (SELECT ok FROM armed) AND NOT EXISTS (SELECT FROM fresh)
  RETURNING job_id
), claim AS (
  SELECT job_id FROM fresh UNION ALL SELECT job_id FROM reclaimed
), job AS (
  INSERT INTO que_jobs (job_id, queue, priority, run_at, job_class, args)
  SELECT job_id, $1::text, coalesce($2::smallint, 100), coalesce($3::timestamptz, now()), $4::text, $5::json
  FROM claim
  RETURNING job_id, priority, run_at
)
SELECT 'inserted', job_id, priority, run_at FROM job
UNION ALL
SELECT 'duplicate', job_id, NULL, NULL FROM qg_unique
WHERE key = $6::text AND (expires_at IS NULL OR expires_at > statement_timestamp())
  AND (SELECT ok FROM armed) AND NOT EXISTS (SELECT FROM claim)
UNION ALL
SELECT 'unarmed', NULL, NULL, NULL FROM armed WHERE NOT ok`

func (que0Table) installNotify() string  { return que0InstallNotify }
func (que0Table) removeNotify() string   { return que0RemoveNotify }
func (que0Table) enableUnique() string   { return que0EnableUnique }
func (que0Table) disableUnique() string  { return que0DisableUnique }
func (que0Table) installArchive() string { return que0InstallArchive }
func (que0Table) removeArchive() string  { return que0RemoveArchive }
func (que0Table) pruneArchive() string   { return pruneArchive }

const (
	// que0InstallNotify installs the opt-in insert trigger that notifies
	// on notifyChannel with the queue's name for each job runnable now. A
	// payload must stay under 8,000 bytes, so a queue with a longer name is
	// left to polling rather than failing the insert.
	que0InstallNotify = `/* qg:install_notify */ CREATE OR REPLACE FUNCTION qg_notify_que_jobs() RETURNS trigger
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
  FOR EACH ROW EXECUTE FUNCTION qg_notify_que_jobs();`

	// que0RemoveNotify removes it.
	que0RemoveNotify = `/* qg:remove_notify */ DROP TRIGGER IF EXISTS qg_notify_que_jobs ON que_jobs;
DROP FUNCTION IF EXISTS qg_notify_que_jobs();`

	// que0EnableUnique attaches the functions of schema_qg_unique.sql to
	// que_jobs' deletes, give-ups (a move to a dead-letter queue) and
	// truncation, each trigger once.
	que0EnableUnique = `/* qg:enable_unique */ DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = 'que_jobs'::regclass AND tgname = 'qg_unique_deleted') THEN
    CREATE TRIGGER qg_unique_deleted AFTER DELETE ON que_jobs
      FOR EACH ROW EXECUTE FUNCTION qg_unique_release();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = 'que_jobs'::regclass AND tgname = 'qg_unique_buried') THEN
    CREATE TRIGGER qg_unique_buried AFTER UPDATE OF queue ON que_jobs
      FOR EACH ROW
      WHEN (NEW.queue LIKE 'qg:dead:%' AND OLD.queue NOT LIKE 'qg:dead:%')
      EXECUTE FUNCTION qg_unique_release();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = 'que_jobs'::regclass AND tgname = 'qg_unique_truncated') THEN
    CREATE TRIGGER qg_unique_truncated AFTER TRUNCATE ON que_jobs
      FOR EACH STATEMENT EXECUTE FUNCTION qg_unique_truncated();
  END IF;
END
$$`

	// que0DisableUnique removes them.
	que0DisableUnique = `/* qg:disable_unique */ DROP TRIGGER IF EXISTS qg_unique_deleted ON que_jobs;
DROP TRIGGER IF EXISTS qg_unique_buried ON que_jobs;
DROP TRIGGER IF EXISTS qg_unique_truncated ON que_jobs`

	// que0InstallArchive puts the archive trigger (schema_qg_archive.sql's
	// function) on que_jobs.
	que0InstallArchive = `/* qg:install_archive */ DROP TRIGGER IF EXISTS qg_archive_jobs ON que_jobs;
CREATE TRIGGER qg_archive_jobs AFTER DELETE ON que_jobs
  REFERENCING OLD TABLE AS qg_archived_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION qg_archive_jobs();`

	// que0RemoveArchive takes it off; the archive's rows stay.
	que0RemoveArchive = `/* qg:remove_archive */ DROP TRIGGER IF EXISTS qg_archive_jobs ON que_jobs`
)
