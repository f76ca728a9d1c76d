package qg

import (
	"encoding/json"
	"strconv"
	"time"
)

// que2Table is the Ruby Que 2.x table, Que schema version 7
// (schema_que2.sql): public.que_jobs keyed by id alone. qg works the rows of
// one job_schema_version (Que 2's is 2) that are neither finished nor
// expired, in que_poll_idx's order (priority, run_at, id), as Ruby Que 2's
// poller does. Que 2 names public.que_jobs in every statement and so does
// this dialect; a search_path that finds another que_jobs is refused when
// the Client is made (see dialectOf).
//
// Statements open with a comment naming them, as in que0Table.
type que2Table struct {
	// jobSchemaVersion is the job_schema_version locked and written: 2,
	// or another for a Client made by [Client.ForJobSchemaVersion].
	jobSchemaVersion int
}

// que2 is the dialect of the Ruby Que 2.x table.
var que2 dialect = que2Table{jobSchemaVersion: que2JobSchemaVersion}

// que2JobSchemaVersion is the job_schema_version Ruby Que 2.x writes and
// works.
const que2JobSchemaVersion = 2

// que2DefaultQueue is Que 2's default queue, which qg's "" stands for on
// this table.
const que2DefaultQueue = "default"

func init() { registerDialect(que2) }

func (que2Table) name() string    { return "Ruby Que 2.x" }
func (que2Table) version() string { return "7" }

func (que2Table) statements() []string {
	return []string{que2LockJob, que2LockJobInTx, que2LockedJobExists, que2LockJobs, que2JobExists,
		que2JobsExist, que2DeleteJob, que2DeleteHeldJob, que2DeleteLockedJob, que2DeleteJobs,
		que2FailJob, que2FailHeldJob, que2ExpireJob, que2ExpireHeldJob, que2InsertJob, que2InsertJobs,
		que2Stats, que2SnoozeJob, que2SnoozeHeldJob}
}

// queueName is the queue's name in the table: "" is Que 2's 'default'.
func (que2Table) queueName(queue string) string {
	if queue == "" {
		return que2DefaultQueue
	}
	return queue
}

// que2Runnable is what makes a row of one queue ($1) and job schema
// version ($3) runnable now: the predicate of que_poll_idx, and due.
const que2Runnable = `job_schema_version = $3::integer AND queue = $1::text
      AND finished_at IS NULL AND expired_at IS NULL AND run_at <= now()`

// que2Walk is the walk of the lock statements (walkSQL) on this table: in
// que_poll_idx order among the runnable rows of queue $1 and job schema
// version $3, passing over the ids of $2.
func que2Walk(firstOnly bool) string {
	return walkSQL("public.que_jobs", "id", que2Runnable, "$2", firstOnly) +
		`SELECT queue, priority, run_at, id, job_class, args::text, error_count, last_error_message,
  kwargs::text, data::text`
}

var (
	// que2LockJob locks the first free runnable job of a queue.
	que2LockJob = "/* qg:que2_lock_job */ " + que2Walk(true) + `
FROM walk
WHERE locked
LIMIT 1`

	// que2LockJobInTx is que2LockJob as the first statement of a job's
	// transaction, keeping what the re-check compares in a
	// transaction-local setting (see que0LockJobInTx).
	que2LockJobInTx = "/* qg:que2_lock_job_in_tx */ " + que2Walk(true) + `,
  set_config('qg.locked_job', json_build_array(id, run_at, error_count)::text, true)
FROM walk
WHERE locked
LIMIT 1`

	// que2LockJobs is the batch walk: on past locked rows until $4 are
	// locked.
	que2LockJobs = "/* qg:que2_lock_jobs */ " + que2Walk(false) + `
FROM walk
WHERE locked
LIMIT $4`
)

