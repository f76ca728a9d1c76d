package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qg-go/qg"
)

// Timings of the supervisor.
const (
	pollEvery      = 50 * time.Millisecond // how often it counts the jobs left
	progressEvery  = 3 * time.Second       // how often it prints progress
	reconnectAfter = 30 * time.Second      // how long its statements retry
	teardownTime   = 2 * time.Minute       // budget of the checks and cleanup
	enqueueBatch   = 500                   // jobs per enqueue transaction
	stopGrace      = 15 * time.Second      // SIGTERM to SIGKILL at the end
	minEventGap    = pollEvery             // between two chaos events
)

// supervisor runs the chaos: it owns the scratch database, the worker
// processes and the events.
type supervisor struct {
	cfg     config
	log     *logger
	admin   *sql.DB // the database named in -database-url
	db      *sql.DB // the scratch database
	client  *qg.Client
	name    string // the scratch database's name
	url     string // and URL
	version int    // server_version_num

	procs  []*proc
	nextID int
	chaos  chaosState

	hostileRound   int   // rounds of -hostile rows written
	hostileWritten int   // rows written
	lastHostileID  int64 // the job_id of the last one

	began, finished time.Time // workers started; queue found empty
	lastProgress    time.Time
}

// runSupervisor is the main of the supervisor; it returns the exit code.
func runSupervisor(cfg config) int {
	s := &supervisor{cfg: cfg, log: newLogger(os.Stderr, "[qg-chaos] ")}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	defer s.tearDown()
	if err := s.setUp(ctx); err != nil {
		s.log.Printf("FAIL: %v", err)
		return exitFailed
	}
	runErr := s.run(ctx)
	sum := s.summarize(runErr)
	s.print(sum)
	if !sum.OK {
		return exitFailed
	}
	return exitOK
}

// setUp creates and migrates the scratch database.
func (s *supervisor) setUp(ctx context.Context) error {
	var err error
	if s.admin, err = openDB(s.cfg.databaseURL, "qg-chaos-admin", 2); err != nil {
		return err
	}
	if err := s.admin.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&s.version); err != nil {
		return fmt.Errorf("cannot reach PostgreSQL at %s: %w\n"+
			"Start it (for example: pg_ctlcluster --skip-systemctl-redirect 15 main start) "+
			"or point -database-url / QG_DATABASE_URL at a server where you may create databases",
			redact(s.cfg.databaseURL), err)
	}
	if s.cfg.restartPostgres {
		if err := s.checkCluster(ctx); err != nil {
			return err
		}
	}
	s.name = fmt.Sprintf("qg_chaos_%d", os.Getpid())
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+s.name); err != nil {
		s.name = ""
		return fmt.Errorf("create scratch database: %w", err)
	}
	if s.url, err = withDatabase(s.cfg.databaseURL, s.name); err != nil {
		return err
	}
	if s.db, err = openDB(s.url, "qg-chaos-supervisor", 4); err != nil {
		return err
	}
	return s.migrate(ctx)
}

// migrate creates que_jobs with qg.Migrate (or, with -que 2, the Que 2.x
// layout with qg.MigrateQue2), then the command's tables.
func (s *supervisor) migrate(ctx context.Context) error {
	migrate := qg.Migrate
	if s.cfg.que == 2 {
		migrate = qg.MigrateQue2
	}
	if err := migrate(ctx, s.db); err != nil {
		return fmt.Errorf("migrate scratch database: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, schemaSQL+hostileSchema); err != nil {
		return fmt.Errorf("create chaos tables: %w", err)
	}
	var err error
	if s.client, err = qg.NewClient2(s.db); err != nil {
		return fmt.Errorf("qg client: %w", err)
	}
	return nil
}

// tearDown kills any worker process still running, and drops the scratch
// database unless -keep.
func (s *supervisor) tearDown() {
	for _, p := range s.liveProcs() {
		s.forceKill(p)
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	if s.admin == nil {
		return
	}
	defer s.admin.Close()
	if s.name == "" {
		return
	}
	if s.cfg.keep {
		s.log.Printf("kept the scratch database: %s", redact(s.url))
		return
	}
	s.dropScratch()
}

// dropScratch drops the scratch database, ending its remaining sessions.
func (s *supervisor) dropScratch() {
	ctx, cancel := context.WithTimeout(context.Background(), reconnectAfter)
	defer cancel()
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		_, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+s.name+" WITH (FORCE)")
		return err
	})
	if err != nil {
		s.log.Printf("could not drop the scratch database %s: %v", s.name, err)
	}
}

