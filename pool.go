package qg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// WorkerPool runs several Workers on one queue.
type WorkerPool struct {
	// WorkMap routes job types to WorkFuncs.
	WorkMap WorkMap

	// Interval is each Worker's sleep when idle; see [Worker.Interval].
	// NewWorkerPool sets it from QUE_WAKE_INTERVAL, or to 5 seconds.
	Interval time.Duration

	// Queue is the queue worked. NewWorkerPool sets it from QUE_QUEUE;
	// unset, it is Que's default queue "".
	Queue string

	// WorkerConfig holds the timeout, retry, hook and logging settings
	// every Worker of the pool gets.
	WorkerConfig

	// Listen makes the pool LISTEN for the notifications of the trigger
	// [InstallNotifyTrigger] installs, on one connection of its own outside
	// the *sql.DB, and wake an idle Worker as soon as a job is inserted into
	// its queue, by any producer, Ruby included. On a Ruby Que 2.x table
	// Que's own que_state_notify trigger sends them, and nothing need be
	// installed. When no such trigger is on que_jobs the pool logs a
	// warning (Logger, else slog.Default) and only polls. Polling every
	// Interval stays on, so a missed notification only costs latency.
	// False: polling only.
	Listen bool

	// Batch, when positive, switches the pool to batch locking for
	// throughput: one connection walks the queue and locks up to Batch jobs
	// at once (at least as many as there are workers), holding their session
	// locks while the workers run them; finished jobs are deleted and
	// unlocked in batches. A crash still releases every lock with that
	// session, and Ruby Que 0.x workers still skip the locked jobs. A job
	// whose WorkFunc calls Job.Tx or Job.Conn gets a connection of the pool
	// for it, to which the locker hands the job's lock, and its deletion
	// commits with its work as in the default mode; a job that uses
	// neither costs no round trip of its own. The
	// pool then needs one connection for the locker plus one per worker
	// whose jobs use Tx or Conn. Zero: one connection per job in flight.
	Batch int

	// ShutdownTimeout bounds how long [WorkerPool.Run] waits for running
	// jobs once its context ends, before it releases them. Zero means it
	// waits for them to finish.
	ShutdownTimeout time.Duration

	c     *Client
	count int

	mu       sync.Mutex
	workers  []*Worker
	shutDown bool
	wg       sync.WaitGroup
	listener *listener
	locker   *locker
}

// NewWorkerPool returns a pool of count Workers that work jobs of c with the
// WorkFuncs in wm. Each Worker holds one connection of c's *sql.DB while it
// works a job, so the pool needs count connections (SetMaxOpenConns at least
// count, plus what the rest of the program uses).
// It panics when c is nil (see [NewClient]).
func NewWorkerPool(c *Client, wm WorkMap, count int) *WorkerPool {
	mustClient(c, "NewWorkerPool")
	return &WorkerPool{
		WorkMap:  wm,
		Interval: intervalFromEnv(),
		Queue:    queueFromEnv(),
		c:        c,
		count:    count,
	}
}

// Start starts the pool's Workers, each in its own goroutine; they look for
// work at once. It does nothing on a pool already started or shut down.
func (p *WorkerPool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers != nil || p.shutDown {
		return
	}
	p.warnMisconfigured()
	// On another driver than pgx v4's the Workers work one job per
	// connection, polling: no listener or locker can run there.
	foreign := p.c.otherDriver != ""
	if foreign && (p.Listen || p.Batch > 0) {
		logProblem(p.Logger, slog.LevelWarn, "qg: Listen and Batch need the pgx v4 stdlib driver: the pool polls and works one job per connection",
			"queue", p.Queue, "driver", p.c.otherDriver)
	}
	if p.Listen && !foreign {
		p.listener = startListener(p.c, p.Queue, p.Interval, p.Logger)
	}
	if p.Batch > 0 && !foreign {
		p.locker = newLocker(p.c, p.Queue, max(p.Batch, p.count), p.count, p.Interval, p.Logger)
		go p.locker.run()
	}
	p.workers = make([]*Worker, max(p.count, 0))
	for i := range p.workers {
		w := NewWorker(p.c, p.WorkMap)
		w.Interval = p.Interval
		w.Queue = p.Queue
		w.WorkerConfig = p.WorkerConfig
		if lk := p.locker; lk != nil {
			w.onHalt = lk.halt
		}
		p.workers[i] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if p.locker != nil {
				w.workFrom(p.locker)
				return
			}
			w.Work()
		}()
	}
}