// The re-checks after a lock: the walk's snapshot may be older than a
// worker's change to the row, so the job counts as still there only if it
// is runnable with the run_at and error_count the walk read. A job that
// another worker (Ruby's) failed and rescheduled between the walk and the
// lock has moved on: taking it would run it early, and twice.
const (
	// que2LockedJobExists re-checks the job que2LockJobInTx kept; its second
	// column says whether the snapshot is newer than the walk's (READ
	// COMMITTED), as que0LockedJobExists.
	que2LockedJobExists = `/* qg:que2_locked_job_exists */ SELECT EXISTS (SELECT 1 FROM public.que_jobs,
  (SELECT nullif(current_setting('qg.locked_job', true), '')::json AS k) AS locked
WHERE id = (k->>0)::bigint AND run_at = (k->>1)::timestamptz AND error_count = (k->>2)::integer
  AND finished_at IS NULL AND expired_at IS NULL),
  current_setting('transaction_isolation') = 'read committed'`

	// que2JobExists re-checks one locked job ($1 id, $2 run_at, $3
	// error_count).
	que2JobExists = `/* qg:que2_job_exists */ SELECT EXISTS (SELECT 1 FROM public.que_jobs
WHERE id = $1 AND run_at = $2 AND error_count = $3 AND finished_at IS NULL AND expired_at IS NULL)`

	// que2JobsExist returns the ids of the given jobs that pass the
	// re-check.
	que2JobsExist = `/* qg:que2_jobs_exist */ SELECT id FROM public.que_jobs
WHERE (id, run_at, error_count) IN (
  SELECT i, CASE WHEN inf = '' THEN r ELSE inf::timestamptz END, e
  FROM unnest($1::bigint[], $2::timestamptz[], $3::integer[], $4::text[]) AS k (i, r, e, inf))
  AND finished_at IS NULL AND expired_at IS NULL`
)

// que2HeldBy ends the WHERE clause of a statement on job $1 that may change
// it only while the session whose pid is parameter pid holds its lock.
func que2HeldBy(pid string) string {
	return `
  AND EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = ` + pid + `::int
      AND (classid::bigint << 32) + objid::bigint = $1)`
}

// que2Finish is the statement that finishes the jobs where matches, a WHERE
// clause on public.que_jobs: it deletes them, as Que 2's destroy, or, while
// the archive's trigger is on (EnableArchive), keeps them as finished rows
// (finished_at), as Que 2's finish. It returns the ids it finished, so its
// command tag counts them. The trigger is looked for in the statement
// itself: EnableArchive takes effect at once in every process.
func que2Finish(name, matches string) string {
	return que2FinishCTEs(name, matches) + `
SELECT id FROM gone UNION ALL SELECT id FROM kept`
}

// que2FinishCTEs is que2Finish without its final SELECT.
func que2FinishCTEs(name, matches string) string {
	return `/* qg:` + name + ` */ WITH keep AS (
  SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.que_jobs'::regclass
    AND tgname = 'qg_archive_jobs' AND tgfoid = to_regproc('qg_archive_keep_que2')
    AND tgenabled IN ('O', 'A')) AS archiving
), gone AS (
  DELETE FROM public.que_jobs WHERE NOT (SELECT archiving FROM keep) AND ` + matches + `
  RETURNING id
), kept AS (
  UPDATE public.que_jobs SET finished_at = now()
  WHERE (SELECT archiving FROM keep) AND finished_at IS NULL AND expired_at IS NULL AND ` + matches + `
  RETURNING id
)`
}

