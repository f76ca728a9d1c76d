package qg

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v4"
)

// The errors of qg: the exported sentinels a caller compares with errors.Is,
// the error types, and the internal errors other files wrap or test for.

// ErrAgain is returned by [Client.LockJob] when every job it locked turned out
// to be gone already (worked by someone else between the walk and the lock) ten
// times in a row. It is harmless: call LockJob again.
var ErrAgain = errors.New("qg: maximum number of LockJob attempts reached")

// ErrMissingType is returned, unwrapped, by the enqueue methods when the Job
// has no Type. Compare it with ==, as with the reference library.
var ErrMissingType = errors.New("qg: job type must be specified")

// ErrInvalidArgs is wrapped by the enqueue methods when Job.Args is not valid
// JSON. Nothing is written in that case.
var ErrInvalidArgs = errors.New("qg: job args are not valid JSON")

// ErrInvalidText is wrapped in the error of an enqueue whose Type or Queue
// holds a NUL byte or invalid UTF-8, which a PostgreSQL text column cannot
// store. The job is refused before any statement runs, so the caller's
// transaction stays usable.
var ErrInvalidText = errors.New("qg: text holds a NUL byte or invalid UTF-8")

// ErrReadOnly is wrapped in the error a Worker, or a WorkerPool's batch
// locker, stops with when its database session refuses to write (a
// read-only transaction: default_transaction_read_only, or a hot standby).
// On such a session no job can be finished nor its failure recorded, so
// working on would only run the same jobs again and again.
var ErrReadOnly = errors.New("qg: the database session is read-only: jobs can be neither finished nor failed; worker stopped")

// ErrArgsNotArray is wrapped by [Job.DecodeArgs] when the job's args are
// not a JSON array (Ruby Que always writes an array).
var ErrArgsNotArray = errors.New("qg: job args are not a JSON array")

// ErrNoTable is wrapped by [NewClient2] when the
// que_jobs table does not exist. Run [Migrate] to create it.
var ErrNoTable = errors.New("qg: table que_jobs does not exist (run qg.Migrate)")

// ErrSchemaVersion is wrapped when que_jobs carries another Que schema version
// than the one qg works (3, the Ruby Que 0.x layout).
var ErrSchemaVersion = errors.New("qg: unsupported que_jobs schema version")

// ErrClientClosed is returned by a [Client] used after [Client.Close].
var ErrClientClosed = errors.New("qg: client is closed")

// ErrJobNotFound is wrapped when no job has the given job_id: it was worked
// and deleted, or never there.
var ErrJobNotFound = errors.New("qg: job not found")

// ErrJobRunning is wrapped when a job cannot be changed because a session
// (a Go or a Ruby worker) holds its lock: it is being worked. Nothing was
// changed; try again once it is done.
var ErrJobRunning = errors.New("qg: job is being worked")

// ErrUnknownType is wrapped in the error a Worker records for a job whose
// type has no WorkFunc in its WorkMap.
var ErrUnknownType = errors.New("qg: unknown job type")

// ErrUniqueUnavailable is wrapped in the error of an enqueue of a unique job
// when the database lacks what unique jobs need: the table qg_unique
// ([Migrate] creates it), or the triggers on que_jobs that free its keys
// ([EnableUniqueJobs] installs them, run by a role that may create triggers
// on que_jobs, its owner).
var ErrUniqueUnavailable = errors.New("qg: unique jobs are not enabled: run qg.Migrate, then qg.EnableUniqueJobs")

// ErrNoWorkers is returned at once by [WorkerPool.Run] on a pool of fewer
// than one Worker, which would never work a job.
var ErrNoWorkers = errors.New("qg: worker pool has no workers")

// PanicError is the error a Worker records for a WorkFunc that panicked.
type PanicError struct {
	Value any    // what the WorkFunc panicked with
	Stack []byte // the goroutine's whole stack at the panic
}

// Error gives the panic's value and the whole stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("qg: job panicked: %v\n\n%s", e.Value, e.Stack)
}

// errVanished says a job of a batch locker was gone at its delete: its lock
// was lost and another worker finished it. The work is rolled back.
var errVanished = errors.New("qg: job vanished while being worked (its lock was lost)")

// errGoexit is the error of a WorkFunc that called runtime.Goexit (as
// testing's FailNow does) instead of returning.
var errGoexit = errors.New("qg: the WorkFunc called runtime.Goexit instead of returning")

// errLockLost says the failure of a batch job was not recorded: the
// locker's session no longer held the job's lock (it was lost, and another
// worker may run the job now), or the job was gone. The job runs again,
// unchanged, after the failed run.
var errLockLost = errors.New("qg: the job's lock went with the batch locker's session; its failure is not recorded")

// errUnlockAfterCommit says a job's work and deletion committed but its
// unlock failed: the job is finished, and its session may still hold the
// lock.
var errUnlockAfterCommit = errors.New("committed, but the unlock failed")

// errRolledBack says a COMMIT found its transaction aborted by an earlier
// failed statement that the WorkFunc did not report.
var errRolledBack = errors.New("transaction rolled back: a statement in it failed")

// errNoConn says a Job finishing statement found no connection to run on:
// the Job was not locked by LockJob, and no test helper gave it one.
var errNoConn = errors.New("job has no connection (it was not locked by LockJob)")

// errorText is err's message, or a placeholder for a nil error.
func errorText(err error) string {
	if err == nil {
		return "qg: job failed (no error given)"
	}
	return err.Error()
}

// timeoutError says a job overran its JobTimeout.
func timeoutError(limit time.Duration, err error) error {
	if err == nil {
		return fmt.Errorf("qg: job exceeded its timeout of %v", limit)
	}
	return fmt.Errorf("qg: job exceeded its timeout of %v: %w", limit, err)
}

// isNoRows reports whether err says a statement found no row, from either
// database/sql or pgx.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// wrapError is an error of qg that wraps another of qg's: its text gives
// the inner error's message once without its own "qg: " prefix, so a chain
// reads "qg: new client: table que_jobs does not exist", not "qg: new
// client: qg: table ...".
type wrapError struct {
	prefix string // "qg: what failed"
	err    error
}

func (e *wrapError) Error() string {
	return e.prefix + ": " + strings.TrimPrefix(e.err.Error(), "qg: ")
}

func (e *wrapError) Unwrap() error { return e.err }

// wrap returns err under prefix (which starts with "qg: "), as
// fmt.Errorf(prefix+": %w", err) would, minus a doubled "qg: ".
func wrap(prefix string, err error) error {
	return &wrapError{prefix: prefix, err: err}
}

// isUndefinedTable reports whether err is PostgreSQL's undefined_table.
func isUndefinedTable(err error) bool {
	var e interface{ SQLState() string }
	return errors.As(err, &e) && e.SQLState() == "42P01"
}
