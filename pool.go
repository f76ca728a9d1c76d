package qg

import (
	"context"
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
	// its queue, by any producer, Ruby included. Polling every Interval stays
	// on, so a missed notification only costs latency. False: polling only.
	Listen bool

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
}

// NewWorkerPool returns a pool of count Workers that work jobs of c with the
// WorkFuncs in wm. Each Worker holds one connection of c's *sql.DB while it
// works a job, so the pool needs count connections (SetMaxOpenConns at least
// count, plus what the rest of the program uses).
func NewWorkerPool(c *Client, wm WorkMap, count int) *WorkerPool {
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
	if p.Listen {
		p.listener = startListener(p.c, p.Queue, p.Interval, p.Logger)
	}
	p.workers = make([]*Worker, p.count)
	for i := range p.workers {
		w := NewWorker(p.c, p.WorkMap)
		w.Interval = p.Interval
		w.Queue = p.Queue
		w.WorkerConfig = p.WorkerConfig
		p.workers[i] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			w.Work()
		}()
	}
}

// Run starts the pool, blocks until ctx ends, then shuts the pool down,
// waiting up to ShutdownTimeout for running jobs. It returns nil after a
// clean shutdown, or the error of a shutdown that had to release jobs. It
// suits signal.NotifyContext in a main function.
func (p *WorkerPool) Run(ctx context.Context) error {
	p.Start()
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
	workers, l := p.workers, p.listener
	p.mu.Unlock()
	if l != nil {
		l.stop()
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