var (
	// que2DeleteJob finishes job $1.
	que2DeleteJob = que2Finish("que2_delete_job", `id = $1`)

	// que2DeleteHeldJob is que2DeleteJob for a batch job (holder pid $2).
	que2DeleteHeldJob = que2Finish("que2_delete_held_job", `id = $1`+que2HeldBy("$2"))

	// que2DeleteLockedJob is the finish of a Worker's commit pipeline,
	// which fails when the job is not there (see que0DeleteLockedJob).
	que2DeleteLockedJob = que2FinishCTEs("que2_delete_locked_job", `id = $1`) + `
SELECT CASE count(*) WHEN 1 THEN 1
  ELSE ('` + vanishedMarker + `, rows deleted: ' || count(*))::int END
FROM (SELECT id FROM gone UNION ALL SELECT id FROM kept) AS finished`

	// que2DeleteJobs finishes many jobs.
	que2DeleteJobs = que2Finish("que2_delete_jobs", `id = ANY ($1::bigint[])`)

	// que2FailJob records a failure as Que 2 does, in one statement: one
	// more error, run_at moved $2 seconds from now, the message cut to 500
	// and the backtrace to 10000 characters (the limits of the table's
	// error_length check).
	que2FailJob = `/* qg:que2_fail_job */ UPDATE public.que_jobs
SET error_count = error_count + 1,
    run_at = now() + make_interval(secs => $2::double precision),
    last_error_message = left($3::text, 500),
    last_error_backtrace = left($4::text, 10000)
WHERE id = $1
RETURNING error_count, run_at`

	// que2FailHeldJob is que2FailJob for a batch job (locker pid $5).
	que2FailHeldJob = `/* qg:que2_fail_held_job */ UPDATE public.que_jobs
SET error_count = error_count + 1,
    run_at = now() + make_interval(secs => $2::double precision),
    last_error_message = left($3::text, 500),
    last_error_backtrace = left($4::text, 10000)
WHERE id = $1` + que2HeldBy("$5") + `
RETURNING error_count, run_at`

	// que2ExpireJob gives a job up as Que 2 does past its retry limit: one
	// more error and expired_at set, nothing else changed. No worker takes
	// an expired job.
	que2ExpireJob = `/* qg:que2_expire_job */ UPDATE public.que_jobs
SET error_count = error_count + 1, expired_at = now()
WHERE id = $1
RETURNING id`

	// que2ExpireHeldJob is que2ExpireJob for a batch job (locker pid $2).
	que2ExpireHeldJob = `/* qg:que2_expire_held_job */ UPDATE public.que_jobs
SET error_count = error_count + 1, expired_at = now()
WHERE id = $1` + que2HeldBy("$2") + `
RETURNING id`
)

func (d que2Table) lockJob(queue string, skip []int64) (string, []any) {
	return que2LockJob, []any{d.queueName(queue), skip, d.jobSchemaVersion}
}

func (d que2Table) lockJobInTx(queue string, skip []int64) (string, []any) {
	return que2LockJobInTx, []any{d.queueName(queue), skip, d.jobSchemaVersion}
}

func (que2Table) lockedJobExists() string { return que2LockedJobExists }

func (d que2Table) lockJobs(queue string, limit int, skip []int64) (string, []any) {
	return que2LockJobs, []any{d.queueName(queue), skip, d.jobSchemaVersion, limit}
}

func (que2Table) scanJob(row rowScanner, j *Job) error {
	var args, kwargs, data string
	err := row.Scan(&j.Queue, &j.Priority, runAtScanner{&j.RunAt}, &j.ID, &j.Type,
		&args, &j.ErrorCount, &j.LastError, &kwargs, &data)
	if err != nil {
		return err
	}
	j.Args, j.Kwargs, j.Data = []byte(args), []byte(kwargs), []byte(data)
	j.Tags = tagsOf(j.Data)
	return nil
}

func (que2Table) jobExists(j *Job) (string, []any) {
	return que2JobExists, []any{j.ID, runAtValue(j.RunAt), j.ErrorCount}
}

func (que2Table) jobsExist(jobs []*Job) (string, []any) {
	ids := make([]int64, len(jobs))
	runAts := make([]time.Time, len(jobs))
	counts := make([]int32, len(jobs))
	infinite := make([]string, len(jobs))
	for i, j := range jobs {
		runAts[i], infinite[i] = splitRunAt(j.RunAt)
		ids[i], counts[i] = j.ID, j.ErrorCount
	}
	return que2JobsExist, []any{ids, runAts, counts, infinite}
}

func (que2Table) deleteJob(j *Job, holder uint32) (string, []any) {
	if holder != 0 {
		return que2DeleteHeldJob, []any{j.ID, int64(holder)}
	}
	return que2DeleteJob, []any{j.ID}
}

