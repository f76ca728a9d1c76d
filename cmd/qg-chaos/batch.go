package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

// In batch mode (-batch N, qg.WorkerPool.Batch = N) one session per worker
// process, the batch locker's, locks the jobs of all its workers. A run's
// first call of Job.Tx takes a connection of the process's pool, and the
// locker hands the job's lock to that session before Tx returns. So a run
// names as its lock session the session holding its job's lock in
// pg_locks when it starts, which must be a session of its own worker
// process (application_name): that session is what its claim records and
// what makes it dead. When the supervisor ends it (or restarts the server,
// or kills the process), the run is dead, as qg sees it too: its
// transaction dies with the session, or, for a run that had not taken its
// lock over yet, the locker cancels its context once it notices, and its
// transaction then finds its row gone (qg deletes the job in that
// transaction, so the deletion fences the effect whichever run commits
// first).
//
// Two things differ from the default mode:
//
//   - A run may start after its lock is gone: the supervisor ended the
//     locker's session after the job was handed to a worker, before the
//     locker noticed. Such a run is dead, and returns an error (the job runs
//     again), when qg has cancelled its context, or when no session of its
//     process holds any advisory lock and the supervisor ended a session of
//     the process or restarted the server. The context is read after the
//     snapshot of pg_locks, and the locker cancels the jobs of a lost session
//     before it opens a new one: so a context still live means the snapshot
//     held no newer locker session, and the process's only lock session in
//     it, the one that locked this job, was gone. (A context found
//     cancelled, conversely, may mean the holder found is a newer session
//     that locked the job again: such a run is dead whatever it found.) Any
//     other run that finds no holder of its own process is a run without
//     its lock, recorded.
//   - An effect is noted as written after its lock session ended when the
//     supervisor ended that session: before qg handed locks over, a run's
//     transaction was on another session and could still commit then (the
//     deletion in it fenced the effect). Now the transaction is on the lock
//     session and dies with it, so the report fails on any such effect.

// faultEvery makes -fault=unlock-early in batch mode hit one job in ten.
const faultEvery = 10

// errLockGone says a run found, as it began, that its job's lock had gone
// with the locker's session: it gives up, and the job runs again.
var errLockGone = errors.New("the job's lock went with the locker's session before the run began")

// holder is the session holding a job's lock, as identifyBatch found it.
type holder struct {
	pid   sql.NullInt32
	start sql.NullTime
	app   sql.NullString
}

// identifyBatch names the locker's session holding j's lock and checks it is
// a session of this worker process; see the comment above for a run that
// finds no holder.
func (w *workload) identifyBatch(ctx context.Context, j *qg.Job, run string) (session, error) {
	var tx session
	var h holder
	var processHolders int
	jtx := j.Tx()
	if jtx == nil { // qg could not get a connection for it
		return tx, fmt.Errorf("identify the lock session of job %d: no transaction", j.ID)
	}
	err := jtx.QueryRowContext(ctx, sqlIdentifyBatch, j.ID, w.appName).
		Scan(&tx.pid, &tx.start, &tx.pmStart, &h.pid, &h.start, &h.app, &processHolders)
	if err != nil {
		return tx, fmt.Errorf("identify the lock session of job %d: %w", j.ID, err)
	}
	// Read after the snapshot: a context not cancelled yet means the
	// snapshot saw no newer locker session than the one that locked j.
	switch {
	case ctx.Err() != nil:
		return tx, w.lockGone(j.ID, run, tx, "cancelled by qg")
	case h.pid.Valid && h.app.String == w.appName:
		return session{pid: h.pid.Int32, start: h.start.Time, pmStart: tx.pmStart, holdsLock: true}, nil
	case h.pid.Valid:
		w.log.Printf("RUN WITHOUT LOCK: job %d (run %s) is locked by session %d of %q", j.ID, run, h.pid.Int32, h.app.String)
	case processHolders == 0 && w.processHit():
		return tx, w.lockGone(j.ID, run, tx, "locker session ended")
	default:
		w.log.Printf("RUN WITHOUT LOCK: job %d (run %s) is not locked, while %d sessions of this process hold locks",
			j.ID, run, processHolders)
	}
	w.exec(sqlUnlocked, run, j.ID, w.token)
	return tx, nil
}

// lockGone records a run that found its lock gone as it began, and returns
// the run's error.
func (w *workload) lockGone(id int64, run string, tx session, why string) error {
	w.exec(sqlLockless, run, id, w.token, tx.pid, why)
	return fmt.Errorf("job %d: %w (%s)", id, errLockGone, why)
}

// processHit reports whether the supervisor ended a session of this worker
// process, or restarted the server, since the process started.
func (w *workload) processHit() bool {
	var hit bool
	err := retry(context.Background(), claimPatience, func(ctx context.Context) error {
		return w.marks.QueryRowContext(ctx, sqlProcessHit, w.appName, w.startPM).Scan(&hit)
	})
	if err != nil {
		w.log.Printf("read the terminations of this process: %v", err)
	}
	return hit
}

