package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The statements of periodic jobs, on qg's own table qg_periodic (see
// schema_qg_periodic.sql). They never take an advisory lock: a tick is
// claimed with the row lock of its name.
const (
	// periodicTable tells whether Migrate created qg_periodic.
	periodicTable = `/* qg:periodic_table */ SELECT to_regclass('qg_periodic') IS NOT NULL`

	// periodicInit records a name seen for the first time, its ticks
	// starting at $2.
	periodicInit = `/* qg:periodic_init */ INSERT INTO qg_periodic (name, last_tick) VALUES ($1, $2)
ON CONFLICT (name) DO NOTHING`

	// periodicLast reads the latest tick claimed for a name.
	periodicLast = `/* qg:periodic_last */ SELECT last_tick FROM qg_periodic WHERE name = $1`

	// periodicClaim moves a name's latest claimed tick forward to $2, and
	// returns a row only when $2 is later than it. A concurrent claim of
	// the same name waits for the row lock, then sees the committed tick.
	periodicClaim = `/* qg:periodic_claim */ INSERT INTO qg_periodic AS p (name, last_tick) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick, updated_at = now()
WHERE p.last_tick < excluded.last_tick
RETURNING p.name`
)

// claimTimeout bounds one attempt to claim a tick and enqueue its job.
const claimTimeout = 30 * time.Second

// load reads where each PeriodicJob stands: its latest claimed tick, or now
// for a Name seen for the first time.
func (s *Scheduler) load(ctx context.Context, now time.Time) error {
	var exists bool
	if err := s.c.pool.QueryRowContext(ctx, periodicTable).Scan(&exists); err != nil {
		return fmt.Errorf("qg: scheduler: %w", err)
	}
	if !exists {
		return errors.New("qg: scheduler: table qg_periodic does not exist (run qg.Migrate)")
	}
	for _, p := range s.jobs {
		last, err := s.lastTick(ctx, p.Name, now)
		if err != nil {
			return fmt.Errorf("qg: scheduler: periodic job %q: %w", p.Name, err)
		}
		if p.SkipMissed && now.After(last) {
			last = now
		}
		p.advance(last)
	}
	return nil
}

// lastTick returns name's latest claimed tick, recording now for a new name.
func (s *Scheduler) lastTick(ctx context.Context, name string, now time.Time) (time.Time, error) {
	if _, err := s.c.pool.ExecContext(ctx, periodicInit, name, now); err != nil {
		return time.Time{}, err
	}
	var last time.Time
	if err := s.c.pool.QueryRowContext(ctx, periodicLast, name).Scan(&last); err != nil {
		return time.Time{}, err
	}
	return last.UTC(), nil
}

// claim claims tick for name and enqueues job (nil: nothing) in one
// transaction. It reports false, with no error, when tick or a later one was
// claimed already.
func (s *Scheduler) claim(ctx context.Context, name string, tick time.Time, job *Job) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	tx, err := s.c.pool.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("qg: periodic job %q: begin: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var claimed string
	err = tx.QueryRowContext(ctx, periodicClaim, name, tick).Scan(&claimed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("qg: periodic job %q: claim tick %s: %w", name, tick.Format(time.RFC3339Nano), err)
	}
	if job != nil {
		if err := s.c.EnqueueInTxContext(ctx, job, tx); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("qg: periodic job %q: commit tick %s: %w", name, tick.Format(time.RFC3339Nano), err)
	}
	if job != nil {
		s.c.wakeups.wake(job.Queue)
	}
	return true, nil
}
