package qg

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// What a job's work is: the WorkFunc type, the WorkMap that routes job
// types to WorkFuncs, how one is called, and the control errors a WorkFunc
// returns to choose what happens to its job next.

// WorkFunc works one job. Returning nil finishes the job: a Worker deletes
// it in the job's transaction ([Job.Tx]) and commits. Returning an error
// rolls that transaction back and records the error with [Job.Error]; the
// job runs again after its backoff. A panic counts as an error. [RetryIn],
// [RetryAt] and [GiveUp] wrap an error to choose what happens next.
type WorkFunc func(j *Job) error

// WorkMap routes job types (que_jobs.job_class) to the WorkFuncs that work
// them.
type WorkMap map[string]WorkFunc

// RetryIn returns an error that makes a Worker record err as the job's
// failure and run the job again after d, instead of after the backoff.
func RetryIn(d time.Duration, err error) error {
	return &retryError{delay: max(d, 0), err: err}
}

// RetryAt returns an error that makes a Worker record err as the job's
// failure and run the job again at t (now, if t has passed).
func RetryAt(t time.Time, err error) error {
	return &retryError{at: t, err: err}
}

// GiveUp returns an error that makes a Worker give the job up now, whatever
// its error count: see [WorkerConfig.MaxErrors] for what a given-up job
// becomes.
func GiveUp(err error) error {
	return &giveUpError{err: err}
}

// Snooze returns an error that makes a Worker put the job off for d without
// counting a failure: the WorkFunc's transaction is rolled back, run_at
// moves to now() + d, and error_count and last_error stay as they were
// (River's JobSnooze). [RetryIn] counts a failure, as Que's retry_in does.
// A Snooze wrapped by another error still snoozes.
func Snooze(d time.Duration) error {
	return &snoozeError{delay: max(d, 0)}
}

// snoozeError carries a WorkFunc's snooze.
type snoozeError struct{ delay time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("qg: job snoozed for %v", e.delay) }

// asSnooze unpacks a Snooze.
func asSnooze(err error) (time.Duration, bool) {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.delay, true
	}
	return 0, false
}

// retryError carries a WorkFunc's own retry time.
type retryError struct {
	at    time.Time
	delay time.Duration
	err   error
}

func (e *retryError) Error() string { return errorText(e.err) }
func (e *retryError) Unwrap() error { return e.err }

// after is the delay before the next run.
func (e *retryError) after() time.Duration {
	if e.at.IsZero() {
		return e.delay
	}
	return max(time.Until(e.at), 0)
}

// giveUpError marks a failure that must not be retried.
type giveUpError struct{ err error }

func (e *giveUpError) Error() string { return errorText(e.err) }
func (e *giveUpError) Unwrap() error { return e.err }

// DeadQueue is the queue a given-up job of queue moves to: "qg:dead:" and
// the queue's name. No worker works it unless told to, and it keeps the
// job's row, args and last error for inspection or a retry.
func DeadQueue(queue string) string {
	return deadQueuePrefix + queue
}

const deadQueuePrefix = "qg:dead:"

// asRetry and asGiveUp unpack control errors.
func asRetry(err error) (*retryError, bool) {
	var r *retryError
	return r, errors.As(err, &r)
}

func asGiveUp(err error) bool {
	var g *giveUpError
	return errors.As(err, &g)
}

// callWorkFunc runs wf, turning a panic into a *PanicError and a
// runtime.Goexit into errGoexit. wf runs on a goroutine of its own, which
// is all a Goexit can end: the worker's goroutine lives on.
func callWorkFunc(wf WorkFunc, j *Job) error {
	done := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if r := recover(); r != nil {
				done <- &PanicError{Value: r, Stack: debug.Stack()}
			} else if !returned {
				done <- errGoexit
			}
		}()
		err := wf(j)
		returned = true
		done <- err
	}()
	return <-done
}
