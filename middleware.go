package qg

import "context"

// RunOutcome is how a Worker's run of a job ended.
type RunOutcome int

const (
	// RunNone marks an event that does not end a run (Locked,
	// Panicked, UnknownType).
	RunNone RunOutcome = iota
	// RunWorked: the work committed and the job is gone.
	RunWorked
	// RunFailed: the failure was recorded and the job runs again.
	RunFailed
	// RunGivenUp: the job was given up (see WorkerConfig.MaxErrors).
	RunGivenUp
	// RunReleased: nothing was recorded (a shutdown or a lost lock
	// released the job, or giving it up failed); it runs again, unchanged.
	RunReleased
	// RunSnoozed: the WorkFunc returned Snooze; the job runs again later,
	// no failure counted.
	RunSnoozed
	// RunCancelled: CancelJob asked the running job to stop; its work was
	// rolled back and the job removed, not retried.
	RunCancelled
)

// String gives the outcome as a lower-case word, "" for RunNone.
func (o RunOutcome) String() string {
	switch o {
	case RunWorked:
		return "worked"
	case RunFailed:
		return "failed"
	case RunGivenUp:
		return "given_up"
	case RunReleased:
		return "released"
	case RunSnoozed:
		return "snoozed"
	case RunCancelled:
		return "cancelled"
	}
	return ""
}

// Middleware wraps a Worker's work of one job: the WorkFunc, the commit or
// the recording of its failure, and the hooks of the run, which all happen
// inside work. A Worker calls it from its goroutine for each job it locked,
// with the job's context as ctx. It must call work exactly once, with a
// context derived from ctx (so the job's deadline and cancellation reach
// it): that context is the job's [Job.Context] from then on, in the
// WorkFunc and in the hooks. work returns the event that ended the run,
// with its Outcome; the Middleware returns it, or its own for an outer
// Middleware to see.
type Middleware func(ctx context.Context, j *Job, work func(ctx context.Context) JobEvent) JobEvent

// EnqueueMiddleware wraps an enqueue of jobs: one job for
// [Client.EnqueueContext], [Client.EnqueueInTxContext] and [Client.EnqueueIn]
// (and their short forms), all of them for [Client.EnqueueBatch] and
// [Client.EnqueueBatchInTx]. It may change the jobs before it calls enqueue,
// which it must call once, with a context derived from ctx; enqueue
// validates and inserts them and returns the enqueue's error, which the
// middleware returns. After a nil error the jobs hold their ID, Priority
// and RunAt. A Client's Sync mode inserts nothing and calls none.
type EnqueueMiddleware func(ctx context.Context, jobs []*Job, enqueue func(ctx context.Context) error) error

// workJob works j through the Worker's Middleware.
func (w *Worker) workJob(j *Job) JobEvent {
	work := once(func(ctx context.Context) JobEvent {
		j.ctx = ctx
		return w.work(j)
	})
	for i := len(w.Middleware) - 1; i >= 0; i-- {
		mw, next := w.Middleware[i], work
		work = once(func(ctx context.Context) JobEvent { return mw(ctx, j, next) })
	}
	return work(j.Context())
}

// once makes a second call of work do nothing but return the first's event.
func once(work func(context.Context) JobEvent) func(context.Context) JobEvent {
	var e JobEvent
	ran := false
	return func(ctx context.Context) JobEvent {
		if !ran {
			ran = true
			e = work(ctx)
		}
		return e
	}
}

// wrapEnqueue runs enqueue through the Client's EnqueueMiddleware.
func (c *Client) wrapEnqueue(ctx context.Context, jobs []*Job, enqueue func(ctx context.Context) error) error {
	for i := len(c.EnqueueMiddleware) - 1; i >= 0; i-- {
		mw, next := c.EnqueueMiddleware[i], enqueue
		enqueue = func(ctx context.Context) error { return mw(ctx, jobs, next) }
	}
	return enqueue(ctx)
}
