package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/qg-go/qg"
)

// qgJobType is the job_class of every qg benchmark job.
const qgJobType = "BenchJob"

// qgMode is how qg's idle workers learn of a new job.
type qgMode int

const (
	// qgPoll: the producer is a Client of its own (as another process
	// would be), so the workers find its jobs by polling every Interval.
	qgPoll qgMode = iota
	// qgSameClient: the producer is the workers' own Client, whose
	// Enqueue wakes them in-process.
	qgSameClient
	// qgNotified: a producer of its own, with the notify trigger
	// (qg.InstallNotifyTrigger) and workers that Listen.
	qgNotified
)

// qgSystem is qg on database/sql pools opened with the pgx v4 stdlib driver,
// as qg's documentation prescribes: one pool and Client for the workers, and
// one for the producer.
type qgSystem struct {
	label string
	mode  qgMode
	batch int  // WorkerPool.Batch: zero for a job per connection
	que2  bool // Ruby Que 2.x's table (qg.MigrateQue2) instead of 0.x's

	maxConns          int
	workDB, produceDB *sql.DB
	worker, producer  *qg.Client
}

func (s *qgSystem) name() string { return s.label }

// setup creates que_jobs with qg.Migrate, or qg.MigrateQue2 (and, notified,
// the notify trigger, which Que 2's table has of its own)
// and opens the workers' and the producer's pools and Clients.
func (s *qgSystem) setup(ctx context.Context, dbURL string, maxConns int) error {
	var err error
	s.maxConns = maxConns
	if s.workDB, err = qgOpen(dbURL, maxConns); err != nil {
		return err
	}
	migrate := qg.Migrate
	if s.que2 {
		migrate = qg.MigrateQue2
	}
	if err := migrate(ctx, s.workDB); err != nil {
		return fmt.Errorf("qg: migrate: %w", err)
	}
	if s.mode == qgNotified {
		if err := qg.InstallNotifyTrigger(ctx, s.workDB); err != nil {
			return fmt.Errorf("qg: %w", err)
		}
	}
	if s.worker, err = qg.NewClient2(s.workDB); err != nil {
		return fmt.Errorf("qg: workers' client: %w", err)
	}
	if s.mode == qgSameClient {
		s.produceDB, s.producer = s.workDB, s.worker
		return nil
	}
	if s.produceDB, err = qgOpen(dbURL, maxConns); err != nil {
		return err
	}
	if s.producer, err = qg.NewClient2(s.produceDB); err != nil {
		return fmt.Errorf("qg: producer's client: %w", err)
	}
	return nil
}

// qgOpen opens a pool that keeps as many idle connections as it may open:
// database/sql's default of two idle connections would make busy workers
// reconnect for nearly every job.
func qgOpen(dbURL string, maxConns int) (*sql.DB, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("qg: open: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return db, nil
}

func (s *qgSystem) reset(ctx context.Context) error {
	if _, err := s.workDB.ExecContext(ctx, "TRUNCATE que_jobs"); err != nil {
		return fmt.Errorf("qg: truncate: %w", err)
	}
	return nil
}

func (s *qgSystem) analyze(ctx context.Context) error {
	if _, err := s.workDB.ExecContext(ctx, "ANALYZE que_jobs"); err != nil {
		return fmt.Errorf("qg: analyze: %w", err)
	}
	return nil
}

func (s *qgSystem) enqueueOne(ctx context.Context, seq int) error {
	if err := s.producer.EnqueueContext(ctx, qgJob(seq)); err != nil {
		return fmt.Errorf("qg: enqueue: %w", err)
	}
	return nil
}

func (s *qgSystem) enqueueBatch(ctx context.Context, n, size int) error {
	for start := 0; start < n; start += size {
		seqs := make([]int, min(size, n-start))
		for i := range seqs {
			seqs[i] = start + i
		}
		if err := qgEnqueueBatch(ctx, s.producer, seqs); err != nil {
			return err
		}
	}
	return nil
}

// qgEnqueueBatch inserts one job per seq with qg.EnqueueBatch: one INSERT,
// one round trip. It is the one place that says how qg enqueues a batch
// (before EnqueueBatch existed it was a loop of EnqueueInTx in one
// transaction, a round trip per job).
func qgEnqueueBatch(ctx context.Context, c *qg.Client, seqs []int) error {
	jobs := make([]*qg.Job, len(seqs))
	for i, seq := range seqs {
		jobs[i] = qgJob(seq)
	}
	if err := c.EnqueueBatch(ctx, jobs); err != nil {
		return fmt.Errorf("qg: enqueue batch: %w", err)
	}
	return nil
}

// qgJob is the no-op job carrying seq, its args a Que-style JSON array.
func qgJob(seq int) *qg.Job {
	return &qg.Job{Type: qgJobType, Args: []byte("[" + strconv.Itoa(seq) + "]")}
}

func (s *qgSystem) startWorkers(_ context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error) {
	return s.startPool(cfg, func(j *qg.Job) error {
		seq, err := qgSeq(j)
		if err != nil {
			return err
		}
		work(seq)
		return nil
	}), nil
}

// startTxWorkers runs W5's job: the row goes in through Job.Tx, which the
// Worker commits with the job's deletion.
func (s *qgSystem) startTxWorkers(_ context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error) {
	return s.startPool(cfg, func(j *qg.Job) error {
		seq, err := qgSeq(j)
		if err != nil {
			return err
		}
		tx := j.Tx()
		if tx == nil {
			return fmt.Errorf("qg: job %d has no transaction", j.ID)
		}
		if _, err := tx.ExecContext(j.Context(), appInsert, seq); err != nil {
			return fmt.Errorf("qg: insert row %d: %w", seq, err)
		}
		work(seq)
		return nil
	}), nil
}

// qgSeq is the seq a benchmark job carries.
func qgSeq(j *qg.Job) (int, error) {
	var seq int
	err := j.DecodeArgs(&seq)
	return seq, err
}

// startPool starts a WorkerPool of cfg.workers running fn for qgJobType.
func (s *qgSystem) startPool(cfg workerConfig, fn qg.WorkFunc) stopFunc {
	pool := qg.NewWorkerPool(s.worker, qg.WorkMap{qgJobType: fn}, cfg.workers)
	pool.Interval = cfg.interval
	pool.Queue = "" // the default queue, whatever QUE_QUEUE says
	pool.Listen = s.mode == qgNotified
	pool.Batch = s.batch
	pool.Start()
	return pool.ShutdownContext
}

func (s *qgSystem) pending(ctx context.Context) (int, error) {
	var n int
	if err := s.workDB.QueryRowContext(ctx, "SELECT count(*) FROM que_jobs").Scan(&n); err != nil {
		return 0, fmt.Errorf("qg: count jobs: %w", err)
	}
	return n, nil
}

func (s *qgSystem) reconnect() {
	for _, db := range []*sql.DB{s.produceDB, s.workDB} {
		db.SetMaxIdleConns(0) // closes every idle connection
		db.SetMaxIdleConns(s.maxConns)
	}
}

func (s *qgSystem) teardown() {
	for _, c := range []*qg.Client{s.producer, s.worker} {
		if c != nil {
			c.Close() // closing twice (same client) does nothing
		}
	}
	for _, db := range []*sql.DB{s.produceDB, s.workDB} {
		if db != nil {
			_ = db.Close()
		}
	}
}
