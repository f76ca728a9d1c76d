package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/qg-go/qg"
)

var retryCommand = &command{
	name:     "retry",
	summary:  "run a given-up (dead) or failing job again, now",
	synopsis: "retry (--id JOB_ID | --queue NAME [--failing]) [--database-url URL] [--json]",
	usage: `
Retry makes jobs run again now: it sets their run_at to now() and moves a
given-up job from its dead-letter queue (qg:dead:<queue>) back to <queue>.
error_count and last_error are kept, for the record.

  --id JOB_ID           the job, given up or failing (error_count > 0)
  --queue NAME          every job of NAME's dead-letter queue, qg:dead:NAME
                        (a name already starting with qg:dead: is used as is)
  --queue NAME --failing
                        every failing job of NAME waiting for its next try

A job being worked right now (a session holds its job lock) is never
touched: retry takes the job's lock for its transaction, and reports the job
as "locked" when it cannot. Then, or when a job changed under it
("changed"), it exits with 1 after retrying the others.`,
	setup: setupRetry,
}

// retryBatch is how many jobs one statement of `retry --queue` takes: each
// takes a transaction-level advisory lock per job, and the server's lock
// table is small (max_locks_per_transaction).
const retryBatch = 100

// resultRetried is the result of a job retry moved to run now. The others
// are "locked" (being worked: left untouched) and "changed" (finished or
// rescheduled meanwhile: left alone).
const resultRetried = "retried"

// retryStatement makes the jobs of candidates (a query of que_jobs' queue,
// priority, run_at, job_id, job_class, error_count and last_error) run now,
// and moves those in a dead-letter queue (prefix $2) back to their queue.
// Each job's lock is tried at transaction level in the statement's own
// transaction, so a job being worked is skipped, and no worker can lock a
// job between the check and the UPDATE. The UPDATE names each job's full
// primary key, the only index of the Que 0.x table; a worker whose walk saw
// the job before it moved finds that key gone and walks again.
const retryStatement = `/* qg-cli:retry */ WITH candidates AS (%s),
tried AS (
  SELECT c.*, pg_try_advisory_xact_lock(c.job_id) AS free
  FROM candidates AS c
),
retried AS (
  UPDATE que_jobs AS j
  SET queue = CASE WHEN left(j.queue, length($2::text)) = $2::text
                   THEN substr(j.queue, length($2::text) + 1) ELSE j.queue END,
      run_at = now()
  FROM tried AS t
  WHERE t.free AND j.queue = t.queue AND j.priority = t.priority
    AND j.run_at = t.run_at AND j.job_id = t.job_id
  RETURNING t.queue AS old_queue, t.priority, t.run_at AS old_run_at, j.job_id, j.queue
)
SELECT t.job_id, t.job_class, t.queue, t.error_count, t.last_error, r.queue,
  CASE WHEN r.job_id IS NOT NULL THEN 'retried' WHEN NOT t.free THEN 'locked' ELSE 'changed' END
FROM tried AS t LEFT JOIN retried AS r
  ON r.old_queue = t.queue AND r.priority = t.priority AND r.old_run_at = t.run_at AND r.job_id = t.job_id
ORDER BY t.job_id, t.queue, t.priority, t.run_at`

// retryByID picks job $1 when it is given up (in a queue with prefix $2) or
// has failed. With no index on job_id alone, this scans que_jobs.
var retryByID = fmt.Sprintf(retryStatement, `SELECT queue, priority, run_at, job_id, job_class,
  error_count, last_error
  FROM que_jobs
  WHERE job_id = $1::bigint AND (error_count > 0 OR left(queue, length($2::text)) = $2::text)`)

// retryInQueue picks the next $4 jobs of queue $1 after job_id $3: all of
// them, or when $5 only the failed ones waiting for their next try.
var retryInQueue = fmt.Sprintf(retryStatement, `SELECT queue, priority, run_at, job_id, job_class,
  error_count, last_error
  FROM que_jobs
  WHERE queue = $1::text AND job_id > $3::bigint
    AND (NOT $5::boolean OR (error_count > 0 AND run_at > now()))
  ORDER BY job_id
  LIMIT $4::int`)

// retryFlags are the flags of retry.
type retryFlags struct {
	fs      *flag.FlagSet
	id      int64
	queue   string
	failing bool
}

// setupRetry defines retry's flags.
func setupRetry(fs *flag.FlagSet) runner {
	f := &retryFlags{fs: fs}
	fs.Int64Var(&f.id, "id", 0, "retry the job whose job_id is `JOB_ID`")
	fs.StringVar(&f.queue, "queue", "", "retry every job of the dead-letter queue of `NAME` (with --failing: NAME's failing jobs)")
	fs.BoolVar(&f.failing, "failing", false, "with --queue: retry the queue's failing jobs waiting for their next try")
	return func(ctx context.Context, e *env, opts *options) error {
		return runRetry(ctx, e, opts, f)
	}
}

// retriedJob is a job retry looked at, and what it did with it.
type retriedJob struct {
	JobID      int64   `json:"job_id"`
	JobClass   string  `json:"job_class"`
	FromQueue  string  `json:"from_queue"`
	Queue      string  `json:"queue"` // where it is now
	ErrorCount int     `json:"error_count"`
	LastError  *string `json:"last_error"`
	Result     string  `json:"result"` // retried, locked (being worked) or changed (meanwhile)
}

