package qg

import (
	"errors"
	"fmt"
	"time"
)

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

// errorText is err's message, or a placeholder for a nil error.
func errorText(err error) string {
	if err == nil {
		return "qg: job failed (no error given)"
	}
	return err.Error()
}

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

// timeoutError says a job overran its JobTimeout.
func timeoutError(limit time.Duration, err error) error {
	if err == nil {
		return fmt.Errorf("qg: job exceeded its timeout of %v", limit)
	}
	return fmt.Errorf("qg: job exceeded its timeout of %v: %w", limit, err)
}