// warnMisconfigured logs, at Warn (to Logger, else slog.Default()), a pool
// that cannot work as configured: no Workers at all, or more connections
// needed at once (a Worker each, and the batch locker's) than the
// *sql.DB's MaxOpenConns allows, so Workers would wait for connections.
func (p *WorkerPool) warnMisconfigured() {
	if p.count < 1 {
		logProblem(p.Logger, slog.LevelWarn, "qg: worker pool has no workers: no job will be worked",
			"queue", p.Queue, "workers", p.count)
		return
	}
	need := p.count
	if p.Batch > 0 {
		need++
	}
	if limit := p.c.pool.Stats().MaxOpenConnections; limit > 0 && need > limit {
		logProblem(p.Logger, slog.LevelWarn, "qg: worker pool needs more connections than the *sql.DB's MaxOpenConns: workers will wait for one",
			"queue", p.Queue, "connections_needed", need, "max_open_conns", limit)
	}
}

// Run starts the pool, blocks until ctx ends, then shuts the pool down,
// waiting up to ShutdownTimeout for running jobs. It returns nil after a
// clean shutdown, or the error of a shutdown that had to release jobs. It
// suits signal.NotifyContext in a main function. On a pool of no Workers it
// returns [ErrNoWorkers] at once. It returns at once, with
// an error wrapping [ErrSessionPooler], when the Client's connections go
// through a transaction pooler, where no job can be locked safely.
func (p *WorkerPool) Run(ctx context.Context) error {
	if p.count < 1 {
		return fmt.Errorf("qg: run worker pool on queue %q: %d workers: %w", p.Queue, p.count, ErrNoWorkers)
	}
	p.Start()
	if err := p.c.checkSessions(ctx); errors.Is(err, ErrSessionPooler) {
		p.Shutdown()
		return wrap(fmt.Sprintf("qg: run worker pool on queue %q", p.Queue), err)
	}
	<-ctx.Done()
	shutdownCtx := context.Background()
	if p.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		shutdownCtx, cancel = context.WithTimeout(shutdownCtx, p.ShutdownTimeout)
		defer cancel()
	}
	return p.ShutdownContext(shutdownCtx)
}

// Shutdown stops the pool: running jobs finish, then every Worker returns.
// It blocks until then, and returns at once on a pool never started.
func (p *WorkerPool) Shutdown() {
	_ = p.ShutdownContext(context.Background())
}

// ShutdownContext stops every Worker of the pool as [Worker.ShutdownContext]
// does, all at once, and returns ctx.Err() when ctx ended before they all
// finished (their remaining jobs were then released to run elsewhere). It
// returns nil at once on a pool never started, and is safe to call more than
// once.
func (p *WorkerPool) ShutdownContext(ctx context.Context) error {
	p.mu.Lock()
	p.shutDown = true
	workers, l, lk := p.workers, p.listener, p.locker
	p.mu.Unlock()
	if l != nil {
		l.stop()
	}
	if lk != nil {
		return p.shutdownBatch(ctx, lk)
	}
	errs := make(chan error, len(workers))
	for _, w := range workers {
		go func() { errs <- w.ShutdownContext(ctx) }()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		p.wg.Wait()
	}
	return first
}

// shutdownBatch stops a batch pool: the locker locks nothing more and
// releases the jobs not started, the running ones finish, and the locker
// finishes them all. When ctx ends first, the running jobs are released.
func (p *WorkerPool) shutdownBatch(ctx context.Context, lk *locker) error {
	lk.stop()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		<-lk.stopped
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		lk.escalate()
		return ctx.Err()
	}
}

// stoppedOnError reports whether the pool stopped working on its own: its
// batch locker, or every one of its Workers, halted (see ErrReadOnly).
func (p *WorkerPool) stoppedOnError() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locker != nil {
		return p.locker.halted() != nil
	}
	for _, w := range p.workers {
		if w.halted() == nil {
			return false
		}
	}
	return len(p.workers) > 0
}
