package qg

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Worker locks and works the jobs of one queue, one at a time.
type Worker struct {
	// Interval is how long the Worker sleeps when it found no job. It looks
	// again at once after working one, and when its Client enqueues into its
	// queue. NewWorker sets it from the QUE_WAKE_INTERVAL environment
	// variable (seconds, "1" or "0.5"), or to 5 seconds. A zero or negative
	// Interval is taken as 5 seconds.
	Interval time.Duration

	// Queue is the queue worked. NewWorker sets it from the QUE_QUEUE
	// environment variable; unset, it is Que's default queue "".
	Queue string

	// WorkerConfig holds the timeout, retry, hook and logging settings.
	WorkerConfig

	c *Client
	m WorkMap

	mu       sync.Mutex
	started  bool          // Work ran
	shutDown bool          // shutdown began
	stopping chan struct{} // closed when shutdown begins
	stopped  chan struct{} // closed when Work returns
	current  *Job          // the job being worked, for escalation
	haltErr  stopCause     // why the Worker stopped on its own (see halt)
	onHalt   func(error)   // called once when it does; a batch pool's stops the locker
}

// NewWorker returns a Worker that works jobs of c with the WorkFuncs in m.
// It panics when c is nil (see [NewClient]).
func NewWorker(c *Client, m WorkMap) *Worker {
	mustClient(c, "NewWorker")
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
	defer w.c.watchCancels()()
	for !w.isStopping() && w.halted() == nil {
		wake := w.c.wakeups.channel(w.Queue)
		if w.WorkOne() {
			continue
		}
		w.sleep(wake)
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

// sleep waits Interval, or less when woken or when shutdown begins.
func (w *Worker) sleep(wake <-chan struct{}) {
	interval := w.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-w.stopping:
	case <-wake:
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
	j, err := w.c.lockForWork(context.Background(), w.Queue)
	if err != nil {
		logProblem(w.Logger, slog.LevelError, "qg: lock job", slog.String("queue", w.Queue), slog.Any("error", err))
		return false
	}
	if j == nil {
		return false
	}
	defer j.Done()
	if w.isStopping() {
		return false // released untouched: it runs again elsewhere
	}
	w.setCurrent(j)
	defer w.setCurrent(nil)
	w.workJob(j)
	return true
}

func (w *Worker) setCurrent(j *Job) {
	w.mu.Lock()
	w.current = j
	w.mu.Unlock()
}

// log writes a record when the Worker has a Logger.
func (w *Worker) log(level slog.Level, msg string, attrs ...any) {
	if w.Logger != nil {
		w.Logger.Log(context.Background(), level, msg, attrs...)
	}
}

// Shutdown stops the Worker: the job being worked finishes, then Work
// returns. It blocks until then, and returns at once on a Worker that never
// started.
func (w *Worker) Shutdown() {
	_ = w.ShutdownContext(context.Background())
}

// ShutdownContext stops the Worker. It stops locking jobs at once and waits
// for the running job to finish. When ctx ends first, it escalates: the
// job's context is cancelled, its connection closed and its session ended on
// the server, so its lock goes away and the job runs again elsewhere,
// unchanged; it then returns ctx.Err() without waiting for the WorkFunc to
// return. It returns
// nil at once on a Worker that never started, and is safe to call more than
// once.
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

// escalate abandons the running job, unless it was released meanwhile: its
// context is cancelled, its connection closed and its server session ended,
// which frees its lock.
func (w *Worker) escalate() {
	w.mu.Lock()
	j := w.current
	w.mu.Unlock()
	if j == nil || !j.claim() {
		return
	}
	w.log(slog.LevelWarn, "qg: shutdown deadline passed, releasing running job", jobAttrs(j)...)
	if err := w.c.endSessions([]*Job{j}); err != nil {
		logProblem(w.Logger, slog.LevelWarn, "qg: end the session of a released job", append(jobAttrs(j), slog.Any("error", err))...)
	}
}

// workFrom works the jobs a batch locker hands out until it closes their
// channel. A job whose lock was lost before it started is not run.
func (w *Worker) workFrom(l *locker) {
	defer w.c.watchCancels()()
	for j := range l.jobs {
		if j.Context().Err() != nil || w.halted() != nil {
			j.Done()
			continue
		}
		w.setCurrent(j)
		w.workJob(j)
		w.setCurrent(nil)
		j.Done()
	}
}
