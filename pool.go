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

	c     *Client
	count int

	mu       sync.Mutex
	workers  []*Worker
	shutDown bool
	wg       sync.WaitGroup
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
	p.workers = make([]*Worker, p.count)
	for i := range p.workers {
		w := NewWorker(p.c, p.WorkMap)
		w.Interval = p.Interval
		w.Queue = p.Queue
		p.workers[i] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			w.Work()
		}()
	}
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
	workers := p.workers
	p.mu.Unlock()
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
