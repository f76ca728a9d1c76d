package qg

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// WorkFunc works one job. Returning nil finishes the job: a Worker deletes
// it in the job's transaction ([Job.Tx]) and commits. Returning an error
// rolls that transaction back and records the error with [Job.Error]; the
// job runs again after its backoff. A panic counts as an error.
type WorkFunc func(j *Job) error

// WorkMap routes job types (que_jobs.job_class) to the WorkFuncs that work
// them.
type WorkMap map[string]WorkFunc

// Worker locks and works the jobs of one queue, one at a time.
type Worker struct {
	// Interval is how long the Worker sleeps when it found no job. It looks
	// again at once after working one. NewWorker sets it from the
	// QUE_WAKE_INTERVAL environment variable (seconds, "1" or "0.5"), or to
	// 5 seconds. A zero or negative Interval is taken as 5 seconds.
	Interval time.Duration

	// Queue is the queue worked. NewWorker sets it from the QUE_QUEUE
	// environment variable; unset, it is Que's default queue "".
	Queue string

	c *Client
	m WorkMap

	mu       sync.Mutex
	started  bool          // Work ran
	shutDown bool          // shutdown began
	stopping chan struct{} // closed when shutdown begins
	stopped  chan struct{} // closed when Work returns
	current  *Job          // the job being worked, for escalation
}

// NewWorker returns a Worker that works jobs of c with the WorkFuncs in m.
func NewWorker(c *Client, m WorkMap) *Worker {
	return &Worker{
		Interval: intervalFromEnv(),
		Queue:    queueFromEnv(),
		c:        c,
		m:        m,
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// Work locks and works jobs until Shutdown. It looks for a job at once,
// looks again at once after each job, and sleeps Interval only when the
// queue had nothing runnable. It returns at once on a Worker already
// started or shut down.
func (w *Worker) Work() {
	if !w.start() {
		return
	}
	defer close(w.stopped)
	for !w.isStopping() {
		if w.WorkOne() {
			continue
		}
		w.sleep()
	}
}

// start moves a new Worker to running; it reports false otherwise.
func (w *Worker) start() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.shutDown {
		return false
	}
	w.started = true
	return true
}

// sleep waits Interval, or less when shutdown begins.
func (w *Worker) sleep() {
	interval := w.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-w.stopping:
	case <-t.C:
	}
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// WorkOne locks one job of the Worker's queue and works it. It reports
// whether it worked a job; false means none was runnable or locking failed.
func (w *Worker) WorkOne() (didWork bool) {
	j, err := w.c.LockJob(w.Queue)
	if err != nil || j == nil {
		return false
	}
	defer j.Done()
	if w.isStopping() {
		return false // released untouched: it runs again elsewhere
	}
	w.setCurrent(j)
	defer w.setCurrent(nil)
	w.work(j)
	return true
}

func (w *Worker) setCurrent(j *Job) {
	w.mu.Lock()
	w.current = j
	w.mu.Unlock()
}

// work runs j's WorkFunc in j's transaction and finishes j: deleted with the
// work's writes on success, its error recorded otherwise.
func (w *Worker) work(j *Job) {
	wf, ok := w.m[j.Type]
	if !ok {
		_ = j.Error(fmt.Sprintf("qg: unknown job type %q: no WorkFunc in the WorkMap", j.Type))
		return
	}
	if err := j.begin(); err != nil {
		_ = j.Error(err.Error())
		return
	}
	if err := callWorkFunc(wf, j); err != nil {
		j.rollback()
		_ = j.Error(err.Error())
		return
	}
	if err := j.commit(); err != nil {
		_ = j.Error(err.Error())
	}
}

// callWorkFunc runs wf, turning a panic into an error that carries the
// panic's value and the whole stack.
func callWorkFunc(wf WorkFunc, j *Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("qg: job panicked: %v\n\n%s", r, debug.Stack())
		}
	}()
	return wf(j)
}

// Shutdown stops the Worker: the job being worked finishes, then Work
// returns. It blocks until then, and returns at once on a Worker that never
// started.
func (w *Worker) Shutdown() {
	_ = w.ShutdownContext(context.Background())
}

// ShutdownContext stops the Worker. It stops locking jobs at once and waits
// for the running job to finish. When ctx ends first, it escalates: the
// job's context is cancelled and its session is ended on the server, so its
// lock goes away and the job runs again elsewhere; it then returns
// ctx.Err(). It returns nil at once on a Worker that never started, and is
// safe to call more than once.
func (w *Worker) ShutdownContext(ctx context.Context) error {
	w.mu.Lock()
	if !w.shutDown {
		w.shutDown = true
		close(w.stopping)
	}
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		w.escalate()
		return ctx.Err()
	}
}

// escalate abandons the running job: its context is cancelled and its
// server session ended, which frees its lock.
func (w *Worker) escalate() {
	w.mu.Lock()
	j := w.current
	w.mu.Unlock()
	if j != nil {
		j.abandon()
	}
}
