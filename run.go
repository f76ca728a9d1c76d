package qg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// work runs j's WorkFunc and finishes j: deleted with the work's writes on
// success, its failure recorded otherwise. It returns the event that ended
// the run.
func (w *Worker) work(j *Job) JobEvent {
	call(w.Hooks.Locked, JobEvent{Job: j})
	wf, ok := workFuncFor(w.m, j)
	if !ok {
		err := fmt.Errorf("%w %q: no WorkFunc in the WorkMap", ErrUnknownType, j.Type)
		call(w.Hooks.UnknownType, JobEvent{Job: j, Err: err})
		return w.fail(JobEvent{Job: j, Err: err})
	}
	start := time.Now()
	err := w.run(wf, j)
	e := JobEvent{Job: j, Start: start, Duration: time.Since(start), Err: err}
	if err == nil {
		w.log(slog.LevelDebug, "qg: job worked", append(jobAttrs(j), slog.Duration("duration", e.Duration))...)
		e.Outcome = RunWorked
		call(w.Hooks.Worked, e)
		return e
	}
	if j.isAbandoned() {
		e.Outcome = RunReleased
		return e // a shutdown released it: it runs again elsewhere, unchanged
	}
	if j.cancelRequested.Load() {
		return w.cancelled(e)
	}
	if d, ok := asSnooze(err); ok {
		return w.snooze(e, d)
	}
	return w.fail(e)
}

// cancelled removes the job of run e, whose cancel was requested, after
// rolling back its work: it is not retried.
func (w *Worker) cancelled(e JobEvent) JobEvent {
	j := e.Job
	j.rollback()
	if err := j.removeCancelled(); err != nil {
		logProblem(w.Logger, slog.LevelError, "qg: remove cancelled job", append(jobAttrs(j), slog.Any("error", err))...)
		e.Outcome = RunReleased
		return e
	}
	w.log(slog.LevelInfo, "qg: job cancelled", append(jobAttrs(j), slog.Any("error", e.Err))...)
	e.Outcome = RunCancelled
	return e
}

// snooze puts the job of run e off for d, after rolling back its work; no
// failure is counted.
func (w *Worker) snooze(e JobEvent, d time.Duration) JobEvent {
	j := e.Job
	j.rollback()
	if err := j.snoozeFor(d); err != nil {
		if !w.lockLost(j, e.Err, err) {
			logProblem(w.Logger, slog.LevelError, "qg: snooze job", append(jobAttrs(j), slog.Any("error", err))...)
		}
		e.Outcome = RunReleased // nothing recorded: it runs again
		return e
	}
	w.log(slog.LevelDebug, "qg: job snoozed", append(jobAttrs(j), slog.Duration("snooze", d))...)
	e.Outcome, e.Err = RunSnoozed, nil
	return e
}

// run calls wf in j's transaction (opened by lockForWork) under the job's
// deadline and commits.
func (w *Worker) run(wf WorkFunc, j *Job) error {
	if w.JobTimeout > 0 {
		stop := j.setDeadline(w.JobTimeout)
		defer stop()
	}
	err := callWorkFunc(wf, j)
	if w.JobTimeout > 0 && errors.Is(j.Context().Err(), context.DeadlineExceeded) {
		err = timeoutError(w.JobTimeout, err)
	}
	if err != nil {
		j.rollback()
		return err
	}
	err = j.commit()
	if errors.Is(err, errUnlockAfterCommit) {
		w.log(slog.LevelWarn, "qg: job worked; closing its connection", append(jobAttrs(j), slog.Any("error", err))...)
		return nil
	}
	return err
}

// fail records the failed run e of its job: a retry after the backoff (or
// the time a control error chose), or the job given up. It returns e with
// its outcome.
func (w *Worker) fail(e JobEvent) JobEvent {
	j, d, err := e.Job, e.Duration, e.Err
	j.rollback() // the failure is recorded outside the undone work
	if j.locker != nil && j.txErr != nil {
		// Its transaction never began: not a failure of the job's own.
		w.c.skip(j.ID, time.Second)
		w.log(slog.LevelWarn, "qg: no transaction for the job; it runs again", append(jobAttrs(j), slog.Any("error", j.txErr))...)
		e.Outcome = RunReleased
		return e
	}
	var p *PanicError
	if errors.As(err, &p) {
		e.Panic, e.Stack = p.Value, p.Stack
		call(w.Hooks.Panicked, e)
	}
	msg := errorText(err)
	if limit := j.d.maxErrors(w.MaxErrors); asGiveUp(err) || (limit > 0 && int(j.ErrorCount)+1 >= limit) {
		return w.giveUp(e, msg)
	}
	delay := w.backoff(int(j.ErrorCount) + 1)
	if r, ok := asRetry(err); ok {
		delay = r.after()
	}
	w.c.skip(j.ID, delay) // before the record, which may unlock the job
	if rerr := j.recordFailure(delay, msg); rerr != nil {
		if w.lockLost(j, err, rerr) {
			w.c.unskip(j.ID)
			e.Outcome = RunReleased
			return e
		}
		w.unrecorded(j, delay, "job failure", rerr)
	} else {
		w.c.unskip(j.ID)
	}
	w.log(slog.LevelWarn, "qg: job failed", append(jobAttrs(j), slog.Duration("duration", d), slog.Any("error", err))...)
	e.Outcome = RunFailed
	call(w.Hooks.Failed, e)
	return e
}

// giveUp moves the job of the failed run e to its dead-letter queue with its
// last error msg.
func (w *Worker) giveUp(e JobEvent, msg string) JobEvent {
	j, err := e.Job, e.Err
	delay := w.backoff(int(j.ErrorCount) + 1)
	w.c.skip(j.ID, delay) // before the record, which may unlock the job
	if rerr := j.bury(msg); rerr != nil {
		if w.lockLost(j, err, rerr) {
			w.c.unskip(j.ID)
		} else {
			w.unrecorded(j, delay, "giving up", rerr)
		}
		e.Outcome = RunReleased // nothing recorded: it runs again
		return e
	}
	w.c.unskip(j.ID)
	w.log(slog.LevelError, "qg: job given up", append(jobAttrs(j), slog.Duration("duration", e.Duration),
		slog.String("dead_queue", j.Queue), slog.Any("error", err))...)
	e.Outcome = RunGivenUp
	call(w.Hooks.GivenUp, e)
	return e
}

// lockLost reports whether recording the failure err of a batch job failed
// with rerr because the locker's session had lost the job's lock. The run
// is then as good as abandoned: nothing was recorded, and the job runs
// again, unchanged.
func (w *Worker) lockLost(j *Job, err, rerr error) bool {
	if !errors.Is(rerr, errLockLost) {
		return false
	}
	j.state.CompareAndSwap(jobRunning, jobAbandoned)
	w.log(slog.LevelWarn, "qg: job failed after its lock was lost; failure not recorded",
		append(jobAttrs(j), slog.Any("error", err))...)
	return true
}

// backoff is the configured retry delay for a new error count.
func (w *Worker) backoff(errorCount int) time.Duration {
	if w.Backoff != nil {
		return max(w.Backoff(errorCount), 0)
	}
	return Backoff(errorCount)
}

// setDeadline gives the job's context a deadline d from now and returns the
// function that releases its timer.
func (j *Job) setDeadline(d time.Duration) context.CancelFunc {
	ctx, cancel := context.WithTimeout(j.Context(), d)
	j.ctx = ctx
	return cancel
}
