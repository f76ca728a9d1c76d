package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v4"
)

// dialect is the seam between qg and one generation of Que's jobs table:
// every statement that names a column of que_jobs is built by a dialect,
// together with its arguments, so no caller knows a parameter's position or
// a column's name. A Client picks its dialect once, in newClient, from the
// que_jobs table comment (detectDialect); the Job, the Worker, the
// WorkerPool and the batch locker only call these methods.
//
// To add a table generation, write one file, sql_<generation>.go, with a
// type that implements every method below and registers itself with
// registerDialect in an init function. Nothing else changes. The rules a
// dialect keeps:
//   - Job locks are session advisory locks in the one-bigint form, keyed by
//     Job.ID (the unlock statements of sql.go are shared).
//   - scanJob reads the rows of lockJob, lockJobInTx (plus one last column
//     the caller drops) and lockJobs into a Job.
//   - jobsExist returns the Job.ID of each job of its argument still there.
//   - The enqueue statements return (id, priority, run_at) per job;
//     insertUnique returns qg_unique's (result, id, priority, run_at).
//   - holder, where a method takes one, is 0 when the session running the
//     statement holds the job's lock, and otherwise the pid of the session
//     that does (a batch locker's): the statement then changes the job only
//     while that session holds the lock.
type dialect interface {
	// name is the generation, for messages: "Ruby Que 0.x".
	name() string
	// version is the que_jobs table comment Que marks the generation with.
	version() string
	// statements lists every statement of fixed text, for PrepareStatements.
	statements() []string

	// lockJob walks queue in key order, passing over the jobs in skip, and
	// locks the first free runnable job.
	lockJob(queue string, skip []int64) (string, []any)
	// lockJobInTx is lockJob as the first statement of a job's transaction:
	// it keeps the key of the job it locked for lockedJobExists.
	lockJobInTx(queue string, skip []int64) (string, []any)
	// lockedJobExists says whether the job lockJobInTx locked is still
	// there, and whether that answer used a snapshot newer than the walk's.
	lockedJobExists() string
	// lockJobs walks queue past locked rows and locks up to limit free
	// runnable jobs, passing over those in skip.
	lockJobs(queue string, limit int, skip []int64) (string, []any)
	// scanJob reads one row of the walks into j.
	scanJob(row rowScanner, j *Job) error
	// jobExists says whether the locked job j is still there.
	jobExists(j *Job) (string, []any)
	// jobsExist lists which of jobs are still there.
	jobsExist(jobs []*Job) (string, []any)

	// deleteJob finishes j by removing it.
	deleteJob(j *Job, holder uint32) (string, []any)
	// deleteLockedJob removes j in a Worker's commit pipeline, and fails
	// (aborting the transaction) when j is not there; the failure's message
	// contains vanishedMarker.
	deleteLockedJob(j *Job) (string, []any)
	// deleteJobs removes finished jobs a batch locker holds.
	deleteJobs(jobs []*Job) (string, []any)
	// failJob records a failure with message msg and moves the job's next
	// run delay from now; it returns the new (error_count, run_at).
	failJob(j *Job, delay time.Duration, msg string, holder uint32) (string, []any)
	// snoozeJob moves the job's next run delay from now, no failure
	// counted; it returns the (error_count, run_at) failJob does.
	snoozeJob(j *Job, delay time.Duration, holder uint32) (string, []any)
	// giveUpJob gives j up, so no worker takes it again, recording msg,
	// and returns the job's fields as they are once it commits. With a
	// holder it returns a row when it changed the job.
	giveUpJob(j *Job, msg string, holder uint32) (string, []any, jobFields)

	// insertJob enqueues one validated job.
	insertJob(j *Job) (string, []any)
	// insertJobs enqueues validated jobs in order, in one statement.
	insertJobs(jobs []*Job) (string, []any)
	// insertUnique takes the unique key key for hold after the job ends,
	// and enqueues j, or answers the job holding the key.
	insertUnique(j *Job, key string, hold time.Duration) (string, []any)
	// stats counts the jobs per queue and class, with those being worked.
	stats() string
	// overview counts the jobs per queue and class by state (overview.go),
	// locked being the ids of the jobs sessions hold.
	overview(locked []int64) (string, []any)

	// The operator's statements (admin.go): each takes a job by its id
	// alone, and those that change a job take its lock at transaction level
	// first, so they never touch a job a session is working. listJobs and
	// findJob return rows for scanJobInfo; deleteByID and retryByID return
	// (free, changed), or no row when there is no such job.
	listJobs(queues, types []string, afterID int64, state string, limit int) (string, []any)
	findJob(id int64) (string, []any)
	deleteByID(id int64) (string, []any)
	// retryByID makes the job run now, back from its dead-letter queue.
	retryByID(id int64) (string, []any)
	// snoozeByID moves the job's run_at to delay from now, no failure counted.
	snoozeByID(id int64, delay time.Duration) (string, []any)
	// cancelJob removes the job when no session holds it; otherwise it
	// records a cancel request in qg_cancelled_jobs and notifies on
	// cancelChannel. It returns (free, removed, notified), or no row.
	cancelJob(id int64) (string, []any)
	scanJobInfo(row rowScanner, info *JobInfo) error

	// tableStats counts the rows stats leaves out (see TableStats).
	tableStats() string

	// checkJob refuses, before any SQL, a job the table cannot store.
	checkJob(j *Job) error
	// queueName is queue as the table names it (the empty queue is Que
	// 2's 'default').
	queueName(queue string) string
	// maxErrors is the error count at which a Worker whose MaxErrors is
	// configured gives a job up; 0: never.
	maxErrors(configured int) int
	// listenChannel is the channel a Listen pool listens on, and wakes
	// says whether a notification's payload on it is a runnable job of
	// queue.
	listenChannel() string
	wakes(payload, queue string) bool
	// notifySource is a query that says (one boolean) whether the
	// trigger sending on listenChannel is on que_jobs.
	notifySource() string

	// The triggers qg's opt-in features put on que_jobs. The functions they
	// call are in the feature's schema_qg_*.sql.
	installNotify() string
	removeNotify() string
	enableUnique() string
	disableUnique() string
	installArchive() string
	removeArchive() string
	// pruneArchive deletes one batch of kept jobs finished more than $1
	// seconds ago, at most $2.
	pruneArchive() string
}

