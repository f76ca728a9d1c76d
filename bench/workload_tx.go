package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// W5, transactional work: each job inserts one row into an application
// table in the same transaction that removes (qg) or completes (River) the
// job. The table has no key nor index, so that a row inserted twice shows
// as a double instead of failing its job: after every drain the rows are
// checked exactly once each, and the run fails when one is missing or
// doubled.

// appTable creates the application table of W5.
const appTable = `CREATE TABLE IF NOT EXISTS bench_rows (seq integer NOT NULL, at timestamptz NOT NULL DEFAULT now())`

// appInsert is the work of a W5 job, the same statement for every system.
const appInsert = `INSERT INTO bench_rows (seq) VALUES ($1)`

// appCheck counts, for the seqs 0..$1-1, the missing rows, the extra rows
// of seqs present more than once, and rows of other seqs.
const appCheck = `SELECT
  (SELECT count(*) FROM generate_series(0, $1::int - 1) AS s(seq)
    WHERE NOT EXISTS (SELECT 1 FROM bench_rows AS r WHERE r.seq = s.seq)),
  (SELECT count(*) - count(DISTINCT seq) FROM bench_rows),
  (SELECT count(*) FROM bench_rows WHERE seq < 0 OR seq >= $1::int)`

// rowCheck is the outcome of appCheck.
type rowCheck struct {
	Missing, Doubled, Stray int
}

// ok reports whether every row is there exactly once.
func (c rowCheck) ok() bool { return c.Missing == 0 && c.Doubled == 0 && c.Stray == 0 }

// appDB is the connection of the bench to the scratch database of system
// name, for the application table.
func (b *bench) appDB(ctx context.Context, name string) (*sql.DB, error) {
	if db := b.apps[name]; db != nil {
		return db, nil
	}
	db, err := sql.Open("pgx", b.urls[name])
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", scratchName(name), err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, appTable); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create bench_rows in %s: %w", scratchName(name), err)
	}
	b.apps[name] = db
	return db, nil
}

// txWork is W5: cfg.txJobs ready jobs (enqueued untimed, then analyzed),
// each inserting its row, worked by workers workers. It returns the time
// from starting the workers until every job is gone (and so every row
// committed), and the check of the rows.
func (b *bench) txWork(ctx context.Context, s system, workers int) (time.Duration, rowCheck, error) {
	n := b.cfg.txJobs
	db, err := b.appDB(ctx, s.name())
	if err != nil {
		return 0, rowCheck{}, err
	}
	if _, err := db.ExecContext(ctx, "TRUNCATE bench_rows"); err != nil {
		return 0, rowCheck{}, fmt.Errorf("truncate bench_rows: %w", err)
	}
	if err := b.fill(ctx, s, n); err != nil {
		return 0, rowCheck{}, err
	}
	worked := newDoneCounter(n)
	start := time.Now()
	stop, err := s.startTxWorkers(ctx, workerConfig{workers: workers, interval: b.cfg.drainInterval},
		func(int) { worked.add() })
	if err != nil {
		return 0, rowCheck{}, err
	}
	defer stopWorkers(stop)
	select {
	case <-worked.done:
	case <-ctx.Done():
		return 0, rowCheck{}, fmt.Errorf("tx work: %d of %d jobs worked: %w", worked.n.Load(), n, ctx.Err())
	}
	if err := waitEmpty(ctx, s); err != nil {
		return 0, rowCheck{}, err
	}
	d := time.Since(start)
	var c rowCheck
	if err := db.QueryRowContext(ctx, appCheck, n).Scan(&c.Missing, &c.Doubled, &c.Stray); err != nil {
		return 0, rowCheck{}, fmt.Errorf("check bench_rows: %w", err)
	}
	return d, c, nil
}

// errViolation marks a failed exactly-once check of W5.
var errViolation = errors.New("W5 exactly-once violated")

// isViolation reports whether err is a failed exactly-once check, which
// fails the benchmark whatever run it happens in.
func isViolation(err error) bool { return errors.Is(err, errViolation) }

// recordTxWork returns the measurement of W5 with workers workers. A row
// missing or doubled fails the whole benchmark.
func (b *bench) recordTxWork(workers int) func(context.Context, system) error {
	return func(ctx context.Context, s system) error {
		d, c, err := b.txWork(ctx, s, workers)
		if err != nil {
			return err
		}
		if !c.ok() {
			return fmt.Errorf("%w: %d of %d rows missing, %d doubled, %d stray",
				errViolation, c.Missing, b.cfg.txJobs, c.Doubled, c.Stray)
		}
		sr := b.res.system(s.name())
		sr.addTx(workers, b.cfg.txJobs, d)
		b.res.TxRowsChecked += b.cfg.txJobs
		b.progress("W5 tx work x%-3d %-12s %9.0f rows/s (%s), rows exactly once", workers, s.name(),
			rate(b.cfg.txJobs, d), d.Round(time.Millisecond))
		return nil
	}
}
