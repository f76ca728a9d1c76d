package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/qg-go/qg"
)

// How long a run keeps trying to claim its job, and to drop its claim, while
// the database is unreachable. Dropping is more patient: a claim left by a
// live session would later look like an overlap.
const (
	claimPatience   = 10 * time.Second
	unclaimPatience = time.Minute
)

// errDeadRun says a run found, while claiming its job, that its own session
// had ended: it can commit nothing, and another run may have the job now.
var errDeadRun = errors.New("this run's session ended while it claimed the job")

// workload is the WorkFunc of the chaos jobs and what it needs: a pool of
// its own (marks), separate from qg's, whose autocommit writes other workers
// see at once.
//
// Each run (one WorkFunc call):
//
//  1. names the session holding the job's lock, in the job's transaction, and
//     checks that this session holds the job's advisory lock (in batch mode
//     the lock is held by another session, the batch locker's: see
//     batch.go);
//  2. claims the job in chaos_running (primary key job_id) on the separate
//     pool. When another run holds the claim, that run is either dead (its
//     process killed, its session terminated, its server restarted: a dead
//     session can commit nothing, and its lock went with it) or alive, and
//     then, if this run is alive too, two runs work the job at once: an
//     overlap, recorded;
//  3. sleeps a little (longer for some jobs, so kills land mid-job);
//  4. writes the job's effect in the job's transaction (chaos_effects);
//  5. drops its claim, then returns (qg deletes the job and commits).
//
// A dead run is only ever recognised from what the supervisor recorded
// before killing or terminating, and from the server's start time, never
// from timing. So the claim of a killed process is never taken for an
// overlap, and a live run is never taken for dead (the check can fail),
// except in the instant between the supervisor recording a kill or a
// termination and doing it. (In batch mode, a run that finds its lock gone
// as it begins is dead also when qg has cancelled it: see batch.go.) An
// overlap the claims miss (two runs that follow each other closely while
// both hold no lock) still shows as an effect committed twice.
type workload struct {
	marks   *sql.DB
	token   string
	fault   string
	log     *logger
	batch   bool      // qg's batch locking: the locker's session holds the locks
	appName string    // application_name of this process's qg sessions
	startPM time.Time // the server's start time when this process started (batch mode)

	runs atomic.Int64 // WorkFunc calls
}

// session names the server session holding a job's lock: the session of
// the job's transaction, or in batch mode the batch locker's.
type session struct {
	pid       int32
	start     time.Time
	pmStart   time.Time
	holdsLock bool
}

// work is the WorkFunc of the chaos jobs.
func (w *workload) work(j *qg.Job) error {
	run := fmt.Sprintf("%s/%d", w.token, w.runs.Add(1))
	arg, err := jobArg(j.Args)
	if err != nil {
		return err
	}
	ctx := j.Context()
	s, err := w.identify(ctx, j, run)
	if err != nil {
		return err
	}
	ctx, faulted, err := w.endLocker(ctx, j, arg, s)
	if err != nil {
		return err
	}
	var tx execer = j.Tx()
	if faulted {
		tx = w.marks // committed whatever becomes of the job's transaction
	}
	defer w.unclaim(j.ID, run)
	if err := w.claim(j.ID, run, s); err != nil {
		return err
	}
	sleepCtx(ctx, pauseFor(arg))
	if err := w.writeEffect(ctx, tx, j, arg, run, s); err != nil {
		return err
	}
	return injectedFailure(j, arg)
}

// identify names the session of j's transaction and records the run when
// that session does not hold j's lock. With -fault=unlock-early it then
// releases the lock, the bug the self-test must catch. In batch mode it
// names the locker's session instead (identifyBatch).
func (w *workload) identify(ctx context.Context, j *qg.Job, run string) (session, error) {
	if w.batch {
		return w.identifyBatch(ctx, j, run)
	}
	var s session
	err := j.Tx().QueryRowContext(ctx, sqlIdentify, j.ID).Scan(&s.pid, &s.start, &s.pmStart, &s.holdsLock)
	if err != nil {
		return s, fmt.Errorf("identify session of job %d: %w", j.ID, err)
	}
	if !s.holdsLock {
		w.log.Printf("RUN WITHOUT LOCK: job %d (run %s)", j.ID, run)
		w.exec(sqlUnlocked, run, j.ID, w.token)
	}
	if w.fault == faultUnlockEarly {
		var ok bool
		if err := j.Tx().QueryRowContext(ctx, sqlUnlockEarly, j.ID).Scan(&ok); err != nil {
			return s, fmt.Errorf("fault: unlock job %d: %w", j.ID, err)
		}
	}
	return s, nil
}