// dialects are the table generations qg works, by version.
var dialects = map[string]dialect{}

// registerDialect makes qg work the tables of d's generation.
func registerDialect(d dialect) {
	dialects[d.version()] = d
}

// tableVersion finds que_jobs on the search path and its version comment.
// The third column says whether that table is public.que_jobs, the only
// one Ruby Que 2.x works.
const tableVersion = `/* qg:table_version */ SELECT to_regclass('que_jobs') IS NOT NULL,
  obj_description(to_regclass('que_jobs'), 'pg_class'),
  coalesce(to_regclass('que_jobs') = to_regclass('public.que_jobs'), false),
  coalesce(to_regclass('que_jobs')::text, '')`

// detectDialect returns the dialect of the que_jobs table q sees, or an
// error wrapping ErrNoTable or ErrSchemaVersion.
func detectDialect(ctx context.Context, q Queryer) (dialect, error) {
	return dialectOf(q.QueryRowContext(ctx, tableVersion))
}

// dialectOf reads a row of tableVersion and returns its dialect.
func dialectOf(row rowScanner) (dialect, error) {
	var exists, public bool
	var version sql.NullString
	var found string
	if err := row.Scan(&exists, &version, &public, &found); err != nil {
		return nil, fmt.Errorf("qg: check que_jobs: %w", err)
	}
	if !exists {
		return nil, ErrNoTable
	}
	if d, ok := dialects[version.String]; ok && version.Valid {
		if _, que2 := d.(que2Table); que2 && !public {
			return nil, fmt.Errorf("%w: the search_path finds %s, at Que schema version 7; Ruby Que 2.x "+
				"works public.que_jobs only, and so does qg: put public first in the search_path",
				ErrSchemaVersion, found)
		}
		return d, nil
	}
	hint := ""
	if v := version.String; v == "4" || v == "5" || v == "6" {
		hint = ": stop qg's workers, finish the migration with Ruby Que 2.x (Que.migrate!(version: 7)), " +
			"and start them again"
	}
	return nil, fmt.Errorf("%w: que_jobs is at Que schema version %s; qg works %s%s",
		ErrSchemaVersion, describeVersion(version), worksVersions(), hint)
}