func (que2Table) deleteLockedJob(j *Job) (string, []any) {
	return que2DeleteLockedJob, []any{j.ID}
}

func (que2Table) deleteJobs(jobs []*Job) (string, []any) {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return que2DeleteJobs, []any{ids}
}

func (que2Table) failJob(j *Job, delay time.Duration, msg string, holder uint32) (string, []any) {
	message, backtrace := splitFailure(cleanText(msg))
	args := []any{j.ID, delay.Seconds(), message, backtrace}
	if holder != 0 {
		return que2FailHeldJob, append(args, int64(holder))
	}
	return que2FailJob, args
}

// giveUpJob expires the job, as Que 2 does past its retry limit.
func (que2Table) giveUpJob(j *Job, _ string, holder uint32) (string, []any, jobFields) {
	f := j.fields()
	f.errorCount++
	if holder != 0 {
		return que2ExpireHeldJob, []any{j.ID, int64(holder)}, f
	}
	return que2ExpireJob, []any{j.ID}, f
}

func (que2Table) stats() string { return que2Stats }

// que2Stats counts the rows Que 2 works (job_schema_version 2, neither
// finished nor expired) per queue and class; see que0Stats for pg_locks.
var que2Stats = `/* qg:que2_stats */ SELECT queue, job_class,
  count(*) AS count,
  count(locks.id) AS count_working,
  count(*) FILTER (WHERE error_count > 0) AS count_errored,
  max(error_count) AS highest_error_count,
  min(run_at) AS oldest_run_at
FROM public.que_jobs
LEFT JOIN (
  SELECT (classid::bigint << 32) + objid::bigint AS id
  FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 1 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS locks USING (id)
WHERE job_schema_version = ` + strconv.Itoa(que2JobSchemaVersion) + `
  AND finished_at IS NULL AND expired_at IS NULL
GROUP BY queue, job_class
ORDER BY queue, job_class`

// que2TableStats counts the rows que2Stats leaves out: finished, expired,
// and those of another job_schema_version (all, and runnable now).
var que2TableStats = `/* qg:que2_table_stats */ SELECT
  count(*) FILTER (WHERE finished_at IS NOT NULL),
  count(*) FILTER (WHERE expired_at IS NOT NULL),
  count(*) FILTER (WHERE job_schema_version <> ` + strconv.Itoa(que2JobSchemaVersion) + `
    AND finished_at IS NULL AND expired_at IS NULL),
  count(*) FILTER (WHERE job_schema_version <> ` + strconv.Itoa(que2JobSchemaVersion) + `
    AND finished_at IS NULL AND expired_at IS NULL AND run_at <= now())
FROM public.que_jobs`

func (que2Table) tableStats() string { return que2TableStats }

// que2MaxRetryCount is Que 2's default maximum_retry_count: the failure
// that takes error_count above it expires the job.
const que2MaxRetryCount = 15

// maxErrors: a Worker whose MaxErrors is zero gives up as Que 2 does by
// default, at the failure that makes error_count 16.
func (que2Table) maxErrors(configured int) int {
	if configured > 0 {
		return configured
	}
	return que2MaxRetryCount + 1
}

// listenChannel is Que 2's own: que_state_notify reports every change of
// a job's state there.
func (que2Table) listenChannel() string { return "que_state" }

// notifySource: Que 2's own que_state_notify trigger, part of its schema.
func (que2Table) notifySource() string { return que2NotifySource }

const que2NotifySource = `/* qg:notify_source */ SELECT EXISTS (SELECT 1 FROM pg_trigger
WHERE tgrelid = 'public.que_jobs'::regclass AND tgname = 'que_state_notify' AND tgenabled <> 'D')`

// wakes reports whether a que_state message says a job of queue became
// ready (inserted due, or made due by a retry).
func (d que2Table) wakes(payload, queue string) bool {
	var m struct {
		Queue        string `json:"queue"`
		CurrentState string `json:"current_state"`
	}
	if json.Unmarshal([]byte(payload), &m) != nil {
		return false
	}
	return m.CurrentState == "ready" && m.Queue == d.queueName(queue)
}