// claim claims job id for run, retrying while the database is unreachable.
// It returns nil once the claim is the run's, or once an overlap with a live
// run was recorded, and errDeadRun when this run's own session has ended.
func (w *workload) claim(id int64, run string, s session) error {
	ctx, cancel := context.WithTimeout(context.Background(), claimPatience)
	defer cancel()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("claim job %d: %w", id, err)
		}
		done, err := w.tryClaim(ctx, id, run, s)
		if done {
			return err // nil, or errDeadRun
		}
		if err != nil {
			w.log.Throttle("claim", "claim job %d: %v (retrying)", id, err)
			if !sleepCtx(ctx, retryPause) {
				return fmt.Errorf("claim job %d: %w", id, err)
			}
		}
	}
}

// tryClaim makes one attempt of claim; done means claim may return err.
func (w *workload) tryClaim(ctx context.Context, id int64, run string, s session) (done bool, err error) {
	var got string
	err = w.marks.QueryRowContext(ctx, sqlClaim, id, run, w.token, s.pid, s.start, s.pmStart).Scan(&got)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	return w.resolve(ctx, id, run, s)
}

// resolve looks at the run holding the claim on job id: it is ours (an
// earlier attempt whose answer was lost), dead (its claim is dropped and the
// caller tries again), or alive: an overlap, recorded, unless this run is
// the dead one (its session ended while it was claiming, and the job has
// rightly moved on): then it returns errDeadRun.
func (w *workload) resolve(ctx context.Context, id int64, run string, s session) (done bool, err error) {
	var holderRun, holderToken string
	var dead, selfDead bool
	err = w.marks.QueryRowContext(ctx, sqlHolder, id, w.token, s.pid, s.start, s.pmStart).
		Scan(&holderRun, &holderToken, &dead, &selfDead)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil // the claim went away: try again
	case err != nil:
		return false, err
	case holderRun == run:
		return true, nil
	case selfDead:
		return true, fmt.Errorf("job %d: %w", id, errDeadRun)
	case dead:
		_, err = w.marks.ExecContext(ctx, sqlClearDead, id, holderRun)
		return false, err
	}
	w.log.Printf("OVERLAP: job %d is being worked by run %s and by run %s", id, holderRun, run)
	_, err = w.marks.ExecContext(ctx, sqlOverlap, run, id, w.token, holderRun, holderToken, s.pid)
	return err == nil, err
}

// unclaim drops run's claim on job id, retrying while the database is
// unreachable.
func (w *workload) unclaim(id int64, run string) {
	ctx, cancel := context.WithTimeout(context.Background(), unclaimPatience)
	defer cancel()
	err := retry(ctx, unclaimPatience, func(ctx context.Context) error {
		_, err := w.marks.ExecContext(ctx, sqlUnclaim, id, run)
		if err != nil {
			w.log.Throttle("unclaim", "drop claim on job %d: %v (retrying)", id, err)
		}
		return err
	})
	if err != nil {
		w.log.Printf("could not drop claim on job %d: %v", id, err)
	}
}

// exec runs a record-keeping statement on the separate pool, retrying it
// for a while; a failure is logged, never the job's.
func (w *workload) exec(query string, args ...any) {
	err := retry(context.Background(), claimPatience, func(ctx context.Context) error {
		_, err := w.marks.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		w.log.Printf("record: %v", err)
	}
}

// jobArg decodes the arguments of a chaos job: [i].
func jobArg(args []byte) (int, error) {
	var a []int
	if err := json.Unmarshal(args, &a); err != nil || len(a) != 1 {
		return 0, fmt.Errorf("chaos job args %q: want [i]", args)
	}
	return a[0], nil
}

// pauseFor is how long the run of job i sleeps: up to 5 ms, and 20 to
// 100 ms for one job in 50, so that kills and terminations land mid-job.
func pauseFor(i int) time.Duration {
	if i%50 == 25 {
		return 20*time.Millisecond + rand.N(80*time.Millisecond)
	}
	return rand.N(5*time.Millisecond + 1)
}

// isInjectedFailure reports whether job i fails on its first run, after
// writing its effect, which the rollback must then undo. Those are jobs of
// the first priority (see priorityOf), so their retry, 4 s later, is not
// all that is left at the end of the run.
func isInjectedFailure(i int) bool {
	return i%100 == 8 || i%100 == 36
}

// injectedFailure makes job i's first run fail: an error for some jobs, a
// panic for others.
func injectedFailure(j *qg.Job, i int) error {
	if j.ErrorCount > 0 || !isInjectedFailure(i) {
		return nil
	}
	if i%100 == 36 {
		panic(fmt.Sprintf("injected panic in job %d: its effect must be rolled back", j.ID))
	}
	return fmt.Errorf("injected failure of job %d: its effect must be rolled back", j.ID)
}