// dialectOr0 is detectDialect for the functions that install or remove a
// trigger: on a missing table or one of a version qg does not work they
// use the 0.x statements, whose own failure (or success) is the answer.
func dialectOr0(ctx context.Context, q Queryer) dialect {
	d, err := detectDialect(ctx, q)
	if err != nil {
		return que0
	}
	return d
}

// walkSQL is the walk of the lock statements of every dialect: a recursive
// CTE that goes through table in (priority, run_at, id) order, one row per
// step among those matching runnable, and tries the session advisory lock
// of each job (keyed by its id column). try-lock never waits on a job
// another session is working. The index scan passes over the ids of the
// parameter skip, those the Client's own workers hold (or, for a batch
// locker, its session holds: advisory locks are re-entrant), without a step
// or a try-lock each. With firstOnly the walk stops at the first lock
// taken; without, it goes on past locked rows, and the statement's LIMIT
// stops it. The dialect adds the SELECT of the walk's columns.
func walkSQL(table, id, runnable, skip string, firstOnly bool) string {
	next := "walk." + id + " IS NOT NULL"
	if firstOnly {
		next += " AND NOT walk.locked"
	}
	where := runnable + " AND " + id + " <> ALL (" + skip + "::bigint[])"
	return `WITH RECURSIVE walk AS (
  SELECT (j).*, pg_try_advisory_lock((j).` + id + `) AS locked
  FROM (
    SELECT j FROM ` + table + ` AS j
    WHERE ` + where + `
    ORDER BY priority, run_at, ` + id + `
    LIMIT 1
  ) AS first_job
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).` + id + `) AS locked
    FROM (
      SELECT (
        SELECT j FROM ` + table + ` AS j
        WHERE ` + where + `
          AND (priority, run_at, ` + id + `) > (walk.priority, walk.run_at, walk.` + id + `)
        ORDER BY priority, run_at, ` + id + `
        LIMIT 1
      ) AS j
      FROM walk
      WHERE ` + next + `
      LIMIT 1
    ) AS next_job
  )
)
`
}

// installDialect is detectDialect for the functions that install a
// trigger: on a table of a version qg does not work (a Que 1.x table, say,
// keyed by id) a 0.x trigger would fail every delete of Ruby's, so they
// refuse; on a missing table the 0.x statements fail with the server's
// reason.
func installDialect(ctx context.Context, q Queryer) (dialect, error) {
	d, err := detectDialect(ctx, q)
	if errors.Is(err, ErrNoTable) {
		return que0, nil
	}
	return d, err
}

// worksVersions names the versions qg works, for an error message.
func worksVersions() string {
	var names []string
	for v, d := range dialects {
		names = append(names, "version "+v+" ("+d.name()+")")
	}
	sort.Strings(names)
	return strings.Join(names, " or ")
}

// describeVersion names a que_jobs table comment for an error message.
func describeVersion(v sql.NullString) string {
	switch {
	case !v.Valid || v.String == "":
		return "unknown (the table has no version comment)"
	case v.String == "4" || v.String == "5" || v.String == "6":
		return v.String + " (Ruby Que 1.x)"
	case v.String == "7":
		return v.String + " (Ruby Que 2.x)"
	default:
		return fmt.Sprintf("%q", v.String)
	}
}