// run enqueues the jobs, starts the workers, causes the chaos until the
// queue is empty, and stops the workers.
func (s *supervisor) run(ctx context.Context) error {
	t0 := time.Now()
	if err := s.enqueue(ctx); err != nil {
		return err
	}
	s.log.Printf("enqueued %d jobs in %s; starting %d worker processes of %d workers",
		s.cfg.jobs, time.Since(t0).Round(time.Millisecond), s.cfg.workers, s.cfg.concurrency)
	s.began = time.Now()
	defer s.stopWorkers()
	for range s.cfg.workers {
		if _, err := s.startWorker(); err != nil {
			return err
		}
	}
	return s.drive(ctx)
}

// enqueue inserts the jobs, enqueueBatch per transaction.
func (s *supervisor) enqueue(ctx context.Context) error {
	for from := 0; from < s.cfg.jobs; from += enqueueBatch {
		to := min(from+enqueueBatch, s.cfg.jobs)
		if err := s.enqueueBatch(ctx, from, to); err != nil {
			return fmt.Errorf("enqueue jobs %d to %d: %w", from, to-1, err)
		}
	}
	return nil
}

// enqueueBatch enqueues jobs from to to-1 in one transaction, and records
// their ids in chaos_enqueued in the same transaction.
func (s *supervisor) enqueueBatch(ctx context.Context, from, to int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	ids := make([]int64, 0, to-from)
	args := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		j := &qg.Job{Type: jobType, Queue: chaosQueue, Priority: priorityOf(i), Args: fmt.Appendf(nil, "[%d]", i)}
		if err := s.client.EnqueueInTxContext(ctx, j, tx); err != nil {
			return err
		}
		ids, args = append(ids, j.ID), append(args, int64(i))
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO chaos_enqueued (job_id, arg)
SELECT * FROM unnest($1::bigint[], $2::int[])`, ids, args)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// priorityOf spreads the jobs over four priorities.
func priorityOf(i int) int16 {
	return [...]int16{10, 50, 100, 200}[i%4]
}

// drive polls the queue until it is empty, firing the chaos events on the
// way, replacing workers that died unexpectedly and printing progress.
func (s *supervisor) drive(ctx context.Context) error {
	s.chaos.plan = planEvents(s.cfg.kills, s.cfg.terminate, s.cfg.restartPostgres)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		left, err := s.jobsLeft(ctx)
		if err != nil {
			return err
		}
		s.progress(left)
		if left == 0 {
			s.finished = time.Now()
			return nil
		}
		if err := s.replaceDead(); err != nil {
			return err
		}
		if err := s.fireDue(ctx, s.cfg.jobs-left); err != nil {
			return err
		}
		if err := s.hostileDue(ctx, s.cfg.jobs-left); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped with %d jobs left: %w", left, ctx.Err())
		case <-tick.C:
		}
	}
}

// jobsLeft counts the chaos queue's rows, retrying through disconnections.
func (s *supervisor) jobsLeft(ctx context.Context) (int, error) {
	var n int
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, `SELECT count(*) FROM que_jobs WHERE queue = $1`, chaosQueue).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count jobs left: %w", err)
	}
	return n, nil
}

// progress prints a line every progressEvery.
func (s *supervisor) progress(left int) {
	if time.Since(s.lastProgress) < progressEvery && left > 0 {
		return
	}
	s.lastProgress = time.Now()
	done := s.cfg.jobs - left
	elapsed := time.Since(s.began)
	s.log.Printf("progress: %d/%d jobs done, %.0f jobs/s, %d workers live, chaos events %d/%d",
		done, s.cfg.jobs, float64(done)/elapsed.Seconds(), len(s.liveProcs()),
		s.chaos.fired, len(s.chaos.plan))
}

// serverNow is the server's clock, retried through disconnections.
func (s *supervisor) serverNow(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&t)
	})
	return t, err
}
