package qg

import (
	"context"
	"log/slog"
	"time"
)

// WorkerConfig holds the settings a [Worker] and a [WorkerPool] share. It is
// embedded in both, so its fields are set directly (w.JobTimeout = ...). The
// zero value is Que's behaviour: no timeout, Que's backoff, retry forever,
// no hooks, silent.
type WorkerConfig struct {
	// JobTimeout bounds each job: its context ([Job.Context]) ends then,
	// and a job still running is recorded as failed with an error that says
	// it overran. Zero means no timeout.
	JobTimeout time.Duration

	// Backoff gives the delay before a failed job runs again, from its new
	// error count. Nil means Que's formula, [Backoff].
	Backoff func(errorCount int) time.Duration

	// MaxErrors, when positive, gives a job up once its error count
	// reaches it. A given-up job is not deleted: it moves, with its last
	// error, to the queue [DeadQueue] names, where no worker takes it
	// unless told to. Zero means retry forever, as Que 0.x does.
	MaxErrors int

	// Hooks are called on a job's lifecycle events.
	Hooks Hooks

	// Middleware wraps the work of each job, the first outermost: tracing,
	// metrics, a context value for the WorkFunc. See [Middleware]. Nil
	// means none.
	Middleware []Middleware

	// Logger receives structured records of job failures, given-up jobs
	// and worker errors (at Debug, each job worked). Nil means that only
	// the problems that stop work (a failed lock, a lost session, a failure
	// that could not be recorded, a misconfiguration) are logged, at Warn,
	// through slog.Default(); job failures stay in que_jobs' last_error.
	Logger *slog.Logger
}

// Hooks are called by a Worker on each job's lifecycle events, from the
// worker's goroutine; keep them quick. A nil hook is skipped. Use them to
// feed metrics and alerts.
type Hooks struct {
	// Locked is called when a job is locked, before it is worked.
	Locked func(JobEvent)
	// Worked is called when a job's work committed and the job is gone.
	Worked func(JobEvent)
	// Failed is called when a failure was recorded and the job will run
	// again.
	Failed func(JobEvent)
	// Panicked is called when a WorkFunc panicked, before Failed or GivenUp.
	Panicked func(JobEvent)
	// UnknownType is called when no WorkFunc handles the job's type, before
	// Failed or GivenUp.
	UnknownType func(JobEvent)
	// GivenUp is called when a job was given up (see
	// WorkerConfig.MaxErrors and GiveUp).
	GivenUp func(JobEvent)
}

// JobEvent is what a hook is told, and what the work a [Middleware] wraps
// returns.
type JobEvent struct {
	Job      *Job          // the job; do not keep it past the hook
	Start    time.Time     // when the WorkFunc began (zero for Locked and UnknownType)
	Duration time.Duration // how long the WorkFunc ran (zero for Locked)
	Err      error         // the failure, for Failed, Panicked, UnknownType, GivenUp
	Panic    any           // the value a WorkFunc panicked with
	Stack    []byte        // the stack of that panic
	Outcome  RunOutcome    // how the run ended (RunNone for Locked, Panicked, UnknownType)
}

// call runs hook when it is set.
func call(hook func(JobEvent), e JobEvent) {
	if hook != nil {
		hook(e)
	}
}

// jobAttrs are the log attributes of a job. Any goroutine may call it.
func jobAttrs(j *Job) []any {
	f := j.snapshot()
	return []any{
		slog.Int64("job_id", j.ID),
		slog.String("job_class", j.Type),
		slog.String("queue", f.queue),
		slog.Int("error_count", int(f.errorCount)),
	}
}

// logProblem logs a problem that stops work (a failed lock, a lost
// session, a failure that could not be recorded): at level through logger,
// or at Warn through slog.Default() when logger is nil, so that it is never
// silent. Routine records go to the configured Logger only.
func logProblem(logger *slog.Logger, level slog.Level, msg string, attrs ...any) {
	if logger != nil {
		logger.Log(context.Background(), level, msg, attrs...)
		return
	}
	slog.Default().Log(context.Background(), slog.LevelWarn, msg, attrs...)
}