// The statements on job locks, the same for every generation: a job's lock
// is the session advisory lock keyed by its id.
const (
	// unlockJob releases a job's session lock ($1: its id).
	unlockJob = `/* qg:unlock_job */ SELECT pg_advisory_unlock($1)`
	// unlockJobs releases many and returns the ids it did not hold.
	unlockJobs = `/* qg:unlock_jobs */ SELECT id FROM unnest($1::bigint[]) AS id WHERE NOT pg_advisory_unlock(id)`
	// lockJobInTxn waits for a job's lock at transaction level ($1: its id).
	lockJobInTxn = `/* qg:lock_job_xact */ SELECT pg_advisory_xact_lock($1)`
	// awaitJobLock waits for a job's session lock ($1: its id): how a batch
	// job's connection takes over the lock its locker hands it. A
	// lock_timeout of the role's or the URL's must not end the wait once
	// the locker has seen it (the lock would go to no one), so the wait
	// runs between noLockTimeout and resetLockTimeout.
	awaitJobLock     = `/* qg:await_job_lock */ SELECT pg_advisory_lock($1)`
	noLockTimeout    = `SET lock_timeout = 0`
	resetLockTimeout = `RESET lock_timeout`
	// handOffJobs releases the locks of jobs $1 whose next holders, the
	// sessions of pids $2, wait for them already, alone: PostgreSQL grants
	// a released lock to the first waiter as part of the release, so no
	// other session can take it in between, and a session waiting ahead
	// (a failure record's pg_advisory_xact_lock, say) would be that first
	// waiter. Advisory locks are per database (pg_locks lists the cluster's),
	// so only this database's waiters count. It returns the ids it
	// released. CASE orders the test before the unlock (a WHERE's ANDs have
	// no order).
	handOffJobs = `/* qg:hand_off_jobs */ WITH waiting AS MATERIALIZED (
  SELECT pid, (classid::bigint << 32) + objid::bigint AS id FROM pg_locks
  WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND (classid::bigint << 32) + objid::bigint = ANY ($1::bigint[]))
SELECT h.id FROM unnest($1::bigint[], $2::int[]) AS h(id, pid)
WHERE CASE WHEN EXISTS (SELECT 1 FROM waiting AS w WHERE w.id = h.id AND w.pid = h.pid)
    AND NOT EXISTS (SELECT 1 FROM waiting AS w WHERE w.id = h.id AND w.pid <> h.pid)
  THEN pg_advisory_unlock(h.id) ELSE false END`
)

// vanishedMarker starts the message of deleteLockedJob's failure, by which
// qg knows it.
const vanishedMarker = "qg: job vanished before its delete"

// notifyChannel is the channel the notify trigger sends on.
const notifyChannel = "qg_que_jobs"

// PrepareStatements prepares qg's statements on conn, for use in a pool's
// after-connect hook (stdlib.OptionAfterConnect). It is an optimisation, never
// a requirement: each statement is prepared under its own SQL text as name, so
// qg sends the same text on every connection and pgx uses the prepared
// statement where there is one and its statement cache elsewhere. It
// prepares the statements of the table generation conn sees.
func PrepareStatements(conn *pgx.Conn) error {
	ctx := context.Background()
	d, err := dialectOf(conn.QueryRow(ctx, tableVersion))
	if err != nil {
		d = que0 // preparing then fails as it always did: with the server's reason
	}
	for _, stmt := range append(d.statements(), unlockJob, unlockJobs) {
		if _, err := conn.Prepare(ctx, stmt, stmt); err != nil {
			return fmt.Errorf("qg: prepare statements: %w", err)
		}
	}
	return nil
}

// cleanText makes msg storable in a text column: invalid UTF-8 becomes
// U+FFFD and NUL bytes, which PostgreSQL text cannot hold, become U+FFFD too.
func cleanText(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	return strings.ReplaceAll(msg, "\x00", "\uFFFD")
}