// noteServerStart notes the server's start time, in batch mode, for
// processHit.
func (w *workload) noteServerStart(ctx context.Context) error {
	if !w.batch {
		return nil
	}
	err := retry(ctx, startPatience, func(ctx context.Context) error {
		return w.marks.QueryRowContext(ctx, `SELECT pg_postmaster_start_time()`).Scan(&w.startPM)
	})
	if err != nil {
		return fmt.Errorf("read the server's start time: %w", err)
	}
	return nil
}

// endLocker is -fault=unlock-early in batch mode, for one job in faultEvery:
// the run ends the session holding its lock (its transaction's, since qg
// hands the lock over), waits until the lock is gone, and works on with a
// context qg can no longer cancel. It plays a library that loses a running
// job's lock and lets the run go on and commit: qg's transaction died with
// the session, so the faulted run writes its effect outside it (see work). The supervisor has
// recorded nothing, so the run is alive, and its effect, written without
// the lock, must fail the checks. It returns the context the run goes on
// with, and whether the fault hit this run.
func (w *workload) endLocker(ctx context.Context, j *qg.Job, arg int, s session) (context.Context, bool, error) {
	if !w.batch || w.fault != faultUnlockEarly || !s.holdsLock || arg%faultEvery != 0 {
		return ctx, false, nil
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := w.marks.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, s.pid); err != nil {
		return ctx, true, fmt.Errorf("fault: end the locker's session %d: %w", s.pid, err)
	}
	for deadline := time.Now().Add(claimPatience); ; {
		var held bool
		if err := w.marks.QueryRowContext(ctx, sqlLockHeldBy, j.ID, s.pid).Scan(&held); err != nil || !held {
			return ctx, true, err
		}
		if time.Now().After(deadline) {
			return ctx, true, fmt.Errorf("fault: session %d still holds the lock of job %d", s.pid, j.ID)
		}
		sleepCtx(ctx, 5*time.Millisecond)
	}
}

// execer is what writeEffect writes through: the job's transaction, or
// for a faulted run a connection of its own.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeEffect writes the job's effect through tx (the job's transaction),
// noting whether the run's lock session still holds the job's lock.
func (w *workload) writeEffect(ctx context.Context, tx execer, j *qg.Job, arg int, run string, s session) error {
	query, args := sqlEffect, []any{j.ID, arg, w.token, run}
	if w.batch {
		query, args = sqlEffectBatch, append(args, s.pid, s.start, s.pmStart)
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("write effect of job %d: %w", j.ID, err)
	}
	return nil
}

// sqlIdentifyBatch runs in the job's transaction: it names the transaction's
// session and the server's start, the session holding the advisory lock of
// job $1 (pid, start and application_name; NULLs when none does), and counts
// the sessions named $2 (this worker process's qg sessions) that hold any
// advisory lock, all from one reading of pg_locks.
const sqlIdentifyBatch = `WITH me AS (
  SELECT a.pid, a.backend_start, d.oid AS db
  FROM pg_stat_activity AS a, pg_database AS d
  WHERE a.pid = pg_backend_pid() AND d.datname = current_database()
), locks AS MATERIALIZED (
  SELECT l.pid, (l.classid::bigint << 32) + l.objid::bigint AS key, a.backend_start, a.application_name
  FROM pg_locks AS l
  JOIN me ON l.database = me.db
  LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
)
SELECT me.pid, me.backend_start, pg_postmaster_start_time(), h.pid, h.backend_start, h.application_name,
  (SELECT count(DISTINCT pid) FROM locks WHERE application_name = $2)
FROM me
LEFT JOIN LATERAL (SELECT * FROM locks WHERE key = $1 ORDER BY pid LIMIT 1) AS h ON true`

// sqlEffectBatch writes the job's effect in its transaction, noting whether
// the lock session ($5, started at $6 on a server started at $7) still
// holds the job's lock and, when not, whether the supervisor ended that
// session (or restarted the server). Only pg_locks is read: within a
// transaction pg_stat_activity keeps its first reading.
const sqlEffectBatch = `INSERT INTO chaos_effects (job_id, arg, token, run, locked, lock_ended)
SELECT $1, $2, $3, $4, held, NOT held AND (
  EXISTS (SELECT 1 FROM chaos_terminated AS t WHERE t.pid = $5::integer AND t.backend_start = $6::timestamptz)
  OR $7::timestamptz <> pg_postmaster_start_time())
FROM (SELECT EXISTS (SELECT 1 FROM pg_locks AS l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = $5::integer
    AND (l.classid::bigint << 32) + l.objid::bigint = $1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held) AS now`

// sqlLockless records that run $1 of job $2 (token $3, transaction session
// $4) found its lock gone as it began, and why it counts as dead ($5).
const sqlLockless = `INSERT INTO chaos_lockless (run, job_id, token, tx_pid, reason)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run) DO NOTHING`

// sqlProcessHit says whether the supervisor ended a session named $1, or
// restarted the server since it was started at $2.
const sqlProcessHit = `SELECT EXISTS (SELECT 1 FROM chaos_terminated WHERE application_name = $1)
  OR $2::timestamptz <> pg_postmaster_start_time()`

// sqlLockHeldBy says whether session $2 holds the advisory lock of job $1.
const sqlLockHeldBy = `SELECT EXISTS (SELECT 1 FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = $2::integer
  AND (l.classid::bigint << 32) + l.objid::bigint = $1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`
