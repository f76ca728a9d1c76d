package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/qg-go/qg"
)

// hostileType is the job_class of the rows -hostile writes.
const hostileType = "Hostile"

// hostileRounds is how many times -hostile writes rows during a run (at a
// quarter, a half and three quarters of the jobs done), and hostilePerRound
// how many each time.
const (
	hostileRounds   = 3
	hostilePerRound = 12
)

// hostileSchema is the tables of -hostile: the rows written, their effects
// (in the row's own transaction), and the rows whose first run failed.
const hostileSchema = `
CREATE TABLE chaos_hostile (marker integer PRIMARY KEY, job_id bigint NOT NULL);
CREATE TABLE chaos_hostile_effects (marker integer NOT NULL, job_id bigint NOT NULL, token text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE chaos_hostile_failed (marker integer PRIMARY KEY);
`

// Row shapes another producer can write into que_jobs, and qg must work
// like any other: run_at at and before the common era and in an old local
// offset with seconds, error_count at both ends of integer, priority at
// both ends of smallint. Every third row takes the job_id of a chaos job
// still queued, and every third the one of the previous hostile row: Que
// 0.x's key is the whole primary key, so nothing stops that.
var (
	hostileRunAts      = []string{"-infinity", "0001-01-01 00:00:00+01", "1000-01-01 12:00:00 BC", "1900-01-01 00:00:00 Europe/Paris", "now"}
	hostileErrorCounts = []int64{0, 2147483647, 2147483646, -2147483648}
	hostilePriorities  = []int{-32768, 32767, 100}
)

// sqlHostileRow inserts one hostile row: $4 is the job_id to share, NULL
// for a new one. A row whose full key is taken is not inserted.
const sqlHostileRow = `INSERT INTO que_jobs (queue, priority, run_at, job_id, job_class, args, error_count)
VALUES ($1, $2, $3::timestamptz, coalesce($4, nextval(pg_get_serial_sequence('que_jobs', 'job_id'))), $5, $6::json, $7)
ON CONFLICT DO NOTHING
RETURNING job_id`

// sqlQueuedChaosJob is the id of a chaos job still queued, to share.
const sqlQueuedChaosJob = `SELECT max(job_id) FROM que_jobs WHERE queue = $1 AND job_class = $2`

// hostileDue writes the next round of hostile rows once enough jobs are
// done.
func (s *supervisor) hostileDue(ctx context.Context, done int) error {
	if !s.cfg.hostile || s.hostileRound >= hostileRounds || done < s.cfg.jobs*(s.hostileRound+1)/(hostileRounds+1) {
		return nil
	}
	s.hostileRound++
	for range hostilePerRound {
		if err := s.writeHostile(ctx, s.hostileWritten); err != nil {
			return fmt.Errorf("write hostile row %d: %w", s.hostileWritten, err)
		}
		s.hostileWritten++
	}
	s.log.Printf("hostile: wrote %d rows another producer could write (round %d/%d)", hostilePerRound, s.hostileRound, hostileRounds)
	return nil
}

// writeHostile inserts hostile row marker, and records it.
func (s *supervisor) writeHostile(ctx context.Context, marker int) error {
	return retry(ctx, reconnectAfter, func(ctx context.Context) error {
		var share any // NULL: a new job_id
		switch marker % 3 {
		case 0:
			var id *int64
			if err := s.db.QueryRowContext(ctx, sqlQueuedChaosJob, chaosQueue, jobType).Scan(&id); err != nil {
				return err
			}
			if id != nil {
				share = *id
			}
		case 1:
			share = s.lastHostileID
		}
		runAt := hostileRunAts[marker%len(hostileRunAts)]
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		var id int64
		err = tx.QueryRowContext(ctx, sqlHostileRow, chaosQueue, hostilePriorities[marker%len(hostilePriorities)],
			runAt, share, hostileType, fmt.Sprintf("[%d]", marker), hostileErrorCounts[marker%len(hostileErrorCounts)]).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) { // that full key was taken: a job_id of its own then
			err = tx.QueryRowContext(ctx, sqlHostileRow, chaosQueue, 0, "now", nil, hostileType,
				fmt.Sprintf("[%d]", marker), 0).Scan(&id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO chaos_hostile (marker, job_id) VALUES ($1, $2)`, marker, id); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.lastHostileID = id
		return nil
	})
}

// hostile is the WorkFunc of the hostile rows: the first run of every
// other row fails (so its failure is recorded at error_count's extremes),
// and a run that succeeds writes the row's effect in its transaction.
func (w *workload) hostile(j *qg.Job) error {
	marker, err := jobArg(j.Args)
	if err != nil {
		return err
	}
	ctx := j.Context()
	if marker%2 == 1 {
		res, err := w.marks.ExecContext(ctx, `INSERT INTO chaos_hostile_failed (marker) VALUES ($1) ON CONFLICT DO NOTHING`, marker)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return qg.RetryIn(retryAfter, errors.New("hostile row: its first run fails"))
		}
	}
	_, err = j.Tx().ExecContext(ctx, `INSERT INTO chaos_hostile_effects (marker, job_id, token) VALUES ($1, $2, $3)`,
		marker, j.ID, w.token)
	return err
}

// Hostile holds the figures of -hostile.
type Hostile struct {
	Rows        int `json:"rows_written"`
	ExactlyOnce int `json:"rows_worked_exactly_once"`
	Doubled     int `json:"rows_worked_more_than_once"`
}

// sqlHostileOutcome reads the figures of -hostile.
const sqlHostileOutcome = `WITH per_row AS (SELECT marker, count(*) AS n FROM chaos_hostile_effects GROUP BY marker)
SELECT (SELECT count(*) FROM chaos_hostile),
  (SELECT count(*) FROM per_row JOIN chaos_hostile USING (marker) WHERE n = 1),
  (SELECT count(*) FROM per_row WHERE n > 1)`

// queryHostile fills the figures of -hostile.
func (s *supervisor) queryHostile(ctx context.Context, sum *Summary) error {
	if !s.cfg.hostile {
		return nil
	}
	h := &Hostile{}
	sum.Hostile = h
	return retry(ctx, reconnectAfter, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, sqlHostileOutcome).Scan(&h.Rows, &h.ExactlyOnce, &h.Doubled)
	})
}

// checkHostile lists the invariants of -hostile that do not hold.
func (h *Hostile) check(fail func(bad bool, format string, args ...any)) {
	if h == nil {
		return
	}
	fail(h.Rows != hostileRounds*hostilePerRound, "-hostile wrote %d rows, want %d", h.Rows, hostileRounds*hostilePerRound)
	fail(h.ExactlyOnce != h.Rows, "only %d of %d hostile rows were worked exactly once", h.ExactlyOnce, h.Rows)
	fail(h.Doubled > 0, "%d hostile rows were worked more than once", h.Doubled)
}
