package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qg-go/qg"
)

// workerInterval is the qg WorkerPool's Interval in worker processes.
const workerInterval = 50 * time.Millisecond

// retryAfter replaces Que's backoff (4 s, 19 s, ...) in worker processes, so
// failed jobs run again while the chaos goes on, instead of making the tail
// of the run.
const retryAfter = time.Second

// startPatience is how long a worker process waits for the database at
// start (a replacement may start while PostgreSQL restarts).
const startPatience = 30 * time.Second

// workerProcess is what a worker process runs: a qg.WorkerPool on a pool of
// its own, and the workload's separate pool.
type workerProcess struct {
	cfg     config
	log     *logger
	qgDB    *sql.DB // qg's pool: job locks live on its sessions
	marks   *sql.DB // the workload's record keeping
	client  *qg.Client
	pool    *qg.WorkerPool
	load    *workload
	appName string // application_name of qgDB's sessions
}

// runWorker is the main of a worker process: it works the chaos queue until
// SIGTERM, SIGINT, the end of its stdin (the supervisor is gone) or its
// timeout, then shuts its pool down and exits.
func runWorker(cfg config) int {
	log := newLogger(os.Stderr, fmt.Sprintf("[worker %d] ", os.Getpid()))
	ctx, stop := workerContext(cfg.timeout)
	defer stop()
	p := &workerProcess{cfg: cfg, log: log, appName: "qg-chaos-qg-" + cfg.token}
	if err := p.start(ctx); err != nil {
		if ctx.Err() != nil {
			// Told to stop while starting (the run ended as a replacement
			// came up): it worked nothing, so there is nothing to report.
			log.Printf("stopped before it started: %v", err)
			if p.client != nil {
				p.client.Close()
			}
			p.closeDBs()
			return exitOK
		}
		log.Printf("cannot start: %v", err)
		return exitFailed
	}
	mode := ""
	if cfg.batch > 0 {
		mode = fmt.Sprintf(", batch locking of %d", cfg.batch)
	}
	log.Printf("started: %d workers on queue %q%s (token %s)", cfg.concurrency, chaosQueue, mode, cfg.token)
	<-ctx.Done()
	p.stop()
	return exitOK
}

// workerContext is the worker process's context: done on SIGTERM or SIGINT,
// at EOF on stdin, or after timeout.
func workerContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, func() { cancel(); stopSignals() }
}

// start opens the pools and the qg Client, and starts the WorkerPool.
func (p *workerProcess) start(ctx context.Context) error {
	var err error
	// Each worker holds one connection while it works a job (in batch mode,
	// for the job's Tx, and the batch locker one more); two spare.
	if p.qgDB, err = openDB(p.cfg.databaseURL, p.appName, p.cfg.concurrency+2); err != nil {
		return err
	}
	if p.marks, err = openDB(p.cfg.databaseURL, "qg-chaos-marks-"+p.cfg.token, p.cfg.concurrency+1); err != nil {
		return err
	}
	err = retry(ctx, startPatience, func(context.Context) error {
		c, err := qg.NewClient2(p.qgDB)
		p.client = c
		return err
	})
	if err != nil {
		return fmt.Errorf("qg client: %w", err)
	}
	p.load = &workload{marks: p.marks, token: p.cfg.token, fault: p.cfg.fault, log: p.log,
		batch: p.cfg.batch > 0, appName: p.appName}
	if err := p.load.noteServerStart(ctx); err != nil {
		return err
	}
	p.pool = qg.NewWorkerPool(p.client, qg.WorkMap{jobType: p.load.work, hostileType: p.load.hostile}, p.cfg.concurrency)
	p.pool.Batch = p.cfg.batch
	p.pool.Interval = workerInterval
	p.pool.Queue = chaosQueue
	p.pool.Backoff = func(int) time.Duration { return retryAfter }
	p.pool.Logger = p.log.slog(slog.LevelError)
	p.pool.Start()
	return nil
}

// stop shuts the WorkerPool down (running jobs finish), then counts the
// advisory locks its sessions, all idle in qg's pool now, still hold, and
// records that for the supervisor.
func (p *workerProcess) stop() {
	p.pool.Shutdown()
	held, err := p.locksHeld()
	if err != nil {
		p.log.Printf("count locks held at shutdown: %v", err)
	}
	runs := p.load.runs.Load()
	p.load.exec(sqlShutdown, p.cfg.token, runs, held)
	p.log.Printf("stopped after %d runs; advisory locks held at shutdown: %d", runs, held)
	p.client.Close()
	p.closeDBs()
}

// closeDBs closes the pools start opened.
func (p *workerProcess) closeDBs() {
	for _, db := range []*sql.DB{p.qgDB, p.marks} {
		if db != nil {
			_ = db.Close()
		}
	}
}

// locksHeld counts the advisory locks held by the sessions of qg's pool.
func (p *workerProcess) locksHeld() (int, error) {
	var n int
	err := retry(context.Background(), startPatience, func(ctx context.Context) error {
		return p.marks.QueryRowContext(ctx, sqlOwnLocks, p.appName).Scan(&n)
	})
	return n, err
}
