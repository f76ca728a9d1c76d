package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverArgs is the no-op River job carrying seq.
type riverArgs struct {
	Seq int `json:"seq"`
}

// Kind is the River job kind of riverArgs.
func (riverArgs) Kind() string { return "bench_job" }

// riverSystem is River with its pgx v5 driver on a pgxpool.
type riverSystem struct {
	// fetchCooldown is River's FetchCooldown for every client, the
	// inserting one included (it also spaces River's insert notifications).
	fetchCooldown time.Duration

	pool     *pgxpool.Pool
	inserter *river.Client[pgx.Tx] // a client that only inserts
}

func (s *riverSystem) name() string { return "river" }

// setup runs River's migrations with rivermigrate and opens the pool and the
// inserting client.
func (s *riverSystem) setup(ctx context.Context, dbURL string, maxConns int) error {
	poolConfig, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("river: parse URL: %w", err)
	}
	poolConfig.MaxConns = int32(maxConns)
	if s.pool, err = pgxpool.NewWithConfig(ctx, poolConfig); err != nil {
		return fmt.Errorf("river: open pool: %w", err)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(s.pool), &rivermigrate.Config{Logger: riverLogger()})
	if err != nil {
		return fmt.Errorf("river: new migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: migrate: %w", err)
	}
	s.inserter, err = river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		FetchCooldown: s.fetchCooldown,
		Logger:        riverLogger(),
		Workers:       riverWorkers(func(int) {}),
	})
	if err != nil {
		return fmt.Errorf("river: new inserting client: %w", err)
	}
	return nil
}

// riverLogger sends River's warnings to stderr; its default logger writes
// to stdout, which carries the report.
func riverLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// riverWorkers registers the no-op worker, which calls work with the job's
// seq.
func riverWorkers(work func(seq int)) *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, job *river.Job[riverArgs]) error {
		work(job.Args.Seq)
		return nil
	}))
	return workers
}

func (s *riverSystem) reset(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "TRUNCATE river_job"); err != nil {
		return fmt.Errorf("river: truncate: %w", err)
	}
	return nil
}

func (s *riverSystem) analyze(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "ANALYZE river_job"); err != nil {
		return fmt.Errorf("river: analyze: %w", err)
	}
	return nil
}

func (s *riverSystem) enqueueOne(ctx context.Context, seq int) error {
	if _, err := s.inserter.Insert(ctx, riverArgs{Seq: seq}, nil); err != nil {
		return fmt.Errorf("river: insert: %w", err)
	}
	return nil
}

// enqueueBatch inserts with InsertMany, one call per batch.
func (s *riverSystem) enqueueBatch(ctx context.Context, n, size int) error {
	for start := 0; start < n; start += size {
		params := make([]river.InsertManyParams, min(size, n-start))
		for i := range params {
			params[i] = river.InsertManyParams{Args: riverArgs{Seq: start + i}}
		}
		if _, err := s.inserter.InsertMany(ctx, params); err != nil {
			return fmt.Errorf("river: insert many: %w", err)
		}
	}
	return nil
}

// startWorkers starts a working client whose default queue has cfg.workers
// MaxWorkers and polls every cfg.interval; River also listens for insert
// notifications, as it does by default.
func (s *riverSystem) startWorkers(ctx context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error) {
	return s.startClient(ctx, cfg, riverWorkers(work))
}

// startTxWorkers runs W5's job: River's documented way to make a job's
// work and its completion commit together is a transaction of the worker's
// own, with the insert and JobCompleteTx in it.
func (s *riverSystem) startTxWorkers(ctx context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[riverArgs]) error {
		if err := s.insertAndComplete(ctx, job); err != nil {
			return err
		}
		work(job.Args.Seq)
		return nil
	}))
	return s.startClient(ctx, cfg, workers)
}

// insertAndComplete inserts job's row and completes job in one transaction.
func (s *riverSystem) insertAndComplete(ctx context.Context, job *river.Job[riverArgs]) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("river: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after the commit
	if _, err := tx.Exec(ctx, appInsert, job.Args.Seq); err != nil {
		return fmt.Errorf("river: insert row %d: %w", job.Args.Seq, err)
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("river: complete job %d: %w", job.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("river: commit job %d: %w", job.ID, err)
	}
	return nil
}

// startClient starts a working client with workers; see startWorkers.
func (s *riverSystem) startClient(ctx context.Context, cfg workerConfig, workers *river.Workers) (stopFunc, error) {
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		FetchCooldown:     min(s.fetchCooldown, cfg.interval),
		FetchPollInterval: cfg.interval,
		Logger:            riverLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.workers}},
		Workers:           workers,
	})
	if err != nil {
		return nil, fmt.Errorf("river: new working client: %w", err)
	}
	// Start's context would stop the client when it ends: keep it alive
	// until the stopFunc runs.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("river: start: %w", err)
	}
	return client.Stop, nil
}

// pending counts jobs River has not yet recorded as completed; River
// completes jobs in batches, after their Work returned.
func (s *riverSystem) pending(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state <> 'completed'").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("river: count jobs: %w", err)
	}
	return n, nil
}

// reconnect closes the pool's connections; it opens new ones on demand.
func (s *riverSystem) reconnect() {
	s.pool.Reset()
}

func (s *riverSystem) teardown() {
	if s.pool != nil {
		s.pool.Close()
	}
}