// retryResult is what retry prints.
type retryResult struct {
	Retried int          `json:"retried"`
	Skipped int          `json:"skipped"` // locked or changed
	Jobs    []retriedJob `json:"jobs"`
	target  string       // the queue --queue names, for messages
}

// runRetry checks the flags, retries the jobs and reports them.
func runRetry(ctx context.Context, e *env, opts *options, f *retryFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	version, err := checkTable(db)
	if err != nil {
		return err
	}
	jobs, err := f.retry(ctx, db, version)
	if err != nil {
		return err
	}
	res := summarize(jobs)
	res.target = f.target()
	if err := render(e, opts, res); err != nil {
		return err
	}
	if res.Skipped > 0 {
		return fmt.Errorf("%s not retried: being worked (locked) or changed meanwhile; try again later", plural(res.Skipped, "job"))
	}
	return nil
}

// check rejects contradictory flags.
func (f *retryFlags) check() error {
	hasID, hasQueue := isSet(f.fs, "id"), isSet(f.fs, "queue")
	switch {
	case hasID == hasQueue:
		return usagef("give either --id or --queue")
	case f.failing && !hasQueue:
		return usagef("--failing goes with --queue")
	case f.failing && strings.HasPrefix(f.queue, qg.DeadQueue("")):
		return usagef("--failing takes a live queue, not the dead-letter queue %q", f.queue)
	}
	return nil
}

// checkTable fails when que_jobs is missing or of another version, and
// returns the table's Que schema version otherwise.
func checkTable(db *sql.DB) (int, error) {
	c, err := newClient(db)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.SchemaVersion(), nil
}

// retry retries what the flags name.
func (f *retryFlags) retry(ctx context.Context, db *sql.DB, version int) ([]retriedJob, error) {
	byID, inQueue := retryByID, retryInQueue
	if version == 7 {
		byID, inQueue = retryQue2ByID, retryQue2InQueue
	}
	if isSet(f.fs, "id") {
		return retryOne(ctx, db, byID, f.id)
	}
	return retryQueue(ctx, db, inQueue, f.target(), f.failing)
}

// target is the queue whose jobs --queue retries: the dead-letter queue of
// --queue, or --queue itself with --failing.
func (f *retryFlags) target() string {
	if f.failing || strings.HasPrefix(f.queue, qg.DeadQueue("")) {
		return f.queue
	}
	return qg.DeadQueue(f.queue)
}

// retryOne retries job id with query (retryByID or retryQue2ByID), or
// says why it cannot. Que 0.x's key is the whole primary key, so another
// producer may give several rows one job_id: then --id names no single
// job, and nothing is retried. (Que 2.x's id is its primary key.)
func retryOne(ctx context.Context, db *sql.DB, query string, id int64) ([]retriedJob, error) {
	if query == retryByID {
		var rows int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM que_jobs WHERE job_id = $1`, id).Scan(&rows); err != nil {
			return nil, fmt.Errorf("look for job %d: %w", id, err)
		}
		if rows > 1 {
			return nil, fmt.Errorf("%d rows share job_id %d (another producer wrote them): --id names none of them alone; "+
				"nothing retried (retry them with --queue)", rows, id)
		}
	}
	jobs, err := queryRetry(ctx, db, query, id, qg.DeadQueue(""))
	if err != nil || len(jobs) > 0 {
		return jobs, err
	}
	var queue string
	lookup := `SELECT queue FROM que_jobs WHERE job_id = $1`
	if query == retryQue2ByID {
		lookup = `SELECT queue FROM public.que_jobs WHERE id = $1`
	}
	err = db.QueryRowContext(ctx, lookup, id).Scan(&queue)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("job %d not found in que_jobs (worked and deleted, or never there)", id)
	case err != nil:
		return nil, fmt.Errorf("look for job %d: %w", id, err)
	}
	return nil, fmt.Errorf("job %d in queue %q has not failed and is not given up: nothing to retry", id, queue)
}

// retryQueue retries the jobs of queue, retryBatch at a time.
func retryQueue(ctx context.Context, db *sql.DB, query, queue string, failing bool) ([]retriedJob, error) {
	all := []retriedJob{}
	after := int64(math.MinInt64)
	for {
		jobs, err := queryRetry(ctx, db, query, queue, qg.DeadQueue(""), after, retryBatch, failing)
		if err != nil {
			return all, err
		}
		all = append(all, jobs...)
		if len(jobs) < retryBatch {
			return all, nil
		}
		after = jobs[len(jobs)-1].JobID
	}
}

// queryRetry runs a retry statement and reads what it did.
func queryRetry(ctx context.Context, db *sql.DB, query string, args ...any) ([]retriedJob, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	defer rows.Close()
	var jobs []retriedJob
	for rows.Next() {
		var j retriedJob
		var lastError, newQueue sql.NullString
		if err := rows.Scan(&j.JobID, &j.JobClass, &j.FromQueue, &j.ErrorCount,
			&lastError, &newQueue, &j.Result); err != nil {
			return nil, fmt.Errorf("retry: %w", err)
		}
		j.LastError = nullString(lastError)
		j.Queue = j.FromQueue
		if newQueue.Valid {
			j.Queue = newQueue.String
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	return jobs, nil
}

// summarize counts what retry did.
func summarize(jobs []retriedJob) *retryResult {
	res := &retryResult{Jobs: jobs}
	if res.Jobs == nil {
		res.Jobs = []retriedJob{}
	}
	for _, j := range jobs {
		if j.Result == resultRetried {
			res.Retried++
		} else {
			res.Skipped++
		}
	}
	return res
}
